// Running mount(8), umount(8) and fusermount3 from the process that serves FUSE requests.
import { Worker } from 'node:worker_threads';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** Set when the program could not be started at all. */
  spawnError?: string;
}

// The command runs from a worker thread. libuv's spawn blocks the calling thread until the
// child has exec'd, and exec closes the child's inherited copies of our O_CLOEXEC fds; for a
// file on one of this process's own mounts, that close sends FLUSH and waits for the answer.
// Spawned from the thread that serves the mount, that is a deadlock (seen: the test process
// holding a file of its mount open and calling unmount()), so that thread must never spawn.
const RUNNER = `
const { parentPort, workerData } = require('node:worker_threads');
const { spawnSync } = require('node:child_process');
const { cmd, args, fd, env } = workerData;
const stdio = ['ignore', 'ignore', 'pipe'];
if (fd !== undefined) stdio.push(fd);
// LC_ALL=C: the messages are matched ("target is busy").
const r = spawnSync(cmd, args, { stdio, env: { ...process.env, ...env, LC_ALL: 'C' }, encoding: 'utf8' });
parentPort.postMessage({ code: r.status, signal: r.signal, stderr: r.stderr || '', spawnError: r.error ? cmd + ': ' + r.error.message : undefined });
`;

/**
 * Runs a command to its end (optionally with `fd` as its fd 3, and `env` added to ours) without
 * blocking this thread, see RUNNER.
 */
export function run(cmd: string, args: string[], fd?: number, env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const worker = new Worker(RUNNER, { eval: true, workerData: { cmd, args, fd, env } });
    let result: RunResult | undefined;
    worker.once('message', (r: RunResult) => (result = r));
    worker.once('error', (err) => (result = { code: null, signal: null, stderr: '', spawnError: `${cmd}: ${err.message}` }));
    worker.once('exit', () => resolve(result ?? { code: null, signal: null, stderr: '', spawnError: `${cmd}: the runner thread exited` }));
  });
}
