/**
 * The lowlevel filesystem API that tsfuse users implement.
 *
 * It follows libfuse's lowlevel API (fuse_lowlevel.h): operations address
 * inodes by `nodeid` (a number the filesystem chose when it answered LOOKUP,
 * MKDIR, CREATE, …; 1 is the root), not by path. Every method is optional: an
 * operation the filesystem leaves out is answered ENOSYS. For some (OPEN, FLUSH,
 * ACCESS, FSYNC, the xattrs …) the kernel remembers that for the connection's
 * lifetime and stops asking, answering by itself; for the others the caller
 * gets ENOSYS each time. Each method below says which, and what its valid
 * replies are, as libfuse's fuse_lowlevel.h does; the kernel's side is in
 * fs/fuse (Linux 6.18; the fc->no_* flags named). Throwing ENOSYS from a
 * method has the same effect as leaving it out, from then on. STATFS is the
 * exception, as in libfuse: without statfs() it is answered with names up to
 * 255 bytes, 512-byte blocks and every count 0, so that df(1) works.
 *
 * Errors: throw `new FuseError('ENOENT')`, or let a Node `fs` error (whose
 * `code` is an errno name) propagate; the session turns either into the
 * negative errno the kernel expects. Anything else thrown becomes EIO and one
 * log line; the server keeps running.
 *
 * Results: a method may return its value (or throw) directly, or a promise of
 * it. A handler with nothing to wait for (the loopback's syscalls are
 * synchronous) saves the session a promise and a microtask per request, and
 * its errors a rejected promise: Node's unhandled-rejection bookkeeping made
 * each promise rejected before its handler was attached cost 7–11 µs on a
 * 2-core VM (Node 20), more than the syscall behind a LOOKUP of a missing name.
 *
 * Numbers: nodeids, file handles, offsets and sizes are plain JS numbers.
 * They are u64 on the wire, but every value a filesystem hands out stays far
 * below 2^53. Opaque 64-bit values the kernel makes up (lock owners) are
 * bigints.
 */

import type { Attr, FileLock, Kstatfs } from '../protocol/types';

/** What a Filesystem method returns: the value itself, or a promise of it. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * A name as the kernel sent it: an entry name (LOOKUP, MKNOD, MKDIR, SYMLINK's name and target,
 * UNLINK, RMDIR, RENAME's two names, LINK, CREATE) or an extended attribute's name.
 *
 * Linux names are bytes, not text. A name whose bytes are valid UTF-8 arrives as a `string`,
 * which encodes back to exactly those bytes; any other (e.g. latin1 `new\xe9`) arrives as a
 * `Buffer` holding exactly its bytes, since a UTF-8 decoding would put U+FFFD in it and no
 * longer name the file. So `typeof name === 'string'` is the whole test, and a string can be
 * compared, printed and used as a map key as it is. Both forms can be handed to Node's `fs` and
 * to tsfuse's syscalls unchanged. The Buffer is the handler's own copy, not a view into the
 * session's read buffer: it may be kept, or read after an await.
 */
export type Name = string | Buffer;

/**
 * Who is asking: the request itself (its id, the caller's credentials, its interruption), and
 * nothing of the filesystem's: what an operation asks for comes as its arguments.
 */
export interface RequestContext {
  /** Request id, unique among the requests in flight. */
  readonly unique: number;
  readonly uid: number;
  readonly gid: number;
  /** Thread group id of the caller (0 for requests the kernel makes itself). */
  readonly pid: number;
  /**
   * Aborted when the kernel sends INTERRUPT for this request (the caller was
   * signalled). A handler that stops early should throw FuseError('EINTR').
   */
  readonly signal: AbortSignal;
}

/** Context of the operations that create a node: the caller's umask applies. */
export interface CreateContext extends RequestContext {
  /** The caller's umask; the kernel has not applied it when DONT_MASK is negotiated. */
  readonly umask: number;
}

/**
 * struct fuse_attr: what stat(2) shows for a node. Times are seconds +
 * nanoseconds; `mode` holds the file type and permission bits as st_mode does;
 * `flags` holds FUSE_ATTR_* bits (usually 0). One definition, shared with the codec.
 */
