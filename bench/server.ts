/**
 * The benchmark's FUSE server: a tsfuse loopback in a process of its own,
 * with the same command line, ready line and stop signal as `tsfuse mount`
 * (which mounts.ts can run instead), and the CLI's defaults (attr/entry
 * timeout 1 s, negative 0). It writes the session's counters at exit, so the
 * report can show what reached the server.
 *
 *   node dist/bench/server.js mount SRC MNT [--passthrough=off|rw|require] [--stats-file=FILE]
 *                                           [--entry-timeout=S] [--attr-timeout=S] [--threads=N]
 *                                           [--io-uring=off|on|require]
 *
 * Flags are spelled as `tsfuse mount` spells them, always as --name=value: a
 * flag the bench passes through (index.ts, serverArgs) then means the same to
 * both servers. A new one is a row of FLAGS.
 */
import * as fs from 'node:fs';
import { Loopback, threadedLoopback, type LoopbackOptions } from '../src/fs/loopback';
import { mount } from '../src/fs/mount';

const seconds = (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new Error(`expected seconds ≥ 0, got '${v}'`);
  return n;
};
const FLAGS = {
  passthrough: (v: string): 'off' | 'rw' | 'require' => {
    if (v !== 'off' && v !== 'rw' && v !== 'require') throw new Error(`expected off|rw|require, got '${v}'`);
    return v;
  },
  'stats-file': (v: string): string => v,
  'entry-timeout': seconds,
  'attr-timeout': seconds,
  'io-uring': (v: string): 'off' | 'on' | 'require' => {
    if (v !== 'off' && v !== 'on' && v !== 'require') throw new Error(`expected off|on|require, got '${v}'`);
    return v;
  },
  threads: (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < 1 || n > 256) throw new Error(`expected a whole number from 1 to 256, got '${v}'`);
    return n;
  },
};
type Flags = { [K in keyof typeof FLAGS]?: ReturnType<(typeof FLAGS)[K]> };

const USAGE = `usage: server.js mount SRC MNT ${Object.keys(FLAGS).map((f) => `[--${f}=…]`).join(' ')}`;

function parseFlags(args: readonly string[]): Flags {
  const out: Record<string, unknown> = {};
  for (const arg of args) {
    const m = /^--([a-z-]+)=(.*)$/s.exec(arg);
    const parse = m ? (FLAGS as Record<string, (v: string) => unknown>)[m[1]] : undefined;
    if (!m || !parse) throw new Error(`unknown argument '${arg}'; ${USAGE}`);
    try {
      out[m[1]] = parse(m[2]);
    } catch (err) {
      throw new Error(`--${m[1]}: ${(err as Error).message}`);
    }
  }
  return out as Flags;
}

async function main(argv: readonly string[]): Promise<void> {
  const [verb, src, mnt, ...rest] = argv;
  if (verb !== 'mount' || !src || !mnt) throw new Error(USAGE);
  const flags = parseFlags(rest);
  const passthrough = flags.passthrough ?? 'off';
  const loopbackOptions: LoopbackOptions = {
    passthrough: passthrough === 'off' ? 'off' : 'rw',
    attrTimeout: flags['attr-timeout'] ?? 1,
    entryTimeout: flags['entry-timeout'] ?? 1,
    negativeTimeout: 0,
  };
  const threads = flags.threads ?? 1;
  const filesystem = threads > 1 ? threadedLoopback(src, loopbackOptions).filesystem : new Loopback(src, loopbackOptions);
  // requirePassthrough: mount() also fails when the kernel refuses backing files (where the
  // session supports it; an older mount() ignores the field, and the check below still holds).
  const options: Parameters<typeof mount>[2] & { requirePassthrough?: boolean } = {
    fsname: src,
    subtype: 'tsfuse',
    requirePassthrough: passthrough === 'require',
    threads,
    ioUring: flags['io-uring'] === 'require' ? 'require' : flags['io-uring'] === 'on',
  };
  const handle = await mount(filesystem, mnt, options);
  if (passthrough === 'require' && handle.negotiated?.passthrough !== true) {
    await handle.unmount({ lazy: true }).catch(() => undefined);
    throw new Error('--passthrough=require: FUSE passthrough was not negotiated at INIT (see `tsfuse probe`)');
  }
  process.stdout.write(`tsfuse: ${src} mounted on ${mnt} (pid ${process.pid}${passthrough === 'off' ? '' : `, passthrough ${passthrough}`}${threads > 1 ? `, ${threads} threads` : ''}${(await handle.stats()).ioUring?.active ? ', io_uring' : ''})\n`);

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    // Never a synchronous umount here: umount(8) asks this very process for GETATTR/STATFS.
    handle.unmount({ lazy: false }).catch(() => handle.unmount({ lazy: true }).catch(() => undefined));
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, stop);
  await handle.closed;
  const statsFile = flags['stats-file'];
  if (statsFile) {
    const stats = await handle.stats(); // summed over the serving threads
    const requests: Record<string, number> = Object.fromEntries(Object.entries(stats.requests).filter(([, n]) => n > 0));
    // Not requests: kept apart so that no table counts them as an opcode (mounts.ts, readStats).
    const counters: Record<string, number> = {};
    const b = stats.backing;
    if (b.registered) counters['backing ids registered'] = b.registered;
    if (b.failed) counters['backing ids refused'] = b.failed;
    if (b.live) counters['backing ids still registered at exit'] = b.live;
    if (stats.ioUring?.requests) counters['requests through io_uring'] = stats.ioUring.requests;
    fs.writeFileSync(statsFile, JSON.stringify({ requests, counters }, null, 2) + '\n');
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`tsfuse bench server: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
