/**
 * The path API: a filesystem addressed by paths, in the shape of libfuse's high-level
 * `struct fuse_operations`, promise-based. tsfuse keeps the nodeid <-> path table, the lookup
 * counts, directory listings' offsets and "." / "..", and answers the operations a filesystem
 * leaves out as libfuse's high-level API does (lib/fuse.c):
 * - open, opendir, release, releasedir: success (file handle 0);
 * - statfs: success, with bsize 512 and namelen 255;
 * - mknod of a regular file: create() then release(), when there is no mknod();
 * - everything else, getattr included: ENOSYS.
 * Truncating opens need only truncate(): tsfuse does not negotiate FUSE_ATOMIC_O_TRUNC, so the
 * kernel sends the truncation as a SETATTR of the size alone (no mtime with it: the kernel
 * leaves that to the filesystem for open(O_TRUNC) and ftruncate), as with libfuse 2.
 *
 * Paths are absolute within the mount ("/", "/dir/file"). Errors: throw `new FuseError('ENOENT')`
 * or let a Node fs error propagate. Every method also gets the caller's RequestContext (uid,
 * gid, pid, an AbortSignal for interrupts) as its last argument.
 */
import type { FileLock } from '../../protocol/types';
import type { ConnectionInfo, RequestContext } from '../api';
import type { StatInput, Timespec } from './attr';

/** What open/create/opendir answer: a file handle, or one with open flags for the kernel. */
export type PathOpenResult = number | void | PathOpenReply;

export interface PathOpenReply {
  /** Passed back to read/write/release… of this open (default 0). */
  fh?: number;
  /**
   * FUSE passthrough: an fd open on the file holding the data. The kernel then reads and
   * writes that file itself, and read/write are not called for this open. Needs the
   * `passthrough` option, Linux ≥ 6.9 and CAP_SYS_ADMIN; without them the open is served
   * through read/write. The fd stays yours: close it in release().
   */
  backingFd?: number;
  /** FOPEN_DIRECT_IO: no page cache; every read and write reaches the filesystem. */
  directIo?: boolean;
  /** FOPEN_KEEP_CACHE: keep cached data from earlier opens. */
  keepCache?: boolean;
  /** FOPEN_NONSEEKABLE. */
  nonseekable?: boolean;
}

/** A directory entry: a name, or a name with the attributes getattr would give (then served as READDIRPLUS). */
export type PathDirent<P> = P | string | { name: P | string; stat?: StatInput };

/** statfs answer; what is left out is 0 (bsize 512, namelen 255). `namemax` is accepted for namelen. */
export interface StatfsInput {
  bsize?: number;
  frsize?: number;
  blocks?: number;
  bfree?: number;
  bavail?: number;
  files?: number;
  ffree?: number;
  namelen?: number;
  namemax?: number;
}

/** A time set by utimens; `null` = leave as it is (UTIME_OMIT). UTIME_NOW arrives as the current time. */
export type TimeUpdate = Timespec | null;

/**
 * The operations, all optional. `P` is how paths arrive: strings (default), or Buffers with the
 * `encoding: 'buffer'` option (for names that are not UTF-8).
 */
export interface PathOperations<P extends string | Buffer = string> {
  init?(conn: ConnectionInfo): void | Promise<void>;
  destroy?(): void | Promise<void>;

