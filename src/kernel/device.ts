// The /dev/fuse character device: opening it, cloning a session fd, device ioctls, and the
// fusectl connection directory used to abort a connection in an emergency.
import * as fs from 'node:fs';
import { encodeU32Arg, FUSE_DEV_IOC_CLONE } from '../protocol/ioctl';
import { errnoCodeOf, errnoError, MountError } from './errors';

export const FUSE_DEVICE = '/dev/fuse';
/** Where fusectl shows one directory per connection (named by the mount's device number). */
export const FUSECTL_DIR = '/sys/fs/fuse/connections';

// ioctl-napi ships no types: (fd, request as uint32, argument buffer) -> result; throws an Error
// whose `code` is the errno number as a string. Loaded at the first ioctl, not with this module:
// a program that only decodes, or serves without passthrough or clones, loads no addon.
type IoctlNapi = (fd: number, request: number, arg: Buffer) => number;
let ioctlNapi: IoctlNapi | undefined;

/**
 * ioctl(2) on a device fd. `arg` must be exactly the struct the request names. Throws an Error
 * with `code` = errno name (e.g. 'EPERM'), like Node's fs errors.
 */
export function ioctl(fd: number, request: number, arg: Buffer): number {
  try {
    ioctlNapi ??= require('ioctl-napi') as IoctlNapi;
    return ioctlNapi(fd, request >>> 0, arg);
  } catch (err) {
    const code = errnoCodeOf(err);
    if (code === undefined) throw err;
    throw errnoError(code, `ioctl 0x${(request >>> 0).toString(16)} on fd ${fd}: ${(err as Error).message}`);
  }
}

/** Opens /dev/fuse for a new session; the error says how to get the device when it is missing. */
export function openDevice(path = FUSE_DEVICE): number {
  try {
    return fs.openSync(path, 'r+');
  } catch (err) {
    const code = errnoCodeOf(err) ?? 'EIO';
    if (code === 'ENOENT' || code === 'ENXIO' || code === 'ENODEV') {
      throw new MountError(code, path, `${path} is missing (${code}): load the fuse module (modprobe fuse), or give the container the device (--device /dev/fuse)`, { cause: err });
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new MountError(code, path, `cannot open ${path} (${code}): mounting without libfuse needs root`, { cause: err });
    }
    throw new MountError(code, path, `cannot open ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * A new /dev/fuse fd attached to the session of `sessionFd` (FUSE_DEV_IOC_CLONE): requests are
 * spread over the clones, and a reply must go back on the fd its request came from. EPERM until
 * the session is mounted.
 */
export function cloneDevice(sessionFd: number, path = FUSE_DEVICE): number {
  const fd = openDevice(path);
  try {
    ioctl(fd, FUSE_DEV_IOC_CLONE, encodeU32Arg(sessionFd));
    return fd;
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/**
 * The fusectl connection id of the FUSE mount at `mountpoint` (an absolute path without
 * symlinks, as /proc/self/mountinfo shows it), or undefined when there is none: the mount's
 * device number as the kernel encodes dev_t (MKDEV: major << 20 | minor). Read from mountinfo,
 * not stat(2), which would send a request to the very server this may be meant to rescue.
 */
export function connectionId(mountpoint: string, mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8')): number | undefined {
  let id: number | undefined;
  for (const line of mountinfo.split('\n')) {
    // id parent major:minor root mountpoint options [optional…] - fstype source superoptions
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (dash < 0 || f[dash + 1] === undefined || !/^fuse(\.|blk$|$)/.test(f[dash + 1])) continue;
    if (f[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) !== mountpoint) continue;
    const [major, minor] = f[2].split(':').map(Number);
    id = major * 2 ** 20 + minor; // the last match is the mount on top
  }
  return id;
}

/**
 * Aborts a FUSE connection through fusectl: every pending and future request fails with
 * ENOTCONN, the server's reads return ENODEV. For a server that cannot be reached any more;
 * the mount itself stays until unmounted.
 */
export function abortConnection(id: number): void {
  const file = `${FUSECTL_DIR}/${id}/abort`;
  try {
    fs.writeFileSync(file, '1');
  } catch (err) {
    const code = errnoCodeOf(err) ?? 'EIO';
    const hint = code === 'ENOENT' ? ` (is fusectl mounted? mount -t fusectl none ${FUSECTL_DIR})` : '';
    throw new MountError(code, file, `cannot abort FUSE connection ${id}: ${code}${hint}`, { cause: err });
  }
}

/**
 * The processes serving FUSE connection `id` and no other: those whose /dev/fuse fds all show
 * `fuse_connection: id` in /proc/PID/fdinfo (Linux 6.x prints it; on a kernel that does not,
 * none are found). A process with fds on other connections too serves other mounts and would
 * not end with this one, so it is left out. Processes this one may not inspect are skipped.
 */
export function connectionServers(id: number, proc = '/proc'): number[] {
  const servers: number[] = [];
  for (const entry of safeReaddir(proc)) {
    if (!/^\d+$/.test(entry)) continue;
    let ours = 0;
    let others = 0;
    for (const fd of safeReaddir(`${proc}/${entry}/fd`)) {
      let target: string;
      try {
        target = fs.readlinkSync(`${proc}/${entry}/fd/${fd}`);
      } catch {
        continue; // closed meanwhile
      }
      if (target !== FUSE_DEVICE) continue;
      let info: string;
      try {
        info = fs.readFileSync(`${proc}/${entry}/fdinfo/${fd}`, 'utf8');
      } catch {
        continue;
      }
      const conn = /^fuse_connection:\s*(\d+)$/m.exec(info)?.[1];
      if (conn === undefined) continue; // not mounted yet, or an older kernel
      if (Number(conn) === id) ours++;
      else others++;
    }
    if (ours > 0 && others === 0) servers.push(Number(entry));
  }
  return servers;
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
