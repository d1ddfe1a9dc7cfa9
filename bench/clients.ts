/**
 * Concurrent small-file workloads: P client processes, each creating, then
 * reading, then stat-ing files of its own directory. Separate processes, not
 * threads of the driver: the kernel's FUSE queue sees P requests at a time
 * only when P tasks are blocked in the filesystem at once, and a process of
 * its own per client is also how users (make, rsync, a test runner) load it.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { builtFile } from './mounts';
import type { Group, Measured, StepInfo } from './workloads';

export const CLIENT_KINDS = ['auto', 'c', 'node'] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

/** A runnable client: the command before its arguments, and what it is for the report. */
export interface Client {
  argv: readonly string[];
  /** e.g. 'C (cc -O2)', 'Node v20.20.2'. */
  describe: string;
}

export const PHASES = ['create', 'read', 'stat'] as const;
type Phase = (typeof PHASES)[number];

const PHASE_TEXT: Record<Phase, string> = {
  create: 'create+write+close',
  read: 'open+read+close',
  stat: 'stat',
};

/** How a phase is shown in the clients table. */
export function phaseText(workload: string): string {
  const phase = workload.slice(workload.lastIndexOf('.') + 1) as Phase;
  return PHASE_TEXT[phase] ?? workload;
}

/**
 * The client to run: C, compiled now with `cc -O2` into `tmp` (a directory
 * the caller removes), or Node running dist/bench/client.js. 'auto': C where
 * cc works, else Node, with the reason in `fallback`.
 */
export function prepareClient(kind: ClientKind, tmp: string): Client & { fallback?: string } {
  if (kind !== 'node') {
    const source = builtFile(__dirname, '../../bench/client.c', 'client.c');
    const binary = path.join(tmp, 'tsfuse-bench-client');
    const r = spawnSync('cc', ['-O2', '-o', binary, source], { encoding: 'utf8' });
    let why = r.error ? r.error.message : r.status !== 0 ? (r.stderr.trim() || `exit ${r.status ?? r.signal}`) : undefined;
    // Run once without arguments (usage, exit 2): a directory mounted noexec fails here, not mid-run.
    const probe = why === undefined ? spawnSync(binary, [], { encoding: 'utf8' }) : undefined;
    if (probe && probe.status !== 2) why = `${binary} does not run: ${probe.error?.message ?? `exit ${probe.status ?? probe.signal}`}`;
    if (why === undefined) return { argv: [binary], describe: 'C (bench/client.c, cc -O2)' };
    if (kind === 'c') throw new Error(`--client c: cannot compile bench/client.c with cc: ${why}`);
    return { ...nodeClient(), fallback: `cc could not compile bench/client.c (${why}): Node clients instead` };
  }
  return nodeClient();
}

function nodeClient(): Client {
  return { argv: [process.execPath, builtFile(__dirname, 'client.js', '../dist/bench/client.js')], describe: `Node ${process.version} (bench/client.ts)` };
}

/**
 * Runs `phase` in one client per directory, `count` files each, all at once:
 * every client is started and has said "ready" before any is told to go. The
 * time is from the first client's first operation to the last client's last,
 * as the clients measured it (the driver's own scheduling is not in it).
 */
export function runClients(client: Client, phase: Phase, dirs: readonly string[], count: number, size: number): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const children = dirs.map((dir) =>
      spawn(client.argv[0], [...client.argv.slice(1), phase, dir, String(count), String(size)], { stdio: ['pipe', 'pipe', 'pipe'] }));
    const out = children.map(() => '');
    const err = children.map(() => '');
    let ready = 0;
    let exited = 0;
    let failure: string | undefined;
    const giveUp = (why: string): void => {
      failure ??= why;
      // A client still waiting for its go byte sees EOF and exits without doing anything.
      for (const c of children) c.stdin?.end();
    };
    children.forEach((child, i) => {
      // A client that died before reading its go byte: the write fails with EPIPE, its exit says why.
      child.stdin?.on('error', () => undefined);
      child.stdout?.on('data', (d: Buffer) => {
        const before = out[i];
        out[i] += d.toString();
        if (!before.includes('\n') && out[i].startsWith('ready\n') && ++ready === children.length && failure === undefined) {
          for (const c of children) c.stdin?.end('g');
        }
      });
      child.stderr?.on('data', (d: Buffer) => (err[i] = (err[i] + d.toString()).slice(-1000)));
      child.once('error', (e) => giveUp(`client ${i + 1} of ${children.length}: ${e.message}`));
      child.once('close', (code, signal) => {
        if (code !== 0) giveUp(`client ${i + 1} of ${children.length} (${phase}): ${err[i].trim() || `exit ${code ?? signal}`}`);
        if (++exited < children.length) return;
        if (failure !== undefined) return reject(new Error(failure));
        try {
          resolve(span(out, count * children.length));
        } catch (e) {
          reject(e as Error);
        }
      });
    });
  });
}

/** First start to last end over the clients' "<start ns> <end ns>" lines. */
export function span(outputs: readonly string[], ops: number): Measured {
  let first: bigint | undefined;
  let last: bigint | undefined;
  for (const text of outputs) {
    const m = /^ready\n(\d+) (\d+)\n$/.exec(text);
    if (!m) throw new Error(`a client printed ${JSON.stringify(text.slice(0, 200))}, expected "ready" and its times`);
    const [start, end] = [BigInt(m[1]), BigInt(m[2])];
    if (first === undefined || start < first) first = start;
    if (last === undefined || end > last) last = end;
  }
  if (first === undefined || last === undefined || last <= first) throw new Error('the clients reported no time');
  return { seconds: Number(last - first) / 1e9, ops };
}

/**
 * P clients on `total` files of `size` bytes (total / P each, rounded up):
 * steps pP.create, pP.read, pP.stat. Each client has a directory of its own,
 * made before and removed after the timed steps.
 */
export function clientsGroup(clients: number, total: number, size: number, client: Client): Group {
  const name = `p${clients}`;
  const each = Math.ceil(total / clients);
  const ops = each * clients;
  const infos: StepInfo[] = PHASES.map((phase) => ({
    workload: `${name}.${phase}`,
    cold: false,
    bytes: phase === 'stat' ? 0 : ops * size,
    ops,
    op: 'file',
    clients,
    describe: `${clients} client process${clients === 1 ? '' : 'es'} at once, ${each.toLocaleString('en')} files of ${size / 1024} KiB each: ${PHASE_TEXT[phase]}`,
  }));
  return {
    name,
    steps: infos,
    start(target) {
      const root = path.join(target.dir, name);
      const dirs = Array.from({ length: clients }, (_, i) => path.join(root, `c${i}`));
      return {
        setup() {
          fs.mkdirSync(root);
          for (const d of dirs) fs.mkdirSync(d);
        },
        steps: infos.map((info, i) => ({ ...info, run: () => runClients(client, PHASES[i], dirs, each, size) })),
        cleanup: () => fs.rmSync(root, { recursive: true, force: true }),
      };
    },
  };
}
