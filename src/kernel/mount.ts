// Mounting and unmounting as root without libfuse: mount(8) is given the /dev/fuse fd as its
// fd 3 and mounts with `-o fd=3,...`; umount(8) takes it down. Measured on Linux 6.18: a mount
// takes ~5 ms; fd, rootmode, user_id and group_id are all required (else exit 32); without -i
// mount(8) hands the job to /sbin/mount.fuse3, which takes the source for a program and fails.
//
// Both commands run off the thread that serves requests (see run()): umount(8) sends GETATTR and
// STATFS to the filesystem, and that thread must stay free to answer.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { connectionId } from './device';
import { errnoCodeOf, MountError } from './errors';

/** Mount options the kernel's fuse filesystem and mount(8) take, typed. */
export interface MountOptions {
  /** The source column of /proc/mounts (fsname). Default 'tsfuse'. */
  fsname?: string;
  /** The type shows as fuse.SUBTYPE. Default 'tsfuse'. */
  subtype?: string;
  /** allow_other: users other than the mount owner may use the mount. */
  allowOther?: boolean;
  /** default_permissions: the kernel checks permissions from the attributes itself. */
  defaultPermissions?: boolean;
  /** ro. */
  readOnly?: boolean;
  /** max_read: largest READ the kernel sends, in bytes. */
  maxRead?: number;
  /** user_id: the mount's owner (who may use it without allow_other). Default: our euid. */
  userId?: number;
  /** group_id. Default: our egid. */
  groupId?: number;
  /** rootmode: the root inode's file type bits (octal on the wire). Default 0o40000, a directory. */
  rootMode?: number;
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const VALID_ROOT_TYPES = new Set([0o010000, 0o020000, S_IFDIR, 0o060000, 0o100000, 0o120000, 0o140000]);
const ID_MAX = 0xfffffffe; // (u32)-1 is the kernel's "invalid id"
/**
 * mount(8) splits -o on commas and /proc/mounts on whitespace; names may hold neither, and may
 * not start with '-', which mount(8) would take for an option.
 */
const NAME_RE = /^[^\s,=\\-][^\s,=\\]*$/;

/** Checks `options` and fills in the defaults; throws MountError('EINVAL') naming the bad option. */
export function resolveMountOptions(mountpoint: string, options: MountOptions = {}): Required<Omit<MountOptions, 'maxRead'>> & { maxRead?: number } {
  const bad = (what: string): never => {
    throw new MountError('EINVAL', mountpoint, `invalid mount option ${what}`);
  };
  const name = (key: 'fsname' | 'subtype', value: string | undefined): string => {
    if (value === undefined) return 'tsfuse';
    if (typeof value !== 'string' || !NAME_RE.test(value)) bad(`${key}=${JSON.stringify(value)}: needs a non-empty name without spaces, commas, '=' or '\\', not starting with '-'`);
    return value;
  };
  const id = (key: 'userId' | 'groupId', value: number | undefined, dflt: number): number => {
    const v = value ?? dflt;
    if (!Number.isInteger(v) || v < 0 || v > ID_MAX) bad(`${key}=${v}: needs an integer 0..${ID_MAX}`);
    return v;
  };
  const flag = (key: keyof MountOptions): boolean => {
    const v = options[key];
    if (v !== undefined && typeof v !== 'boolean') bad(`${key}=${JSON.stringify(v)}: needs true or false`);
    return v === true;
  };
  const rootMode = options.rootMode ?? S_IFDIR;
  if (!Number.isInteger(rootMode) || rootMode < 0 || rootMode > 0o177777 || !VALID_ROOT_TYPES.has(rootMode & S_IFMT)) {
    bad(`rootMode=0o${Number(rootMode).toString(8)}: needs file type bits (e.g. 0o40000 for a directory)`);
  }
  if (options.maxRead !== undefined && !(Number.isInteger(options.maxRead) && options.maxRead > 0 && options.maxRead <= 0xffffffff)) {
    bad(`maxRead=${options.maxRead}: needs a positive integer number of bytes`);
  }
  return {
    fsname: name('fsname', options.fsname),
    subtype: name('subtype', options.subtype),
    allowOther: flag('allowOther'),
    defaultPermissions: flag('defaultPermissions'),
    readOnly: flag('readOnly'),
    maxRead: options.maxRead,
    userId: id('userId', options.userId, process.geteuid?.() ?? 0),
    groupId: id('groupId', options.groupId, process.getegid?.() ?? 0),
    rootMode,
  };
}

/** The mount(8) argument list that mounts the device at child fd `childFd`. */
export function mountArgs(mountpoint: string, options: MountOptions = {}, childFd = 3): string[] {
  const o = resolveMountOptions(mountpoint, options);
  const opts = [`fd=${childFd}`, `rootmode=${o.rootMode.toString(8)}`, `user_id=${o.userId}`, `group_id=${o.groupId}`];
  if (o.allowOther) opts.push('allow_other');
  if (o.defaultPermissions) opts.push('default_permissions');
  if (o.maxRead !== undefined) opts.push(`max_read=${o.maxRead}`);
  if (o.readOnly) opts.push('ro');
  return ['-i', '-t', `fuse.${o.subtype}`, '-o', opts.join(','), o.fsname, path.resolve(mountpoint)];
}

/**
 * Refuses a mountpoint that cannot take a FUSE mount, saying why: missing, not a directory (for
 * a directory root), a dead FUSE mount — whose server exited, so every access fails with
 * ENOTCONN, and mounting on it would silently stack on top of the corpse — or a live one, which
 * the new mount would hide while its server goes on serving nobody (the CLI refuses it with the
 * same mountinfo lookup, connectionId).
 */
export async function checkMountpoint(mountpoint: string, rootMode = S_IFDIR): Promise<void> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(mountpoint);
  } catch (err) {
    const code = errnoCodeOf(err) ?? 'EIO';
    if (code === 'ENOTCONN') {
      throw new MountError(code, mountpoint, `${mountpoint} is a dead FUSE mount (its server is gone): clear it with \`umount -l ${mountpoint}\`, then mount again`, { cause: err });
    }
    if (code === 'ENOENT') {
      throw new MountError(code, mountpoint, `mountpoint ${mountpoint} does not exist: create it first (mkdir -p ${mountpoint})`, { cause: err });
    }
    throw new MountError(code, mountpoint, `cannot use mountpoint ${mountpoint}: ${(err as Error).message}`, { cause: err });
  }
  if ((rootMode & S_IFMT) === S_IFDIR && !st.isDirectory()) {
    throw new MountError('ENOTDIR', mountpoint, `mountpoint ${mountpoint} is not a directory`);
  }
  if (connectionId(await fs.promises.realpath(mountpoint)) !== undefined) {
    throw new MountError('EBUSY', mountpoint, `${mountpoint} is already a FUSE mount: unmount it first (umount ${mountpoint}), or mount somewhere else`);
  }
}