  /** `fh` is set when the caller asks about an open file (fstat). */
  getattr?(path: P, fh: number | undefined, ctx: RequestContext): Promise<StatInput>;
  readlink?(path: P, ctx: RequestContext): Promise<string | Buffer>;
  /** mode holds the file type (S_IFIFO, S_IFCHR …); rdev the device number. */
  mknod?(path: P, mode: number, rdev: number, ctx: RequestContext): Promise<void>;
  mkdir?(path: P, mode: number, ctx: RequestContext): Promise<void>;
  unlink?(path: P, ctx: RequestContext): Promise<void>;
  rmdir?(path: P, ctx: RequestContext): Promise<void>;
  /** Creates `path` as a symlink holding `target`. */
  symlink?(target: P, path: P, ctx: RequestContext): Promise<void>;
  /** flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE. */
  rename?(from: P, to: P, flags: number, ctx: RequestContext): Promise<void>;
  link?(from: P, to: P, ctx: RequestContext): Promise<void>;
  chmod?(path: P, mode: number, fh: number | undefined, ctx: RequestContext): Promise<void>;
  /** -1 leaves uid or gid as it is. */
  chown?(path: P, uid: number, gid: number, fh: number | undefined, ctx: RequestContext): Promise<void>;
  truncate?(path: P, size: number, fh: number | undefined, ctx: RequestContext): Promise<void>;
  utimens?(path: P, atime: TimeUpdate, mtime: TimeUpdate, fh: number | undefined, ctx: RequestContext): Promise<void>;
  /** flags: the open(2) flags; O_CREAT, O_EXCL and O_TRUNC never appear (truncation comes as truncate()). */
  open?(path: P, flags: number, ctx: RequestContext): Promise<PathOpenResult>;
  /** At most `size` bytes from `offset`; fewer only at the end of the file. */
  read?(path: P, fh: number, size: number, offset: number, ctx: RequestContext): Promise<Buffer | Uint8Array>;
  /** `data` is only valid until the promise settles: copy it to keep it. Returns the bytes written. */
  write?(path: P, fh: number, data: Buffer, offset: number, ctx: RequestContext): Promise<number>;
  statfs?(path: P, ctx: RequestContext): Promise<StatfsInput>;
  /** Every close(2) of a descriptor of this open. */
  flush?(path: P, fh: number, lockOwner: bigint, ctx: RequestContext): Promise<void>;
  /** The last close of this open; the result is not reported to anyone. */
  release?(path: P, fh: number, flags: number, ctx: RequestContext): Promise<void>;
  fsync?(path: P, fh: number, datasync: boolean, ctx: RequestContext): Promise<void>;
  /** flags: XATTR_CREATE / XATTR_REPLACE. */
  setxattr?(path: P, name: string, value: Buffer, flags: number, ctx: RequestContext): Promise<void>;
  /** The value; null or undefined when there is none (ENODATA). */
  getxattr?(path: P, name: string, ctx: RequestContext): Promise<Buffer | string | null | undefined>;
  listxattr?(path: P, ctx: RequestContext): Promise<Array<string | Buffer>>;
  removexattr?(path: P, name: string, ctx: RequestContext): Promise<void>;
  opendir?(path: P, flags: number, ctx: RequestContext): Promise<number | void>;
  /**
   * The whole listing: names, or `{ name, stat }`. "." and ".." are added when missing.
   * Called once per opendir; the kernel's offsets are kept by tsfuse.
   */
  readdir?(path: P, fh: number, ctx: RequestContext): Promise<Iterable<PathDirent<P>>>;
  releasedir?(path: P, fh: number, ctx: RequestContext): Promise<void>;
  fsyncdir?(path: P, fh: number, datasync: boolean, ctx: RequestContext): Promise<void>;
  /** mask: F_OK, or R_OK | W_OK | X_OK. Not called with the defaultPermissions mount option. */
  access?(path: P, mask: number, ctx: RequestContext): Promise<void>;
  /** Create and open a regular file (mode includes S_IFREG). Without it the kernel uses mknod + open. */
  create?(path: P, mode: number, flags: number, ctx: RequestContext): Promise<PathOpenResult>;
  /** POSIX locks (fcntl F_GETLK); both getlk and setlk are needed, else the kernel keeps locks itself. */
  getlk?(path: P, fh: number, owner: bigint, lock: FileLock, ctx: RequestContext): Promise<FileLock>;
  /** F_SETLK, or F_SETLKW when `sleep` (honour ctx.signal). */
  setlk?(path: P, fh: number, owner: bigint, lock: FileLock, sleep: boolean, ctx: RequestContext): Promise<void>;
  /** flock(2): LOCK_SH / LOCK_EX / LOCK_UN, with LOCK_NB. Without it the kernel keeps flocks itself. */
  flock?(path: P, fh: number, owner: bigint, op: number, ctx: RequestContext): Promise<void>;
  /** mode: FALLOC_FL_* bits. */
  fallocate?(path: P, fh: number, offset: number, length: number, mode: number, ctx: RequestContext): Promise<void>;
  /** SEEK_DATA / SEEK_HOLE (the kernel answers SEEK_SET/CUR/END itself); returns the new offset. */
  lseek?(path: P, fh: number, offset: number, whence: number, ctx: RequestContext): Promise<number>;
  copyFileRange?(from: { path: P; fh: number; offset: number }, to: { path: P; fh: number; offset: number },
    length: number, flags: number, ctx: RequestContext): Promise<number>;
}

export interface PathOptions {
  /** How paths reach the operations: 'utf8' strings (default) or 'buffer' (exact bytes). */
  encoding?: 'utf8' | 'buffer';
  /** Seconds the kernel may cache a name (default 1). */
  entryTimeout?: number;
  /** Seconds the kernel may cache attributes (default 1). */
  attrTimeout?: number;
  /** Seconds the kernel may cache "no such name" (default 0: not at all). */
  negativeTimeout?: number;
  /** Ask the kernel for FUSE passthrough, so that open/create may return a backingFd. */
  passthrough?: boolean;
  /** Largest WRITE the kernel may send, in bytes (default 1 MiB). */
  maxWrite?: number;
}