export type { Attr };

/** The reply to LOOKUP and to every operation that creates a node. */
export interface Entry {
  /** The nodeid the kernel will use for this node from now on; 0 = negative entry (cached ENOENT). */
  nodeid: number;
  /** nodeid + generation must be unique over the filesystem's lifetime. */
  generation?: number;
  attr: Attr;
  /** Seconds the kernel may cache the name → node binding (fractions allowed). Default 1. */
  entryTimeout?: number;
  /** Seconds the kernel may cache `attr`. Default 1. */
  attrTimeout?: number;
}

/** The reply to GETATTR and SETATTR. */
export interface AttrReply {
  attr: Attr;
  /** Seconds the kernel may cache `attr`. Default 1. */
  attrTimeout?: number;
}

/**
 * The reply to OPEN (and the open half of CREATE / TMPFILE).
 *
 * Passthrough: when the session negotiated FUSE_PASSTHROUGH (which it asks for
 * at INIT only when `features.passthrough` is set: an open reply asking for it
 * without that is served plain, with one warning that says so), a filesystem
 * can hand the kernel the file to read and write itself by returning an fd
 * open on it as `backingFd`: that one field is the request. The session registers the fd with the
 * kernel (FUSE_DEV_IOC_BACKING_OPEN) once per inode and shares that backing id
 * among all opens of the inode, because the kernel requires every open of an
 * inode to agree: while an inode has passthrough opens, every further open of
 * it passes through (even without `backingFd`), and while it has plain
 * opens, a passthrough request is served as a plain open. The fd stays the
 * filesystem's to close; the session only borrows it during the open.
 */
export interface OpenReply {
  /** File handle the kernel passes back on READ/WRITE/RELEASE of this open. */
  fh: number;
  /** FOPEN_DIRECT_IO: bypass the page cache (reads/writes always reach the server). */
  directIo?: boolean;
  /** FOPEN_KEEP_CACHE: keep cached pages from earlier opens. Ignored with passthrough. */
  keepCache?: boolean;
  /** FOPEN_NONSEEKABLE. */
  nonseekable?: boolean;
  /** FOPEN_CACHE_DIR (OPENDIR only): let the kernel cache the listing. */
  cacheDir?: boolean;
  /** FOPEN_STREAM: no file position at all. */
  stream?: boolean;
  /** FOPEN_NOFLUSH: no FLUSH on close. */
  noflush?: boolean;
  /** FOPEN_PARALLEL_DIRECT_WRITES. */
  parallelDirectWrites?: boolean;
  /**
   * Passthrough: an fd open on the backing file, for the kernel to read and write it
   * itself (see above). Absent: the open is served through the filesystem's read()/write().
   */
  backingFd?: number;
  /**
   * What the open does to the file besides opening it (O_TRUNC's truncation,
   * clearing setuid/setgid): run by the session once it has accepted the open
   * (passthrough decided, the backing file registered), just before the reply
   * goes out. If it throws, the open fails and is released. It cannot wait
   * for the reply to be delivered (a passthrough opener may write at once),
   * and need not: the kernel waits for the reply to a request the server has
   * read (fs/fuse/dev.c, request_wait_answer), so only the end of the
   * connection makes it refuse one.
   */
  commit?(): void | Promise<void>;
}

/** The reply to CREATE and TMPFILE: the new entry and its open file. */
export interface CreateReply extends Entry {
  open: OpenReply;
  /**
   * Undoes what the create made (the new name) when the open fails after all
   * (it was refused, `commit` threw, or the kernel refused the reply). Runs
   * after release() and before the entry's lookup reference is forgotten.
   */
  abandon?(): void;
}

/** What SETATTR asks to change; absent fields stay as they are. */
export interface SetattrArgs {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  /** Seconds + nanoseconds, or 'now' (FATTR_ATIME_NOW). */
  atime?: { sec: number; nsec: number } | 'now';
  mtime?: { sec: number; nsec: number } | 'now';
  ctime?: { sec: number; nsec: number };
  /** Set when the change is made through an open file (ftruncate, fchmod …). */
  fh?: number;
  lockOwner?: bigint;
  /** FATTR_KILL_SUIDGID: clear suid/sgid as part of this change. */
  killSuidgid?: boolean;
}

