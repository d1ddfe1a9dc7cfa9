// Mounting and unmounting without libfuse. Two routes:
// - root: mount(8) is given the /dev/fuse fd as its fd 3 and mounts with `-o fd=3,...`; umount(8)
//   takes it down. Measured on Linux 6.18: a mount takes ~5 ms; fd, rootmode, user_id and
//   group_id are all required (else exit 32); without -i mount(8) hands the job to
//   /sbin/mount.fuse3, which takes the source for a program and fails.
// - fusermount3 (fusermount.ts): everyone else, and root when it asks for it.
// auto_unmount, on either route, is watchdog.ts.
//
// Both commands run off the thread that serves requests (see run()): umount(8) sends GETATTR and
// STATFS to the filesystem, and that thread must stay free to answer.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { connectionId, openDevice } from './device';
import { errnoCodeOf, MountError } from './errors';
import { cleanStderr, findFusermount3, fusermountMount } from './fusermount';
import { run } from './run';
import { startWatchdog } from './watchdog';

/** Mount options the kernel's fuse filesystem and mount(8) take, typed. */
export interface MountOptions {
  /** The source column of /proc/mounts (fsname). Default 'tsfuse'. */
  fsname?: string;
  /** The type shows as fuse.SUBTYPE. Default 'tsfuse'. */
  subtype?: string;
  /** allow_other: users other than the mount owner may use the mount. */
  allowOther?: boolean;
  /**
   * allow_root: the owner and root may use the mount, nobody else. The kernel knows only
   * allow_other, so the mount gets that and the server refuses other users (EACCES), as libfuse.
   */
  allowRoot?: boolean;
  /** default_permissions: the kernel checks permissions from the attributes itself. */
  defaultPermissions?: boolean;
  /** ro. */
  readOnly?: boolean;
  /** suid: honour setuid/setgid bits. Default false (nosuid), as libfuse mounts. */
  suid?: boolean;
  /** dev: allow device nodes to be used. Default false (nodev), as libfuse mounts. */
  dev?: boolean;
  /** noexec: no program may be executed from the mount. */
  noexec?: boolean;
  /** How access times are updated. Default: the kernel's (relatime). */
  atime?: 'noatime' | 'relatime' | 'strictatime';
  /**
   * auto_unmount: when the serving process dies, even by SIGKILL, the mount goes away instead of
   * answering ENOTCONN until someone unmounts it (a watchdog process per mount, watchdog.ts).
   */
  autoUnmount?: boolean;
  /**
   * Which route mounts: 'mount' (mount(8) -o fd=N, root only), 'fusermount3' (the setuid
   * helper of package fuse3; anyone), or 'auto' (default): mount(8) as root, fusermount3
   * otherwise.
   */
  via?: 'auto' | 'mount' | 'fusermount3';
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

export type ResolvedMountOptions = Required<Omit<MountOptions, 'maxRead' | 'atime' | 'via'>> & {
  maxRead?: number;
  atime?: MountOptions['atime'];
  via: 'mount' | 'fusermount3';
};

const ATIMES = ['noatime', 'relatime', 'strictatime'];

/** Checks `options` and fills in the defaults; throws MountError('EINVAL') naming the bad option. */
export function resolveMountOptions(mountpoint: string, options: MountOptions = {}): ResolvedMountOptions {
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
  if (options.atime !== undefined && !ATIMES.includes(options.atime)) bad(`atime=${JSON.stringify(options.atime)}: needs one of ${ATIMES.join(', ')}`);
  if (options.via !== undefined && !['auto', 'mount', 'fusermount3'].includes(options.via)) bad(`via=${JSON.stringify(options.via)}: needs auto, mount or fusermount3`);
  const autoUnmount = flag('autoUnmount');
  const root = (process.geteuid?.() ?? 0) === 0;
  const via = options.via === 'mount' || options.via === 'fusermount3' ? options.via : root ? 'mount' : 'fusermount3';
  return {
    fsname: name('fsname', options.fsname),
    subtype: name('subtype', options.subtype),
    allowOther: flag('allowOther'),
    allowRoot: flag('allowRoot'),
    defaultPermissions: flag('defaultPermissions'),
    readOnly: flag('readOnly'),
    suid: flag('suid'),
    dev: flag('dev'),
    noexec: flag('noexec'),
    atime: options.atime,
    autoUnmount,
    via,
    maxRead: options.maxRead,
    userId: id('userId', options.userId, process.geteuid?.() ?? 0),
    groupId: id('groupId', options.groupId, process.getegid?.() ?? 0),
    rootMode,
  };
}

/** The options both routes pass on: the kernel's own and the generic mount flags. */
function commonOptions(o: ResolvedMountOptions): string[] {
  const opts: string[] = [];
  if (o.allowOther || o.allowRoot) opts.push('allow_other');
  if (o.defaultPermissions) opts.push('default_permissions');
  if (o.maxRead !== undefined) opts.push(`max_read=${o.maxRead}`);
  if (o.readOnly) opts.push('ro');
  // libfuse's default: a mirror readable by others must not hand them setuid files or devices.
  opts.push(o.suid ? 'suid' : 'nosuid', o.dev ? 'dev' : 'nodev');
  if (o.noexec) opts.push('noexec');
  if (o.atime !== undefined) opts.push(o.atime);
  return opts;
}

/** The mount(8) argument list that mounts the device at child fd `childFd`. */
export function mountArgs(mountpoint: string, options: MountOptions = {}, childFd = 3): string[] {
  const o = resolveMountOptions(mountpoint, options);
  const opts = [`fd=${childFd}`, `rootmode=${o.rootMode.toString(8)}`, `user_id=${o.userId}`, `group_id=${o.groupId}`, ...commonOptions(o)];
  return ['-i', '-t', `fuse.${o.subtype}`, '-o', opts.join(','), o.fsname, path.resolve(mountpoint)];
}

/**
 * fusermount3's -o list. It sets fd, rootmode, user_id and group_id itself (from the caller and
 * the mountpoint), and for a user adds nosuid,nodev whatever is asked.
 */
export function fusermountOptions(mountpoint: string, options: MountOptions = {}): string {
  const o = resolveMountOptions(mountpoint, options);
  return [`fsname=${o.fsname}`, `subtype=${o.subtype}`, ...commonOptions(o)].join(',');
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

/** Mounting with mount(8) `-o fd=N` is root's; anyone else goes through fusermount3. */
export function requireRoot(mountpoint: string): void {
  const uid = process.geteuid?.() ?? 0;
  if (uid !== 0) {
    throw new MountError('EPERM', mountpoint, `mounting ${mountpoint} with mount(8) needs root (running as uid ${uid}); without root, mount through fusermount3 (package fuse3)`);
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

export interface MountedDevice {
  /** The mounted /dev/fuse fd; the kernel's INIT is waiting on it. */
  fd: number;
  /** With auto_unmount: the watchdog's socket; releaseWatchdog() it once unmounted. */
  watch?: number;
}

/**
 * Mounts a new FUSE connection on `mountpoint` by the route the options choose (see `via`) and
 * returns its device fd. Resolves once mounted; the kernel's INIT is then waiting on the fd.
 */
export async function mountFuse(mountpoint: string, options: MountOptions = {}): Promise<MountedDevice> {
  const o = resolveMountOptions(mountpoint, options);
  await checkMountpoint(mountpoint, o.rootMode);
  let fd: number;
  if (o.via === 'fusermount3') {
    fd = await fusermountMount(mountpoint, fusermountOptions(mountpoint, options));
  } else {
    fd = openDevice();
    try {
      await mountDevice(fd, mountpoint, options);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }
  if (!o.autoUnmount) return { fd };
  try {
    return { fd, watch: await startWatchdog(mountpoint) };
  } catch (err) {
    fs.closeSync(fd);
    await unmount(mountpoint, { lazy: true }).catch(() => {});
    throw err;
  }
}

/**
 * Unmounts `mountpoint`: with umount(8) as root, else with `fusermount3 -u` (which checks that
 * the caller owns the mount). A mount with open files is busy (MountError EBUSY)
 * unless `lazy`, which detaches it now and lets the kernel finish when the last file closes.
 * The server then reads ENODEV and its session ends.
 */
export async function unmount(mountpoint: string, options: { lazy?: boolean } = {}): Promise<void> {
  const target = path.resolve(mountpoint); // never an argument that starts with '-'
  const root = (process.geteuid?.() ?? 0) === 0;
  const helper = root ? 'umount' : findFusermount3();
  if (helper === undefined) {
    throw new MountError('ENOENT', mountpoint, `unmounting ${mountpoint} without root needs fusermount3, which is not installed (Debian/Ubuntu: apt-get install fuse3)`);
  }
  const r = root
    ? await run(helper, options.lazy ? ['-l', target] : [target])
    : await run(helper, ['-u', ...(options.lazy ? ['-z'] : []), '--', target]);
  if (r.code === 0) return;
  const msg = r.spawnError ?? (cleanStderr(r.stderr) || `exit status ${r.code ?? r.signal}`);
  if (/not found in \/etc\/mtab/.test(msg)) {
    throw new MountError('EINVAL', mountpoint, `${mountpoint} is not mounted (or not by this user)`);
  }
  if (/busy/i.test(msg)) {
    throw new MountError('EBUSY', mountpoint, `${mountpoint} is busy (files are open on it): close them, or unmount lazily ({ lazy: true } / umount -l)`);
  }
  if (/not mounted|no mount point/i.test(msg)) {
    throw new MountError('EINVAL', mountpoint, `${mountpoint} is not mounted`);
  }
  if (/no such file|not found/i.test(msg) && r.spawnError === undefined) {
    throw new MountError('ENOENT', mountpoint, `cannot unmount ${mountpoint}: ${msg}`);
  }
  throw new MountError('EIO', mountpoint, `${root ? 'umount(8)' : 'fusermount3 -u'} failed on ${mountpoint}: ${msg}`);
}
