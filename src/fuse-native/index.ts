/**
 * `require('tsfuse/fuse-native')`: the API of fuse-native 2.2.6 (its README and index.js), so
 * that a program written for it runs when only its `require` changes. Served by tsfuse's path
 * API over /dev/fuse: no libfuse, no native prebuild.
 *
 * What differs, on purpose:
 * - no operation times out: fuse-native answered ETIMEDOUT after 15 s (the `timeout` option)
 *   while the handler went on, so a write could be reported failed and still land. A handler
 *   that never calls back keeps its caller waiting until the caller is interrupted (EINTR);
 * - offsets and sizes at or above 2^53 are refused (reads EINVAL, writes EFBIG, as for every
 *   tsfuse filesystem) instead of reaching handlers rounded to another offset;
 * - utimens gets the real mtime (fuse-native passed atime twice), and the current time for a
 *   time left as it is (UTIME_OMIT); fgetattr is called for fstat(2), as its README says;
 * - callbacks may also be given an Error with an errno or code (a Node fs error) instead of a
 *   negative number; a second call of a callback is ignored;
 * - names that are not UTF-8 are not found (fuse-native turned them into other names).
 * As another user than root, mounts go through fusermount3 (Debian package fuse3), as
 * fuse-native's went through fusermount.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mount, type MountHandle, type MountOptions } from '../fs/mount';
import { pathFilesystem } from '../fs/path/adapter';
import { isDeadMount, unmount as unmountPath } from '../kernel/mount';
import { Errno, type ErrnoName } from '../protocol/errors';
import { nativeOperations, type NativeOps } from './ops';

type Callback = (err: Error | null) => void;

/** fuse-native's options. Those libfuse implemented that cannot apply here are accepted and ignored (see each). */
interface FuseOptions {
  /** One line per request and reply on stderr (also DEBUG=fuse-bindings or DEBUG=*). */
  debug?: boolean;
  /** Unmount a dead mount (server gone) on the mountpoint first. */
  force?: boolean;
  /** Create the mountpoint (and its parents) when missing. */
  mkdir?: boolean;
  allowOther?: boolean;
  /** allow_root: the mount's owner and root may use it (as allow_other, refusing everyone else). */
  allowRoot?: boolean;
  defaultPermissions?: boolean;
  /** The mount goes away when this process dies, even by SIGKILL (a watchdog process, as libfuse's). */
  autoUnmount?: boolean;
  maxRead?: number;
  /** The mount's owner (user_id=). */
  userId?: number;
  fsname?: string;
  subtype?: string;
  /** kernel_cache: keep cached file data across opens. */
  kernelCache?: boolean;
  /** Ignored: the kernel already drops cached data when size or mtime change (FUSE_AUTO_INVAL_DATA). */
  autoCache?: boolean;
  /** Ignored, with autoCache. */
  acAttrTimeout?: number;
  /** umask=, uid=, gid=: override what getattr answers, as libfuse did. */
  umask?: number | string;
  uid?: number;
  gid?: number;
  /** Seconds the kernel caches names / attributes (default 1). */
  entryTimeout?: number;
  attrTimeout?: number;
  /** Ignored: no operation times out (see above). */
  timeout?: number | false | Record<string, number | false>;
  /** Ignored: they are libfuse's (NFS export, stacking modules) or fuseblk's or macOS's. */
  noforget?: boolean;
  remember?: number;
  modules?: string;
  blkdev?: boolean;
  blksize?: number;
  fd?: number;
  displayFolder?: boolean | string;
  name?: string;
  /**
   * tsfuse only. Like libfuse 2, mounts are nodev,nosuid: device nodes in the mount cannot be
   * opened (EACCES) and setuid bits are ignored. `dev` and `suid` (root only) lift that.
   */
  dev?: boolean;
  suid?: boolean;
}

function umaskOf(v: number | string | undefined): number | undefined {
  if (v === undefined) return undefined;
  // libfuse parsed umask= as octal.
  const n = typeof v === 'string' ? parseInt(v, 8) : v;
  if (!Number.isInteger(n) || n < 0 || n > 0o777) throw new TypeError(`umask must be 0..0o777: got ${String(v)}`);
  return n;
}

class FuseMount {
  readonly mnt: string;
  private handle: MountHandle | null = null;
  private opening: Promise<MountHandle> | null = null;