/** struct fuse_kstatfs: what statfs(2) shows for the filesystem. */
export type Statfs = Kstatfs;

/**
 * A POSIX record lock (struct fuse_file_lock): `end` is inclusive, `type` is
 * F_RDLCK/F_WRLCK/F_UNLCK, `pid` the holder's tgid.
 */
export type { FileLock };

/** FileLock types, as the kernel sends them (include/uapi/asm-generic/fcntl.h). */
export const F_RDLCK = 0;
export const F_WRLCK = 1;
export const F_UNLCK = 2;

/** flock(2) operations, as `flock()` receives them (include/uapi/asm-generic/fcntl.h). */
export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

/** One directory entry for READDIR. */
export interface Dirent {
  /** Inode number shown in d_ino (not a nodeid: READDIR does not create a lookup reference). */
  ino: number;
  /** The offset of the *next* entry: the kernel passes it back to continue the listing. */
  nextOffset: number;
  /**
   * File type: the S_IFMT bits of st_mode (`stat.mode & fs.constants.S_IFMT`, or a constant such
   * as fs.constants.S_IFDIR = 0o040000), or 0 when unknown. Not a DT_* value: anything with other
   * bits set is refused (TypeError, the request answered EIO).
   */
  type: number;
  name: string | Buffer;
}

/**
 * Where READDIR / READDIRPLUS put their entries. `add` returns false when the
 * entry did not fit in the kernel's buffer: stop there, the kernel asks again
 * from that entry's offset.
 */
export interface DirentSink {
  add(entry: Dirent): boolean;
}

/**
 * READDIRPLUS entries carry a full lookup reply. Every added entry except "."
 * and ".." counts as a LOOKUP of that node (the kernel will FORGET it), but
 * only if `add` returned true: take the lookup reference after a successful add.
 */
export interface DirentPlusSink {
  add(entry: Dirent, lookup: Entry | null): boolean;
}

/**
 * Notifications: the server telling the kernel, unasked, that what it cached is out of date
 * (a file changed behind the mount's back) or giving it data. From `handle.notify` of a
 * mounted filesystem; every call resolves once the kernel took the notification, and rejects
 * with the errno it refused it with (ENOENT for a name or inode it does not cache), or ENOTCONN
 * when the session is not running. Written on libuv's threadpool, never from the thread that
 * answers requests: the kernel may need one of our replies before it can apply one.
 */
export interface Notifier {
  /**
   * FUSE_NOTIFY_INVAL_INODE: drops cached data of `nodeid` from `offset` for `length` bytes
   * (0: to the end) and its cached attributes; a negative offset drops only the attributes.
   */
  invalInode(nodeid: number, offset?: number, length?: number): Promise<void>;
  /**
   * FUSE_NOTIFY_INVAL_ENTRY: drops the cached name `name` in directory `parent`.
   * `expireOnly` marks it stale instead (FUSE_EXPIRE_ONLY, Linux 6.2+).
   */
  invalEntry(parent: number, name: Name, options?: { expireOnly?: boolean }): Promise<void>;
  /** FUSE_NOTIFY_DELETE: `name` (inode `child`) was removed from `parent`; open files see it gone. */
  delete(parent: number, child: number, name: Name): Promise<void>;
  /** FUSE_NOTIFY_STORE: puts `data` into the page cache of `nodeid` at `offset`. */
  store(nodeid: number, offset: number, data: Buffer): Promise<void>;
  /** FUSE_NOTIFY_RETRIEVE: reads back up to `size` bytes of `nodeid`'s page cache at `offset`. */
  retrieve(nodeid: number, offset: number, size: number): Promise<Buffer>;
  /** FUSE_NOTIFY_POLL: wakes the poll(2)ers waiting on the handle `kh` that poll() was given. */
  pollWakeup(kh: bigint): Promise<void>;
}

