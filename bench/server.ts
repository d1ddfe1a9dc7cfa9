/**
 * The benchmark's FUSE server: a tsfuse loopback in a process of its own,
 * with the same command line, ready line and stop signal as `tsfuse mount`
 * (which mounts.ts can run instead), and the CLI's defaults (attr/entry
 * timeout 1 s, negative 0). It writes the session's counters at exit, so the
 * report can show what reached the server.
 *
 *   node dist/bench/server.js mount SRC MNT --passthrough=off|rw|require --stats-file=FILE
 */
import * as fs from 'node:fs';
import { Loopback } from '../src/fs/loopback';
import { mount } from '../src/fs/mount';
import type { Session } from '../src/kernel/session';

function flag(args: readonly string[], name: string): string | undefined {
  const prefix = `--${name}=`;
  return args.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

async function main(argv: readonly string[]): Promise<void> {
  const [verb, src, mnt] = argv;
  const passthrough = flag(argv, 'passthrough') ?? 'off';
  const statsFile = flag(argv, 'stats-file');
  if (verb !== 'mount' || !src || !mnt || !['off', 'rw', 'require'].includes(passthrough)) {
    throw new Error('usage: server.js mount SRC MNT [--passthrough=off|rw|require] [--stats-file=FILE]');
  }
  const loopback = new Loopback(src, {
    passthrough: passthrough === 'off' ? 'off' : 'rw',
    attrTimeout: 1,
    entryTimeout: 1,
    negativeTimeout: 0,
  });
  // requirePassthrough: mount() also fails when the kernel refuses backing files (where the
  // session supports it; an older mount() ignores the field, and the check below still holds).
  const options: Parameters<typeof mount>[2] & { requirePassthrough?: boolean } = {
    fsname: src,
    subtype: 'tsfuse',
    requirePassthrough: passthrough === 'require',
  };
  const handle = await mount(loopback, mnt, options);
  if (passthrough === 'require' && handle.session.negotiated?.passthrough !== true) {
    await handle.unmount({ lazy: true }).catch(() => undefined);
    throw new Error('--passthrough=require: FUSE passthrough was not negotiated at INIT (see `tsfuse probe`)');
  }
  process.stdout.write(`tsfuse: ${src} mounted on ${mnt} (pid ${process.pid}${passthrough === 'off' ? '' : `, passthrough ${passthrough}`})\n`);

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    // Never a synchronous umount here: umount(8) asks this very process for GETATTR/STATFS.
    handle.unmount({ lazy: false }).catch(() => handle.unmount({ lazy: true }).catch(() => undefined));
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, stop);
  await handle.closed;
  if (statsFile) {
    const stats = handle.session.stats() as ReturnType<Session['stats']> & { backing?: { registered: number } };
    const requests: Record<string, number> = Object.fromEntries(Object.entries(stats.requests).filter(([, n]) => n > 0));
    if (stats.backing?.registered) requests.backingIdsRegistered = stats.backing.registered;
    fs.writeFileSync(statsFile, JSON.stringify(requests, null, 2) + '\n');
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`tsfuse bench server: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
