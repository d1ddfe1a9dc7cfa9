// Mounting through fusermount3, the setuid-root helper of the Debian package fuse3: the route
// for users without CAP_SYS_ADMIN, and for anyone who wants auto_unmount. The protocol:
// fusermount3 is started with `-o OPTIONS MNT` and `_FUSE_COMMFD=N` naming one end of a unix
// socketpair; it opens /dev/fuse itself (so /dev/fuse may be 0600, as on some VMs), mounts, and
// sends the fd back as SCM_RIGHTS. Unmounting is `fusermount3 -u [-z] MNT`, which checks that the
// caller owns the mount. Its own `auto_unmount` is not used: in fuse3 3.14 the watcher opens the
// mountpoint as root, which a user's mount without allow_other refuses (EACCES), and then leaves
// the dead mount in place (libfuse issues #586, #1491); watchdog.ts does that job instead.
//
// Facts measured with fuse3 3.14 (Linux 6.18): a user needs a passwd entry ("could not
// determine username" otherwise); it refuses a mountpoint the user cannot write ("mountpoint
// ... not owned by user"-style errors); allow_other needs user_allow_other in /etc/fuse.conf;
// a user's mounts get nosuid,nodev whatever was asked.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MountError } from './errors';
import { run, type RunResult } from './run';
import { sys } from './sys-lazy';

/** Where fusermount3 may be: PATH first, then where distributions install it. */
export function findFusermount3(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = [...(env.PATH ?? '').split(':').filter(Boolean), '/usr/bin', '/bin', '/usr/local/bin'];
  for (const dir of new Set(dirs)) {
    const candidate = path.join(dir, 'fusermount3');
    try {
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * Mounts through fusermount3 with the comma-separated `options` (the kernel's and the generic
 * mount flags, e.g. `fsname=x,subtype=tsfuse,nosuid,nodev`); resolves with the mounted fd. Without
 * auto_unmount fusermount3 sends the fd and exits, so the fd is waiting in our end of the socket
 * once it has exited.
 */
export async function fusermountMount(mountpoint: string, options: string, helper = findFusermount3()): Promise<number> {
  if (helper === undefined) {
    throw new MountError('ENOENT', mountpoint, `mounting ${mountpoint} without root needs fusermount3, which is not installed (Debian/Ubuntu: apt-get install fuse3)`);
  }
  const target = path.resolve(mountpoint); // never an argument that starts with '-'
  const { recvFd, socketpair } = sys();
  const [ours, theirs] = socketpair();
  let r: RunResult;
  try {
    r = await run(helper, ['-o', options, '--', target], theirs, { _FUSE_COMMFD: '3' });
  } finally {
    fs.closeSync(theirs);
  }
  let fd = -1;
  let recvError: string | undefined;
  try {
    fd = recvFd(ours, 0);
  } catch (err) {
    recvError = (err as Error).message;
  } finally {
    fs.closeSync(ours);
  }
  if (fd >= 0 && r.code === 0) return fd;
  if (fd >= 0) fs.closeSync(fd); // sent the fd but failed afterwards: nothing to serve safely
  const why = r.spawnError ?? (cleanStderr(r.stderr) || recvError || `exit status ${r.code ?? r.signal}, no fd received`);
  const code = r.spawnError !== undefined ? 'ENOENT' : /permission|not allowed|no write access|only allowed|not owned/i.test(why) ? 'EPERM' : 'EIO';
  throw new MountError(code, mountpoint, `fusermount3 failed to mount ${mountpoint}: ${why}`);
}

/** fusermount3's lines without its "fusermount3: " prefix, joined on one line. */
export function cleanStderr(stderr: string | undefined): string {
  return (stderr ?? '')
    .split('\n')
    .map((l) => l.replace(/^\S*fusermount3?:\s*/, '').trim())
    .filter(Boolean)
    .join('; ');
}
