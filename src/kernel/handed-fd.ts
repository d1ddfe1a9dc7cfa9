// A mountpoint of the form /dev/fd/N: a /dev/fuse fd that a privileged parent already opened and
// mounted and handed to us (libfuse's convention, used by container runtimes so that the server
// itself needs no privilege). The kernel's INIT is waiting on it; there is nothing to mount.
import * as fs from 'node:fs';
import { MountError } from './errors';

const HANDED = /^\/dev\/fd\/(\d+)$/;
/** /dev/fuse is the misc device 10:229 (Documentation/admin-guide/devices.txt). */
const FUSE_RDEV = (10 << 8) | 229;

/** N for a mountpoint `/dev/fd/N`, else undefined. */
export function handedFd(mountpoint: string): number | undefined {
  const m = HANDED.exec(mountpoint);
  return m ? Number(m[1]) : undefined;
}

/**
 * Checks that `fd` is an open, mounted /dev/fuse fd and returns its fusectl connection id, with
 * the error a user can act on when it is not.
 */
export function checkHandedFd(fd: number): number {
  const where = `/dev/fd/${fd}`;
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
  } catch {
    throw new MountError('EBADF', where, `${where}: fd ${fd} is not open in this process (the parent must pass the mounted /dev/fuse fd as fd ${fd})`);
  }
  if (!st.isCharacterDevice() || st.rdev !== FUSE_RDEV) {
    throw new MountError('EINVAL', where, `${where}: fd ${fd} is not /dev/fuse`);
  }
  // fdinfo shows the connection once the fd is mounted (Linux 6.x).
  const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  const conn = /^fuse_connection:\s*(\d+)$/m.exec(info)?.[1];
  if (conn === undefined) {
    throw new MountError('EINVAL', where, `${where}: the /dev/fuse fd is not mounted (the parent mounts it, e.g. mount -t fuse -o fd=N,...)`);
  }
  return Number(conn);
}

/** Where connection `id` is mounted in this mount namespace, if it can be seen from here. */
export function mountpointOfConnection(id: number, mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8')): string | undefined {
  const dev = `${Math.floor(id / 2 ** 20)}:${id % 2 ** 20}`;
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    if (f[2] === dev) return f[4].replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  }
  return undefined;
}