/** Extended statx reply: the attributes plus the statx-only fields. */
export interface StatxReply {
  attrTimeout?: number;
  /** Mask of the STATX_* fields that are valid. */
  mask: number;
  attr: Attr;
  btime?: { sec: number; nsec: number };
  attributes?: number;
  attributesMask?: number;
}

/** The negotiated connection, shown to the filesystem's init(). */
export interface ConnectionInfo {
  protoMajor: number;
  protoMinor: number;
  /** Names of the INIT flags both sides agreed on (e.g. 'FUSE_PASSTHROUGH'). */
  flags: ReadonlySet<string>;
  maxWrite: number;
  maxReadahead: number;
  /** True when FUSE_PASSTHROUGH was negotiated: open replies may carry a backingFd. */
  passthrough: boolean;
  /**
   * Passthrough required (`--passthrough require`): throws (ELOOP) when the kernel would
   * refuse the files of the filesystem the directory `dirFd` is on as backing files, so that a
   * CREATE can fail before it makes anything (a file that carries no name, O_TMPFILE, is what
   * the kernel is asked about; the answer is kept per filesystem). Does nothing otherwise: a
   * refused open is then served without passthrough.
   */
  checkBacking(dirFd: number): void;
}

/** Features a filesystem asks the session to negotiate at INIT. */
export interface FilesystemFeatures {
  /** Request FUSE_PASSTHROUGH (needs Linux ≥ 6.9 with CONFIG_FUSE_PASSTHROUGH, and CAP_SYS_ADMIN). */
  passthrough?: boolean;
  /** 1 (default) or 2: 2 lets backing files live on overlayfs/another FUSE, but nothing can stack on this mount. */
  maxStackDepth?: 1 | 2;
  /**
   * With passthrough: an fd (O_PATH will do) of the directory the backing
   * files come from. At start the session asks the kernel about a file there
   * that carries no name (O_TMPFILE, else an existing file), so that a
   * filesystem it refuses (ELOOP: stacked too deep) is known before the first
   * open: with passthrough required the mount fails, otherwise its files are
   * served without passthrough after one warning.
   */
  backingDirFd?: number;
  /** FUSE_WRITEBACK_CACHE; never granted together with passthrough. */
  writebackCache?: boolean;
  /** FUSE_DO_READDIRPLUS (and READDIRPLUS_AUTO). */
  readdirplus?: boolean;
  /** POSIX locks / flock handled by the filesystem (FUSE_POSIX_LOCKS, FUSE_FLOCK_LOCKS). */
  posixLocks?: boolean;
  flockLocks?: boolean;
  /** FUSE_HANDLE_KILLPRIV_V2: the filesystem clears suid/sgid on write/truncate itself. */
  handleKillprivV2?: boolean;
  /** FUSE_DONT_MASK: the kernel does not apply the umask; the filesystem does (ctx.umask). */
  dontMask?: boolean;
  /** FUSE_ATOMIC_O_TRUNC: OPEN may carry O_TRUNC. */
  atomicOTrunc?: boolean;
  /** FUSE_EXPORT_SUPPORT: the filesystem answers LOOKUP of "." and "..". */
  exportSupport?: boolean;
  /** FUSE_PARALLEL_DIROPS. Default true. */
  parallelDirops?: boolean;
  /** FUSE_CACHE_SYMLINKS. */
  cacheSymlinks?: boolean;
  /** Largest WRITE the kernel may send, in bytes (default 1 MiB). */
  maxWrite?: number;
}

/**
 * The operations. Arguments come in the order of the corresponding libfuse
 * lowlevel function; operations with many fields take an args object.
 */
export interface Filesystem {
  /** Asked before INIT is answered. */
  readonly features?: FilesystemFeatures;

  /**
   * Called once INIT has been negotiated, before any other request; `conn` says what was granted.
   */
  init?(conn: ConnectionInfo): MaybePromise<void>;
  /** Called on DESTROY, or when the session ends; no request follows. */
  destroy?(): MaybePromise<void>;

