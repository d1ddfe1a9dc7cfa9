/**
 * The lowlevel filesystem API that tsfuse users implement.
 *
 * It follows libfuse's lowlevel API (fuse_lowlevel.h): operations address
 * inodes by `nodeid` (a number the filesystem chose when it answered LOOKUP,
 * MKDIR, CREATE, …; 1 is the root), not by path. Every method is optional: an
 * operation the filesystem leaves out is answered ENOSYS, and for the ones the
 * kernel caches (OPEN, FLUSH, …) the kernel then stops asking. STATFS is the
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

  /** Called once INIT has been negotiated, before any other request. */
  init?(conn: ConnectionInfo): MaybePromise<void>;
  /** Called on DESTROY, or when the session ends. */
  destroy?(): MaybePromise<void>;

  /** Missing: throw ENOENT, or return a negative entry (nodeid 0), which is cheaper. */
  lookup?(ctx: RequestContext, parent: number, name: Name): MaybePromise<Entry>;
  /** Drop `nlookup` lookup references to `nodeid`. No reply is sent. */
  forget?(nodeid: number, nlookup: number): void;
  /** BATCH_FORGET; when absent, forget() is called for each item. */
  batchForget?(items: ReadonlyArray<{ nodeid: number; nlookup: number }>): void;
  getattr?(ctx: RequestContext, nodeid: number, fh?: number): MaybePromise<AttrReply>;
  setattr?(ctx: RequestContext, nodeid: number, args: SetattrArgs): MaybePromise<AttrReply>;
  readlink?(ctx: RequestContext, nodeid: number): MaybePromise<string | Buffer>;
  symlink?(ctx: CreateContext, parent: number, name: Name, target: Name): MaybePromise<Entry>;
  mknod?(ctx: CreateContext, parent: number, name: Name, mode: number, rdev: number): MaybePromise<Entry>;
  mkdir?(ctx: CreateContext, parent: number, name: Name, mode: number): MaybePromise<Entry>;
  unlink?(ctx: RequestContext, parent: number, name: Name): MaybePromise<void>;
  rmdir?(ctx: RequestContext, parent: number, name: Name): MaybePromise<void>;
  /** flags: RENAME_NOREPLACE (1), RENAME_EXCHANGE (2), RENAME_WHITEOUT (4), or 0. */
  rename?(ctx: RequestContext, parent: number, name: Name, newParent: number, newName: Name, flags: number): MaybePromise<void>;
  link?(ctx: RequestContext, nodeid: number, newParent: number, newName: Name): MaybePromise<Entry>;
  /**
   * flags: the open(2) flags (O_CREAT/O_EXCL/O_NOCTTY are filtered by the kernel).
   * killSuidgid (FUSE_OPEN_KILL_SUIDGID): an open that truncates (O_TRUNC, with atomicOTrunc
   * negotiated) by a caller without CAP_FSETID, on a filesystem that negotiated
   * handleKillprivV2: clear setuid, and setgid if group-executable, as a local filesystem's
   * truncate would.
   */
  open?(ctx: RequestContext, nodeid: number, flags: number, killSuidgid: boolean): MaybePromise<OpenReply>;
  /**
   * Return at most `size` bytes; fewer only at end of file (or with direct I/O). Bytes returned
   * directly (not in a promise) are written to the kernel before the session takes the next
   * request, so they may sit in a buffer that the next read() reuses.
   */
  read?(ctx: RequestContext, nodeid: number, fh: number, offset: number, size: number): MaybePromise<Buffer>;
  /**
   * `data` is a view into the session's read buffer: copy it if you keep it
   * after returning (or after the returned promise settles). Returns the number of bytes written.
   */
  write?(ctx: RequestContext, nodeid: number, fh: number, offset: number, data: Buffer, writeFlags: number): MaybePromise<number>;
  flush?(ctx: RequestContext, nodeid: number, fh: number, lockOwner: bigint): MaybePromise<void>;
  release?(ctx: RequestContext, nodeid: number, fh: number, flags: number): MaybePromise<void>;
  fsync?(ctx: RequestContext, nodeid: number, fh: number, datasync: boolean): MaybePromise<void>;
  opendir?(ctx: RequestContext, nodeid: number, flags: number): MaybePromise<OpenReply>;
  readdir?(ctx: RequestContext, nodeid: number, fh: number, offset: number, out: DirentSink): MaybePromise<void>;
  readdirplus?(ctx: RequestContext, nodeid: number, fh: number, offset: number, out: DirentPlusSink): MaybePromise<void>;
  releasedir?(ctx: RequestContext, nodeid: number, fh: number): MaybePromise<void>;
  fsyncdir?(ctx: RequestContext, nodeid: number, fh: number, datasync: boolean): MaybePromise<void>;
  /** Absent: answered with namelen 255, bsize 512 and every other field 0 (see above). */
  statfs?(ctx: RequestContext, nodeid: number): MaybePromise<Statfs>;
  /**
   * flags: XATTR_CREATE (1) / XATTR_REPLACE (2). `value` is a view into the
   * session's read buffer, kept for this request until the promise settles:
   * copy it if you keep it longer.
   */
  setxattr?(ctx: RequestContext, nodeid: number, name: Name, value: Buffer, flags: number): MaybePromise<void>;
  /**
   * Return the whole value; the session answers size queries and ERANGE itself. Missing:
   * return null (or throw ENODATA), which is cheaper: the kernel asks for security.capability
   * before the first write to every new file.
   */
  getxattr?(ctx: RequestContext, nodeid: number, name: Name): MaybePromise<Buffer | null>;
  /** Return the attribute names; the session encodes them and answers size queries / ERANGE. */
  listxattr?(ctx: RequestContext, nodeid: number): MaybePromise<Array<string | Buffer>>;
  removexattr?(ctx: RequestContext, nodeid: number, name: Name): MaybePromise<void>;
  /** mask: R_OK/W_OK/X_OK/F_OK. */
  access?(ctx: RequestContext, nodeid: number, mask: number): MaybePromise<void>;
  /** killSuidgid: as for open(), when CREATE opens a file that exists (O_TRUNC without O_EXCL). */
  create?(ctx: CreateContext, parent: number, name: Name, mode: number, flags: number, killSuidgid: boolean): MaybePromise<CreateReply>;
  getlk?(ctx: RequestContext, nodeid: number, fh: number, owner: bigint, lock: FileLock): MaybePromise<FileLock>;
  /** `sleep` is true for F_SETLKW: wait for the lock (honour ctx.signal). */
  setlk?(ctx: RequestContext, nodeid: number, fh: number, owner: bigint, lock: FileLock, sleep: boolean): MaybePromise<void>;
  /** flock(2) on an open file; op is LOCK_SH/LOCK_EX/LOCK_UN, with LOCK_NB when the caller would not wait. */
  flock?(ctx: RequestContext, nodeid: number, fh: number, owner: bigint, op: number): MaybePromise<void>;
  bmap?(ctx: RequestContext, nodeid: number, blocksize: number, block: number): MaybePromise<number>;
  /** `input` is a view into the session's read buffer, as WRITE's `data` is. */
  ioctl?(ctx: RequestContext, nodeid: number, fh: number, cmd: number, arg: bigint, input: Buffer, outSize: number, flags: number): MaybePromise<{ result: number; output?: Buffer }>;
  /** Returns the ready events (POLLIN …). `kh` is set when the kernel wants a NOTIFY_POLL later. */
  poll?(ctx: RequestContext, nodeid: number, fh: number, events: number, kh: bigint | null): MaybePromise<number>;
  /** mode: FALLOC_FL_* bits. */
  fallocate?(ctx: RequestContext, nodeid: number, fh: number, offset: number, length: number, mode: number): MaybePromise<void>;
  /** whence: SEEK_SET..SEEK_HOLE. Returns the new offset. */
  lseek?(ctx: RequestContext, nodeid: number, fh: number, offset: number, whence: number): MaybePromise<number>;
  copyFileRange?(ctx: RequestContext, args: CopyFileRangeArgs): MaybePromise<number>;
  tmpfile?(ctx: CreateContext, parent: number, mode: number, flags: number): MaybePromise<CreateReply>;
  statx?(ctx: RequestContext, nodeid: number, fh: number | undefined, flags: number, mask: number): MaybePromise<StatxReply>;
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
