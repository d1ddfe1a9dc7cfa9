// Mounting in tests, with the cleanup always attached: every mount made here is unmounted in
// t.teardown (lazily, as a fallback), every server child is killed by pid, every temp dir is
// removed, also when the test failed halfway. Unmounting is never synchronous: the process
// serving a mount must stay free to answer what umount(8) asks.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Test } from 'tap';
import type { Filesystem, ThreadedFilesystem } from '../../src/fs/api';
import { connectionId } from '../../src/kernel/device';
import { mount, type MountHandle, type MountOptions } from '../../src/fs/mount';
import { lineReader } from './child';
import { detach, tempDir } from './tmp';

/** Runs a command without blocking this process; resolves with how it ended. */
export function run(cmd: string, args: string[], options: { input?: string } = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    if (options.input !== undefined) {
      child.stdin!.on('error', () => {}); // a child that exits without reading: EPIPE
      child.stdin!.end(options.input);
    }
  });
}

export { fuseMountsUnder } from './tmp';

/** A temporary directory holding an empty `mnt`, removed at teardown after its mounts are detached. */
export function tempMountpoint(t: Test): { dir: string; mnt: string } {
  const dir = tempDir(t, 'tsfuse-test-', { mode: 0o755 }); // tests run commands as other users too
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(mnt);
  return { dir, mnt };
}

/** A dead FUSE mount (server gone, ENOTCONN) on `mnt` is detached, so a new mount does not stack on it. */
export async function clearDeadMount(mnt: string): Promise<void> {
  try {
    await fs.promises.stat(mnt);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTCONN') await detach(mnt);
  }
}

/**
 * Mounts `filesystem` in this process. Use the mount with async fs calls and child processes
 * only: a synchronous call would block the loop that has to answer it.
 */
export async function mountHere(t: Test, filesystem: Filesystem | ThreadedFilesystem, options: MountOptions = {}): Promise<MountHandle & { dir: string }> {
  const { dir, mnt } = tempMountpoint(t);
  await clearDeadMount(mnt);
  const handle = await mount(filesystem, mnt, options);
  t.teardown(async () => {
    await handle.unmount({ lazy: true }).catch(() => {});
    // Open files keep a lazily unmounted session alive; abort rather than hang the teardown.
    const timer = setTimeout(() => void handle.abort(), 5000);
    await handle.closed;
    clearTimeout(timer);
  });
  return Object.assign(handle, { dir });
}

const SERVE = path.join(__dirname, 'serve-memfs.ts');

export interface ChildMount {
  dir: string;
  mnt: string;
  server: ChildProcess;
  /** Sends one line to the server (see serve-memfs.ts) and resolves with its answer line. */
  command(line: string): Promise<string>;
}

/**
 * Mounts the sample memfs (helpers/memfs.ts) from a child process, for tests that kill the
 * server or that use the mount with synchronous calls. Teardown kills the child by pid and
 * detaches what it left, dead or alive.
 */
export async function mountInChild(t: Test, args: { timeout?: number } = {}): Promise<ChildMount> {
  const { dir, mnt } = tempMountpoint(t);
  await clearDeadMount(mnt);
  const server = spawn(process.execPath, [...process.execArgv, SERVE, mnt, JSON.stringify(args)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.teardown(async () => {
    if (server.exitCode === null && server.signalCode === null && server.pid !== undefined) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      process.kill(server.pid, 'SIGKILL');
      await exited;
    }
    // What it left mounted, dead or alive, tempMountpoint's teardown detaches next.
  });
  const nextLine = lineReader(server, 'memfs server');
  const ready = await nextLine();
  if (ready !== 'ready') throw new Error(`memfs server: ${ready}`);
  return {
    dir,
    mnt,
    server,
    command: (line) => {
      server.stdin!.write(line + '\n');
      return nextLine();
    },
  };
}

/**
 * For a test that could deadlock its own server (holding files of its mount open): after
 * `seconds`, a separate process aborts the mount's FUSE connection through fusectl, so that a
 * regression fails the test instead of leaving processes stuck in the kernel. Killed by pid at
 * teardown.
 */
export function watchdog(t: Test, mountpoint: string, seconds = 30): void {
  const id = connectionId(mountpoint);
  if (id === undefined) throw new Error(`no FUSE mount at ${mountpoint}`);
  const ctl = '/sys/fs/fuse/connections';
  const script = `sleep ${seconds}; mountpoint -q ${ctl} || mount -t fusectl none ${ctl}; echo 1 > ${ctl}/${id}/abort`;
  const dog = spawn('sh', ['-c', script], { stdio: 'ignore', detached: true });
  dog.unref();
  t.teardown(() => {
    if (dog.pid !== undefined && dog.exitCode === null) process.kill(-dog.pid, 'SIGKILL');
  });
}