/**
 * Mounting with `-o fd=N` is root's: a non-root mount needs fusermount3, whose fd comes back
 * over a unix socket that Node's child_process cannot receive: with stdio 'pipe' it drops
 * the SCM_RIGHTS message, with 'ipc' it aborts (Node 20).
 */
export function requireRoot(mountpoint: string): void {
  const uid = process.geteuid?.() ?? 0;
  if (uid !== 0) {
    throw new MountError('EPERM', mountpoint, `mounting ${mountpoint} needs root: tsfuse mounts with mount(8) -o fd=N, which only root may do (running as uid ${uid})`);
  }
}

/** Whether `path` is a FUSE mount whose server is gone (stat fails with ENOTCONN). */
export async function isDeadMount(path: string): Promise<boolean> {
  try {
    await fs.promises.stat(path);
    return false;
  } catch (err) {
    return errnoCodeOf(err) === 'ENOTCONN';
  }
}

/**
 * Mounts the FUSE device `fd` on `mountpoint`. Resolves once mount(8) succeeded; the kernel's
 * INIT is then waiting to be read from `fd`. Needs root (requireRoot).
 */
export async function mountDevice(fd: number, mountpoint: string, options: MountOptions = {}): Promise<void> {
  const args = mountArgs(mountpoint, options);
  requireRoot(mountpoint);
  await checkMountpoint(mountpoint, options.rootMode);
  const r = await run('mount', args, fd);
  if (r.code !== 0) {
    const why = r.spawnError ?? (r.stderr.trim() || `exit status ${r.code ?? r.signal}`);
    throw new MountError(r.spawnError !== undefined ? 'ENOENT' : 'EIO', mountpoint, `mount(8) failed on ${mountpoint}: ${why}`);
  }
}

/**
 * Unmounts `mountpoint` with umount(8). A mount with open files is busy (MountError EBUSY)
 * unless `lazy`, which detaches it now and lets the kernel finish when the last file closes.
 * The server then reads ENODEV and its session ends.
 */
export async function unmount(mountpoint: string, options: { lazy?: boolean } = {}): Promise<void> {
  const target = path.resolve(mountpoint); // never an argument that starts with '-'
  const r = await run('umount', options.lazy ? ['-l', target] : [target]);
  if (r.code === 0) return;
  const msg = r.spawnError ?? (r.stderr.trim() || `exit status ${r.code ?? r.signal}`);
  if (/busy/i.test(msg)) {
    throw new MountError('EBUSY', mountpoint, `${mountpoint} is busy (files are open on it): close them, or unmount lazily ({ lazy: true } / umount -l)`);
  }
  if (/not mounted|no mount point/i.test(msg)) {
    throw new MountError('EINVAL', mountpoint, `${mountpoint} is not mounted`);
  }
  if (/no such file|not found/i.test(msg) && r.spawnError === undefined) {
    throw new MountError('ENOENT', mountpoint, `cannot unmount ${mountpoint}: ${msg}`);
  }
  throw new MountError('EIO', mountpoint, `umount(8) failed on ${mountpoint}: ${msg}`);
}

interface RunResult {
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
const { cmd, args, fd } = workerData;
const stdio = ['ignore', 'ignore', 'pipe'];
if (fd !== undefined) stdio.push(fd);
// LC_ALL=C: the messages are matched ("target is busy").
const r = spawnSync(cmd, args, { stdio, env: { ...process.env, LC_ALL: 'C' }, encoding: 'utf8' });
parentPort.postMessage({ code: r.status, signal: r.signal, stderr: r.stderr || '', spawnError: r.error ? cmd + ': ' + r.error.message : undefined });
`;

/** Runs a command (optionally with `fd` as its fd 3) without blocking this thread, see RUNNER. */
function run(cmd: string, args: string[], fd?: number): Promise<RunResult> {
  return new Promise((resolve) => {
    const worker = new Worker(RUNNER, { eval: true, workerData: { cmd, args, fd } });
    let result: RunResult | undefined;
    worker.once('message', (r: RunResult) => (result = r));
    worker.once('error', (err) => (result = { code: null, signal: null, stderr: '', spawnError: `${cmd}: ${err.message}` }));
    worker.once('exit', () => resolve(result ?? { code: null, signal: null, stderr: '', spawnError: `${cmd}: the runner thread exited` }));
  });
}
