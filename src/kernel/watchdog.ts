// auto_unmount: a mount that goes away when its server dies, even by SIGKILL, instead of
// answering ENOTCONN until someone unmounts it. A small shell process holds one end of a socket
// pair whose other end only this process has (close-on-exec, so no child inherits it). When the
// socket closes without a word (this process is gone, however it died), the watchdog detaches
// the mount lazily: `umount -l` as root, `fusermount3 -u -z` for a user. After a normal unmount
// release() says "done" first, so a later mount on the same path is never touched.
//
// The watchdog is started through a shell that puts it in the background and exits, so it is
// reparented to init, which reaps it; nothing here waits for it. It ignores the terminal's
// signals: Ctrl-C on a foreground server must not take the watchdog with it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sys } from './sys-lazy';
import { MountError } from './errors';
import { findFusermount3 } from './fusermount';
import { run } from './run';

const SCRIPT = `trap '' INT HUP QUIT TERM; { read -r word; [ "$word" = done ] || exec "$@" 3<&-; } <&3 >/dev/null 2>&1 &`;

/** Starts the watchdog of `mountpoint`; resolves with our end of its socket. */
export async function startWatchdog(mountpoint: string): Promise<number> {
  const target = path.resolve(mountpoint); // never an argument that starts with '-'
  const root = (process.geteuid?.() ?? 0) === 0;
  const helper = root ? 'umount' : findFusermount3();
  if (helper === undefined) {
    throw new MountError('ENOENT', mountpoint, `auto_unmount of ${mountpoint} without root needs fusermount3, which is not installed (Debian/Ubuntu: apt-get install fuse3)`);
  }
  const command = root ? [helper, '-l', '--', target] : [helper, '-u', '-z', '--', target];
  const [ours, theirs] = sys().socketpair();
  try {
    const r = await run('/bin/sh', ['-c', SCRIPT, 'tsfuse-watchdog', ...command], theirs);
    if (r.code !== 0) throw new MountError('EIO', mountpoint, `cannot start the auto_unmount watchdog of ${mountpoint}: ${r.spawnError ?? (r.stderr.trim() || `exit status ${r.code ?? r.signal}`)}`);
  } catch (err) {
    fs.closeSync(ours);
    throw err;
  } finally {
    fs.closeSync(theirs);
  }
  return ours;
}

/** The mount was unmounted in order: the watchdog exits without touching anything. */
export function releaseWatchdog(watch: number): void {
  try {
    fs.writeSync(watch, 'done\n');
  } catch {
    // The watchdog is gone already (killed by someone): nothing to tell it.
  }
  fs.closeSync(watch);
}