  /**
   * LOOKUP of `name` in directory `parent`. Reply: the Entry, which hands the kernel one lookup
   * reference to FORGET later; or a negative entry (nodeid 0), which the kernel takes as ENOENT and
   * caches for `entryTimeout` seconds, and which is cheaper than throwing ENOENT (not cached).
   * Absent: every path walk below the root fails with ENOSYS.
   */
  lookup?(ctx: RequestContext, parent: number, name: Name): MaybePromise<Entry>;
  /**
   * Drops `nlookup` lookup references to `nodeid`. No reply is sent. Absent: references are not counted.
   */
  forget?(nodeid: number, nlookup: number): void;
  /** BATCH_FORGET; when absent, forget() is called for each item. */
  batchForget?(items: ReadonlyArray<{ nodeid: number; nlookup: number }>): void;
  /**
   * GETATTR. Reply: the attributes and how long the kernel may cache them. `fh` is set when the
   * caller holds the file open (fstat). Absent: stat(2) fails with ENOSYS, each time.
   */
  getattr?(ctx: RequestContext, nodeid: number, fh?: number): MaybePromise<AttrReply>;
  /**
   * SETATTR: chmod, chown, truncate, utimes (and ftruncate etc. with `args.fh`). Reply: the
   * attributes after the change. Absent: those calls fail with ENOSYS, each time.
   */
  setattr?(ctx: RequestContext, nodeid: number, args: SetattrArgs): MaybePromise<AttrReply>;
  /** READLINK. Reply: the target. Absent: readlink(2) fails with ENOSYS, each time. */
  readlink?(ctx: RequestContext, nodeid: number): MaybePromise<string | Buffer>;
  /**
   * SYMLINK: `name` in `parent` pointing at `target`. Reply: the new Entry (a lookup reference). Absent: ENOSYS, each time.
   */
  symlink?(ctx: CreateContext, parent: number, name: Name, target: Name): MaybePromise<Entry>;
  /**
   * MKNOD (devices, fifos, sockets; and regular files when create() is absent or answered
   * ENOSYS). Reply: the new Entry (a lookup reference). Absent: ENOSYS, each time.
   */
  mknod?(ctx: CreateContext, parent: number, name: Name, mode: number, rdev: number): MaybePromise<Entry>;
  /** MKDIR. Reply: the new Entry (a lookup reference). Absent: ENOSYS, each time. */
  mkdir?(ctx: CreateContext, parent: number, name: Name, mode: number): MaybePromise<Entry>;
  /** UNLINK. Reply: success or an error. Absent: ENOSYS, each time. */
  unlink?(ctx: RequestContext, parent: number, name: Name): MaybePromise<void>;
  /** RMDIR. Reply: success or an error. Absent: ENOSYS, each time. */
  rmdir?(ctx: RequestContext, parent: number, name: Name): MaybePromise<void>;
  /**
   * RENAME (flags 0) and RENAME2: flags RENAME_NOREPLACE (1), RENAME_EXCHANGE (2),
   * RENAME_WHITEOUT (4). Absent: ENOSYS, each time. Throwing ENOSYS for a call with flags makes
   * the kernel refuse renames with flags itself (EINVAL) from then on.
   */
  rename?(ctx: RequestContext, parent: number, name: Name, newParent: number, newName: Name, flags: number): MaybePromise<void>;
  /**
   * LINK: a new name `newName` in `newParent` for `nodeid`. Reply: its Entry (a lookup reference). Absent: ENOSYS, each time.
   */
  link?(ctx: RequestContext, nodeid: number, newParent: number, newName: Name): MaybePromise<Entry>;
  /**
   * OPEN. flags: the open(2) flags (O_CREAT/O_EXCL/O_NOCTTY are filtered by the kernel).
   * killSuidgid (FUSE_OPEN_KILL_SUIDGID): an open that truncates (O_TRUNC, with atomicOTrunc
   * negotiated) by a caller without CAP_FSETID, on a filesystem that negotiated handleKillprivV2:
   * clear setuid, and setgid if group-executable, as a local filesystem's truncate would.
   * Reply: an OpenReply; its `fh` comes back with READ, WRITE, FLUSH, RELEASE … of this open.
   * Absent (or ENOSYS thrown): the kernel stops sending OPEN for the connection's lifetime and
   * opens every file itself with fh 0 and FOPEN_KEEP_CACHE (fs/fuse/file.c, fc->no_open).
   */
  open?(ctx: RequestContext, nodeid: number, flags: number, killSuidgid: boolean): MaybePromise<OpenReply>;
  /**
   * READ. Reply: at most `size` bytes; fewer only at end of file (or with direct I/O). Bytes
   * returned directly (not in a promise) are written to the kernel before the session takes the
   * next request, so they may sit in a buffer that the next read() reuses. Absent: reads fail
   * with ENOSYS (passthrough opens never send READ).
   */
  read?(ctx: RequestContext, nodeid: number, fh: number, offset: number, size: number): MaybePromise<Buffer>;
  /**
   * WRITE. `data` is a view into the session's read buffer: copy it if you keep it after
   * returning (or after the returned promise settles). Reply: the number of bytes written.
   * Absent: writes fail with ENOSYS (passthrough opens never send WRITE).
   */
  write?(ctx: RequestContext, nodeid: number, fh: number, offset: number, data: Buffer, writeFlags: number): MaybePromise<number>;
  /**
   * FLUSH, sent on every close(2) of an open file (POSIX locks of `lockOwner` go then).
   * Absent: every open gets FOPEN_NOFLUSH, so close(2) never waits for the server. Throwing
   * ENOSYS: the kernel stops sending FLUSH and close(2) succeeds (fc->no_flush).
   */
  flush?(ctx: RequestContext, nodeid: number, fh: number, lockOwner: bigint): MaybePromise<void>;
  /**
   * RELEASE, once per successful open when its last reference goes. Nobody waits for the
   * reply: an error is not seen by any caller. Absent: answered ENOSYS, harmlessly.
   */
  release?(ctx: RequestContext, nodeid: number, fh: number, flags: number): MaybePromise<void>;
  /**
   * FSYNC (datasync: fdatasync). Absent (or ENOSYS thrown): the kernel stops sending FSYNC
   * and fsync(2) succeeds from then on (fc->no_fsync).
   */
  fsync?(ctx: RequestContext, nodeid: number, fh: number, datasync: boolean): MaybePromise<void>;
  /**
   * OPENDIR. Reply: an OpenReply (`cacheDir` lets the kernel keep the listing). Absent (or
   * ENOSYS thrown): the kernel stops sending OPENDIR and opens directories itself with fh 0,
   * FOPEN_KEEP_CACHE and FOPEN_CACHE_DIR (fc->no_opendir).
   */
  opendir?(ctx: RequestContext, nodeid: number, flags: number): MaybePromise<OpenReply>;
  /**
   * READDIR from `offset` (0, or a `nextOffset` given earlier): add entries until `add`
   * returns false. Absent: listing a directory fails with ENOSYS.
   */
  readdir?(ctx: RequestContext, nodeid: number, fh: number, offset: number, out: DirentSink): MaybePromise<void>;
  /**
   * READDIRPLUS: entries with their lookup replies. Present: FUSE_DO_READDIRPLUS is asked for
   * at INIT (features.readdirplus can say otherwise). Absent: listings use READDIR only.
   */
  readdirplus?(ctx: RequestContext, nodeid: number, fh: number, offset: number, out: DirentPlusSink): MaybePromise<void>;
  /** RELEASEDIR, as release() for directories. Absent: answered ENOSYS, harmlessly. */
  releasedir?(ctx: RequestContext, nodeid: number, fh: number): MaybePromise<void>;
  /**
   * FSYNCDIR. Absent (or ENOSYS thrown): the kernel stops sending it and fsync(2) of a
   * directory succeeds (fc->no_fsyncdir).
   */
  fsyncdir?(ctx: RequestContext, nodeid: number, fh: number, datasync: boolean): MaybePromise<void>;
  /** STATFS. Absent: answered with namelen 255, bsize 512 and every other field 0 (see above). */
  statfs?(ctx: RequestContext, nodeid: number): MaybePromise<Statfs>;
  /**
   * SETXATTR. flags: XATTR_CREATE (1) / XATTR_REPLACE (2). `value` is a view into the
   * session's read buffer, kept for this request until the promise settles: copy it if you keep it
   * longer. Absent (or ENOSYS thrown): the kernel stops asking and setxattr(2) fails with
   * EOPNOTSUPP from then on (fs/fuse/xattr.c, fc->no_setxattr); so for the other three xattr
   * operations, each on its own.
   */
  setxattr?(ctx: RequestContext, nodeid: number, name: Name, value: Buffer, flags: number): MaybePromise<void>;
  /**
   * GETXATTR. Reply: the whole value; the session answers size queries and ERANGE itself.
   * Missing attribute: return null (or throw ENODATA), which is cheaper: the kernel asks for
   * security.capability before the first write to every new file. Absent: EOPNOTSUPP from then on.
   */
  getxattr?(ctx: RequestContext, nodeid: number, name: Name): MaybePromise<Buffer | null>;
  /**
   * LISTXATTR. Reply: the attribute names; the session encodes them and answers size queries and ERANGE. Absent: EOPNOTSUPP from then on.
   */
  listxattr?(ctx: RequestContext, nodeid: number): MaybePromise<Array<string | Buffer>>;
  /** REMOVEXATTR. Absent: EOPNOTSUPP from then on. */
  removexattr?(ctx: RequestContext, nodeid: number, name: Name): MaybePromise<void>;
  /**
   * ACCESS, mask R_OK/W_OK/X_OK/F_OK; only sent without default_permissions. Absent (or
   * ENOSYS thrown): the kernel stops asking and treats every access check as allowed
   * (fs/fuse/dir.c, fc->no_access).
   */
  access?(ctx: RequestContext, nodeid: number, mask: number): MaybePromise<void>;
  /**
   * CREATE: make and open `name` (O_CREAT). killSuidgid: as for open(), when it opens a file
   * that exists (O_TRUNC without O_EXCL). Reply: the Entry (a lookup reference) and the open.
   * Absent (or ENOSYS thrown): the kernel stops sending CREATE and makes files with MKNOD, then
   * OPEN (fc->no_create).
   */
  create?(ctx: CreateContext, parent: number, name: Name, mode: number, flags: number, killSuidgid: boolean): MaybePromise<CreateReply>;
  /**
   * GETLK (F_GETLK). Present together with setlk(): FUSE_POSIX_LOCKS is asked for. Absent:
   * the kernel keeps POSIX locks itself, for this mount's users only.
   */
  getlk?(ctx: RequestContext, nodeid: number, fh: number, owner: bigint, lock: FileLock): MaybePromise<FileLock>;
  /**
   * SETLK/SETLKW; `sleep` is true for F_SETLKW: wait for the lock (honour ctx.signal). Absent: see getlk().
   */
  setlk?(ctx: RequestContext, nodeid: number, fh: number, owner: bigint, lock: FileLock, sleep: boolean): MaybePromise<void>;
  /**
   * flock(2) on an open file; op is LOCK_SH/LOCK_EX/LOCK_UN, with LOCK_NB when the caller
   * would not wait. Present: FUSE_FLOCK_LOCKS is asked for. Absent: the kernel keeps flock
   * locks itself.
   */
  flock?(ctx: RequestContext, nodeid: number, fh: number, owner: bigint, op: number): MaybePromise<void>;
  /**
   * BMAP (FIBMAP, block devices only). Absent (or ENOSYS thrown): the kernel stops asking and
   * answers block 0 (fc->no_bmap).
   */
  bmap?(ctx: RequestContext, nodeid: number, blocksize: number, block: number): MaybePromise<number>;
  /**
   * IOCTL. `input` is a view into the session's read buffer, as WRITE's `data` is.
   * Absent: ioctl(2) on the mount's files fails, each time.
   */
  ioctl?(ctx: RequestContext, nodeid: number, fh: number, cmd: number, arg: bigint, input: Buffer, outSize: number, flags: number): MaybePromise<{ result: number; output?: Buffer }>;
  /**
   * POLL. Reply: the ready events (POLLIN …). `kh` is set when the kernel wants a wakeup later
   * (Notifier.pollWakeup). Absent (or ENOSYS thrown): the kernel stops asking and reports every
   * file always ready (fc->no_poll).
   */
  poll?(ctx: RequestContext, nodeid: number, fh: number, events: number, kh: bigint | null): MaybePromise<number>;
  /**
   * FALLOCATE; mode: FALLOC_FL_* bits. Absent (or ENOSYS thrown): fallocate(2) fails with
   * EOPNOTSUPP from then on (fc->no_fallocate).
   */
  fallocate?(ctx: RequestContext, nodeid: number, fh: number, offset: number, length: number, mode: number): MaybePromise<void>;
  /**
   * LSEEK, for SEEK_DATA/SEEK_HOLE (the kernel does the others). Reply: the new offset. Absent
   * (or ENOSYS thrown): the kernel stops asking and answers itself: all data, a hole at the end
   * (fc->no_lseek).
   */
  lseek?(ctx: RequestContext, nodeid: number, fh: number, offset: number, whence: number): MaybePromise<number>;
  /**
   * COPY_FILE_RANGE(_64). Reply: the bytes copied. Absent (or ENOSYS thrown): the kernel
   * stops asking (fc->no_copy_file_range) and copy_file_range(2) falls back to copying through
   * READ and WRITE.
   */
  copyFileRange?(ctx: RequestContext, args: CopyFileRangeArgs): MaybePromise<number>;
  /**
   * TMPFILE (O_TMPFILE). Reply as create(). Absent (or ENOSYS thrown): O_TMPFILE fails with
   * EOPNOTSUPP from then on (fc->no_tmpfile).
   */
  tmpfile?(ctx: CreateContext, parent: number, mode: number, flags: number): MaybePromise<CreateReply>;
  /**
   * STATX. Reply: the attributes with the statx-only fields. Absent (or ENOSYS thrown): the
   * kernel stops sending STATX and uses GETATTR (fc->no_statx).
   */
  statx?(ctx: RequestContext, nodeid: number, fh: number | undefined, flags: number, mask: number): MaybePromise<StatxReply>;
  /** SYNCFS. Absent (or ENOSYS thrown): the kernel stops sending it and syncfs(2) succeeds. */
  syncfs?(ctx: RequestContext, nodeid: number): MaybePromise<void>;
}