  constructor(mnt: string, readonly ops: NativeOps, readonly opts: FuseOptions = {}) {
    if (typeof mnt !== 'string') throw new TypeError('new Fuse(mnt, ops, opts): mnt must be a path');
    this.mnt = path.resolve(mnt);
    this.ops = ops ?? {};
    this.opts = opts ?? {};
  }

  /** Mounts; `cb(null)` once the mount is usable, `cb(err)` saying why not. Mounting twice is mounting once. */
  mount(cb: Callback = () => {}): void {
    this.opening ??= this.open();
    this.opening.then((h) => {
      this.handle = h;
      cb(null);
    }, (err: Error) => {
      this.opening = null;
      cb(err);
    });
  }

  /** Unmounts (lazily, as fuse-native's `fusermount -uz`); `cb(null)` when done or when not mounted. */
  unmount(cb: Callback = () => {}): void {
    const opening = this.opening;
    if (opening === null) {
      process.nextTick(cb, null);
      return;
    }
    opening.then(async (h) => {
      await h.unmount({ lazy: true });
      this.handle = null;
      this.opening = null;
    }, () => undefined).then(() => cb(null), (err: Error) => cb(err));
  }

  /** Fuse.ENOENT for 'ENOENT' (any case); -1 (EPERM) for names it does not know, as fuse-native. */
  errno(code: string): number {
    const n = typeof code === 'string' ? (Errno as Record<string, number>)[code.toUpperCase()] : undefined;
    return n === undefined ? -1 : -n;
  }

  private async open(): Promise<MountHandle> {
    const o = this.opts;
    if (o.force && await isDeadMount(this.mnt)) await unmountPath(this.mnt, { lazy: true }).catch(() => {});
    if (o.mkdir) await fs.promises.mkdir(this.mnt, { recursive: true });
    const debug = o.debug === true || /\*|(^|,)fuse-bindings(,|$)/.test(process.env.DEBUG ?? '');
    const ops = nativeOperations(this.ops, { uid: o.uid, gid: o.gid, umask: umaskOf(o.umask), keepCache: o.kernelCache });
    const filesystem = pathFilesystem(ops, { entryTimeout: o.entryTimeout || undefined, attrTimeout: o.attrTimeout || undefined });
    const options: MountOptions = {
      allowOther: o.allowOther === true,
      allowRoot: o.allowRoot === true,
      defaultPermissions: o.defaultPermissions === true,
      maxRead: o.maxRead || undefined,
      userId: o.userId,
      fsname: o.fsname,
      subtype: o.subtype,
      autoUnmount: o.autoUnmount === true,
      dev: o.dev === true,
      suid: o.suid === true,
      debug: debug ? (line) => process.stderr.write(line + '\n') : undefined,
    };
    return mount(filesystem, this.mnt, options);
  }
}

const errnos = Object.fromEntries(Object.entries(Errno).map(([name, n]) => [name, -n])) as Record<ErrnoName, number>;

/** `/dev/fuse` is all tsfuse needs; there is no kernel extension to install as on macOS. */
function isConfigured(cb: (err: Error | null, configured: boolean) => void): void {
  fs.access('/dev/fuse', (err) => cb(null, err === null));
}

function configure(cb: Callback = () => {}): void {
  isConfigured((_, ok) => cb(ok ? null : new Error('/dev/fuse is missing: load the fuse module (modprobe fuse); there is nothing else to configure')));
}

const noop = (cb: Callback = () => {}): void => process.nextTick(cb, null);

/** fuse-native's class: `new Fuse(mnt, ops, opts)`, the errno constants (Fuse.ENOENT = -2 …) and the statics. */
const Fuse = Object.assign(FuseMount, errnos, {
  /** Unmounts whatever is mounted on `mnt`, lazily (`fusermount -uz` in fuse-native). */
  unmount(mnt: string, cb: Callback = () => {}): void {
    unmountPath(path.resolve(mnt), { lazy: true }).then(() => cb(null), (err: Error) => cb(err));
  },
  isConfigured,
  configure,
  /** Nothing to undo. */
  unconfigure: noop,
  beforeMount: noop,
  beforeUnmount: noop,
});

// `export =` so that `const Fuse = require('tsfuse/fuse-native')` is the class.
declare namespace Fuse {
  export type Options = FuseOptions;
  export type Operations = NativeOps;
}

export = Fuse;
