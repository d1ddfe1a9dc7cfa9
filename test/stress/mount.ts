// Mounting for `npm run stress` (outside tap): the loopback server of test/fixtures/loopback in a
// child process, and everything undone when this process exits, normally or on a signal —
// lazy unmounts, the server killed by pid, temp directories removed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync, type ChildProcess } from 'node:child_process';
import type { LoopbackOptions } from '../../src/fs/loopback';
import { startLoopbackServer } from '../fixtures/loopback/start';
import { detach, detachAllSync, makeTempDir } from '../helpers/tmp';

const cleanups: (() => void)[] = [];

function cleanupAll(): void {
  for (const f of cleanups.splice(0).reverse()) {
    try {
      f();
    } catch {
      // keep going: the rest must be undone too
    }
  }
}
process.on('exit', cleanupAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => process.exit(130));

/** A temporary directory, removed at exit after what is mounted in it is detached. */
export function tempDir(prefix = 'tsfuse-stress-'): string {
  const dir = makeTempDir(prefix);
  cleanups.push(() => {
    // In an exit handler nothing async runs any more; the servers are child processes, so a
    // blocking umount(8) cannot wait on this one.
    detachAllSync(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Mounts a tmpfs of `size` on `dir` (inside a tempDir, whose cleanup detaches it). */
export function tmpfs(dir: string, size: string): boolean {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tsfuse-stress', dir]);
  return r.status === 0;
}

export interface StressMount {
  src: string;
  mnt: string;
  server: ChildProcess;
  stats(): Promise<any>;
  close(): Promise<void>;
}

/** `threads` > 1: the threaded loopback (src/fs/loopback/threaded.ts). */
export async function mountLoopback(base: string, options: LoopbackOptions, threads = 1): Promise<StressMount> {
  const src = path.join(base, 'src');
  const mnt = path.join(base, 'mnt');
  fs.mkdirSync(src, { recursive: true });
  fs.mkdirSync(mnt, { recursive: true });
  let server: ChildProcess | undefined;
  const kill = (): void => {
    spawnSync('umount', ['-l', mnt]);
    if (server !== undefined && server.exitCode === null && server.signalCode === null && server.pid !== undefined) {
      process.kill(server.pid, 'SIGKILL');
    }
  };
  const started = await startLoopbackServer(src, mnt, options, 200000, (child) => {
    server = child;
    cleanups.push(kill);
  }, threads);
  const child = started.server;
  return {
    src,
    mnt,
    server: child,
    stats: started.stats,
    close: async () => {
      await detach(mnt);
      child.stdin!.end();
      const exited = new Promise((r) => child.once('exit', r));
      const timer = setTimeout(kill, 5000);
      if (child.exitCode === null && child.signalCode === null) await exited;
      clearTimeout(timer);
    },
  };
}

/** The server's resident memory in KiB (VmRSS). */
export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

export function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}