export interface CopyFileRangeArgs {
  nodeIn: number;
  fhIn: number;
  offsetIn: number;
  nodeOut: number;
  fhOut: number;
  offsetOut: number;
  length: number;
  flags: number;
}

/**
 * A filesystem served by several threads (`mount(spec, mnt, { threads: N })`): each thread
 * loads `module` with import() and calls its export `export` (default 'create'), a
 * FilesystemFactory, to get a Filesystem of its own. Requests are spread over the threads by
 * the kernel, so any request may reach any instance: state they must agree on (which nodeid is
 * which file, open file handles) lives where every thread sees it, e.g. in SharedArrayBuffers
 * passed in `data`, or in the backing store itself. A FORGET or RELEASE may reach another
 * thread than the LOOKUP or OPEN it concerns. Passthrough backing ids are shared by the
 * session. Every instance must declare the same `features`; thread 0's are negotiated.
 */
export interface ThreadedFilesystem {
  /** Absolute path of the module (CommonJS or ES module). */
  module: string;
  /** The factory's name among the module's exports (default 'create'). */
  export?: string;
  /** Handed to every thread's factory by structured clone: SharedArrayBuffers are shared, not copied. */
  data?: unknown;
}

/** Makes thread `thread`'s (0 … threads-1) instance of a ThreadedFilesystem. */
export type FilesystemFactory = (data: unknown, thread: number) => Filesystem | Promise<Filesystem>;
