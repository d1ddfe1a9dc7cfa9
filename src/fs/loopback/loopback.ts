/**
 * The loopback filesystem: the mount shows a source directory, operation for
 * operation, the way libfuse's passthrough_hp does it.
 *
 * Every inode the kernel knows is held by an O_PATH fd (inodes.ts; past a
 * limit, files are reopened by name relative to their directory's fd), and
 * every name is resolved relative to its parent's fd with O_NOFOLLOW, never by
 * joining path strings. So nothing outside the source directory can be
 * reached through the mount, even while directories inside it are being
 * swapped for symlinks: a symlink in the source is shown as a symlink, and the
 * server itself never follows one.
 *
 * The server runs as root and does the work with its own credentials; what a
 * local filesystem would do with the caller's credentials is done by hand:
 * new nodes are chowned to the caller (own()). Permission checks are the
 * kernel's: mount with default_permissions (and allow_other, so that users
 * other than root can use the mount at all).
 */
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import * as sys from '../../sys/index';
import { FUSE_WRITE_KILL_SUIDGID } from '../../protocol/constants';
import { Errno } from '../../protocol/errors';
import type {
  AttrReply, ConnectionInfo, CopyFileRangeArgs, CreateContext, CreateReply, DirentPlusSink,
  DirentSink, Entry, FileLock, Filesystem, FilesystemFeatures, MaybePromise, Name, OpenReply, RequestContext,
  SetattrArgs, Statfs, StatxReply,
} from '../api';
import { FuseError } from '../errors';
import { MODE_BITS, NO_ATTR, O_ACCMODE, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, S_ISGID, S_ISUID, S_IXGRP, toAttr } from './attr';
import { isDotOrDotdot, readEntries, type DirEntry } from './dirs';
import { DirTable, HandleTable, type DirHandles, type FileHandle, type FileHandles } from './handles';
import { closeFreeing } from './close';
import { InodeTable, O_NODE, type Inode, type InodeStore } from './inodes';
import * as locks from './locks';
import { checkName, procPath } from './names';

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_NOCTTY, O_APPEND, O_DIRECT, O_NONBLOCK, O_TRUNC, X_OK } = fs.constants;
/** fstatat/fchownat/utimensat flags that act on the O_PATH fd's own inode. */
const AT_NODE = sys.AT_EMPTY_PATH | sys.AT_SYMLINK_NOFOLLOW;
const AT_STATX_SYNC_TYPE = sys.AT_STATX_FORCE_SYNC | sys.AT_STATX_DONT_SYNC;

const fsyncAsync = promisify(fs.fsync);
const ftruncateAsync = promisify(fs.ftruncate);
const fdatasyncAsync = promisify(fs.fdatasync);
const readAsync = promisify(fs.read);
const writeAsync = promisify(fs.write);

/**
 * Truncations that drop more than this many bytes run on the threadpool: the
 * backing filesystem frees the pages inside ftruncate (1.3 ms per 10 MiB on
 * tmpfs), which would stall every request of the mount; below it, the
 * threadpool hop costs more than it saves.
 */
const INLINE_TRUNCATE_BYTES = 1 << 20;

/**
 * ftruncate(2) of the file `fd` is open on (an open file, or an O_PATH fd).
 * Inline through `fd` itself when it is `writable` and little is freed;
 * otherwise through an fd of its own, reopened from `fd` by /proc (unlinked
 * files too), and on the threadpool when much is freed (INLINE_TRUNCATE_BYTES):
 * destroy() closes the handles' fds, and one closed under a pending ftruncate,
 * its number reused, would have another file truncated.
 */
async function truncateFile(fd: number, writable: boolean, size: number): Promise<void> {
  const frees = sys.fstat(fd).size - size;
  if (writable && frees <= INLINE_TRUNCATE_BYTES) return fs.ftruncateSync(fd, size);
  const own = sys.openat(sys.AT_FDCWD, procPath(fd), O_WRONLY | O_NONBLOCK);
  try {
    if (frees > INLINE_TRUNCATE_BYTES) await ftruncateAsync(own, size);
    else fs.ftruncateSync(own, size);
  } finally {
    fs.closeSync(own);
  }
}

/** Which opens go to the kernel as FUSE passthrough, by access mode: none, O_RDONLY, O_WRONLY, all. */
export type PassthroughPolicy = 'off' | 'ro' | 'wo' | 'rw';

/** Who keeps POSIX (fcntl) record locks: this server, on the source files, or the kernel. */
export type PosixLockKeeper = 'server' | 'kernel';

export interface LoopbackOptions {
  /**
   * FUSE passthrough for these opens (default 'off'): the kernel then reads
   * and writes the backing file itself, and READ/WRITE never reach the server.
   * Needs Linux ≥ 6.9 and CAP_SYS_ADMIN; when the kernel does not grant it,
   * every open is served normally.
   */
  passthrough?: PassthroughPolicy;
  /** max_stack_depth for passthrough: 2 lets the source be on overlayfs or another FUSE mount. */
  maxStackDepth?: 1 | 2;
  /** Seconds the kernel may cache attributes (default 1). */
  attrTimeout?: number;
  /** Seconds the kernel may cache a name → inode binding (default 1). */
  entryTimeout?: number;
  /** Seconds the kernel may cache that a name does not exist (default 0: not cached). */
  negativeTimeout?: number;
  /** READDIRPLUS: listings carry the attributes too (default true). */
  readdirplus?: boolean;
  /**
   * Writeback cache: the kernel gathers small writes in its page cache
   * (default false); the source must then not be changed except through the
   * mount. Asked for together with passthrough, passthrough wins where the
   * kernel grants it (the session says so); it is used only if INIT grants it.
   */
  writebackCache?: boolean;
  /**
   * At most this many O_PATH fds are kept on files (not directories) the
   * kernel knows; the least recently used are closed and reopened by name
   * when needed (inodes.ts). Default: three quarters of the open-file limit,
   * which the constructor first raises as far as the process may.
   */
  maxInodeFds?: number;
  /**
   * Read and write on libuv's threadpool instead of synchronously (default
   * false). Measured on tmpfs: a 4 KiB pread took 5 µs synchronously and 44
   * µs async (128 KiB: 33 vs 63 µs); through the mount, 4 KiB preads took 22
   * vs 116–151 µs and a cold 256 MiB read ran at 1,045 vs 251–840 MiB/s.
   * Async only pays off on a backing store slow enough that other requests
   * should not wait for it.
   */
  asyncIo?: boolean;
  /**
   * Who keeps POSIX (fcntl) locks. 'server': OFD locks on the source files,
   * seen by processes that use the source directly too; POSIX drops a
   * process's locks at each of its close(2)s, so every close then waits for a
   * FLUSH round trip. 'kernel': the kernel keeps them, coherent among the
   * mount's users only (as libfuse's passthrough_hp does), and opens are
   * FOPEN_NOFLUSH, so close(2) never waits for the server. With passthrough,
   * that FLUSH is the last round trip of a read (measured: 102 µs median
   * against ~2 ms to read 10 MiB from tmpfs). flock(2) locks stay in the
   * server either way: they go at RELEASE, not at FLUSH.
   * Default: 'kernel' when passthrough is on, else 'server'.
   */
  posixLocks?: PosixLockKeeper;
}

/**
 * Where a Loopback keeps what the kernel may name: its own tables when it is served by one
 * thread; tables in shared memory, given by threaded.ts, when several threads each run a
 * Loopback of their own on the same source.
 */
export interface LoopbackTables {
  inodes: InodeStore;
  files: FileHandles;
  dirs: DirHandles;
}

/** A node just resolved: the inode (with a new lookup reference) and its stat. */
interface Found {
  inode: Inode;
  stat: sys.Stat;
}

function errorCode(err: unknown): unknown {
  return (err as NodeJS.ErrnoException | null)?.code;
}

function timespec(t: SetattrArgs['atime']): [number, number] {
  if (t === undefined) return [0, sys.UTIME_OMIT];
  if (t === 'now') return [0, sys.UTIME_NOW];
  return [t.sec, t.nsec];
}

/**
 * Clears setuid, and setgid where it means set-group-ID (group execute set),
 * as the kernel does when an unprivileged caller writes or truncates — which
 * the server, being root, does not get from the backing filesystem.
 */
function killSuidgid(opathFd: number): void {
  const mode = sys.fstat(opathFd).mode;
  const kill = S_ISUID | (mode & S_IXGRP ? S_ISGID : 0);
  if (mode & kill) sys.fchmodat(opathFd, '', mode & MODE_BITS & ~kill, sys.AT_EMPTY_PATH);
}

/**
 * Creates `name` with O_EXCL and O_NOFOLLOW, so that a symlink planted under
 * that name is never followed out of the tree, and so that `made` says whether
 * this call created the file (and must hand it to the caller). Without the
 * caller's own O_EXCL an existing file is opened instead, as open(O_CREAT) does.
 */
function openOrCreate(dirFd: number, name: string | Buffer, flags: number, exclusive: boolean,
  mode: number): { fd: number; made: boolean } {
  for (;;) {
    try {
      return { fd: sys.openat(dirFd, name, flags | O_CREAT | O_EXCL | sys.O_NOFOLLOW, mode), made: true };
    } catch (err) {
      if (exclusive || errorCode(err) !== 'EEXIST') throw err;
    }
    let nodeFd: number;
    try {
      nodeFd = sys.openat(dirFd, name, O_NODE);
    } catch (err) {
      // Removed between the two opens: create it after all.
      if (errorCode(err) !== 'ENOENT') throw err;
      continue;
    }
    try {
      // The kernel sends CREATE only for names it believes absent, so an existing file here lost
      // a race. Opening a fifo with the caller's flags would block this thread, and a directory
      // or device must not be answered as the created file: only a regular file is reopened.
      const type = sys.fstat(nodeFd).mode & S_IFMT;
      if (type === S_IFLNK) throw new FuseError('ELOOP');
      if (type !== S_IFREG) throw new FuseError(type === S_IFDIR ? 'EISDIR' : 'ENXIO');
      return { fd: sys.openat(sys.AT_FDCWD, procPath(nodeFd), flags), made: false };
    } finally {
      fs.closeSync(nodeFd);
    }
  }
}

export class Loopback implements Filesystem {
  readonly features: FilesystemFeatures;
  private readonly inodes: InodeStore;
  private readonly files: FileHandles;
  /**
   * One open file per inode that has any (the latest opened): getxattr() reads through it.
   * Not with shared tables: another thread may release that file and its fd number be reused.
   */
  private readonly openFile: Map<Inode, FileHandle> | undefined;
  /** READ's buffer, reused from one read() to the next (read()). */
  private readBuffer = Buffer.alloc(0);
  private readonly dirs: DirHandles;
  private readonly passthrough: PassthroughPolicy;
  private passthroughGranted = false;
  /** The session's passthrough policy for a CREATE in `dirFd` (ConnectionInfo.checkBacking, from init()). */
  private checkBacking: (dirFd: number) => void = () => {};
  readonly posixLocks: PosixLockKeeper;
  /** destroy() ran: every fd is closed, and none may be kept after. */
  private destroyed = false;
  /** FUSE_WRITEBACK_CACHE was granted at INIT (init()). */
  private writeback = false;
  private readonly attrTimeout: number;
  private readonly entryTimeout: number;
  private readonly negativeTimeout: number;
  private readonly asyncIo: boolean;

  /**
   * Opens `source` at once, so a wrong path fails here and not at the first request.
   * `tables`: shared ones, for one of several threads serving the same mount (threaded.ts).
   */
  constructor(readonly source: string, options: LoopbackOptions = {}, tables?: LoopbackTables) {
    if (tables !== undefined) {
      this.inodes = tables.inodes;
      this.files = tables.files;
      this.dirs = tables.dirs;
      this.openFile = undefined;
    } else {
      // The one path that is walked: the user's own. Everything below it is
      // reached by names relative to inode fds.
      const rootFd = sys.openat(sys.AT_FDCWD, source, sys.O_PATH | sys.O_DIRECTORY);
      // Like passthrough_hp: an fd per inode the kernel knows needs more than
      // the usual soft limit of 1024.
      const limit = sys.raiseNofileLimit(1 << 20);
      const inodes = new InodeTable(rootFd, options.maxInodeFds ?? Math.floor(limit * 0.75));
      this.inodes = inodes;
      this.files = new HandleTable<FileHandle>();
      this.dirs = new DirTable((inode) => readEntries(inodes.fd(inode)));
      this.openFile = new Map();
    }
    this.passthrough = options.passthrough ?? 'off';
    this.attrTimeout = options.attrTimeout ?? 1;
    this.entryTimeout = options.entryTimeout ?? 1;
    this.negativeTimeout = options.negativeTimeout ?? 0;
    this.asyncIo = options.asyncIo ?? false;
    // Shared tables: the kernel keeps POSIX locks. The server's are per lock owner and inode
    // (locks.ts), state every thread would have to share, and FLUSH may reach any of them.
    this.posixLocks = tables !== undefined ? 'kernel' : options.posixLocks ?? (this.passthrough === 'off' ? 'server' : 'kernel');
    this.features = {
      passthrough: this.passthrough !== 'off',
      maxStackDepth: options.maxStackDepth,
      writebackCache: options.writebackCache ?? false,
      readdirplus: options.readdirplus ?? true,
      // Without FUSE_POSIX_LOCKS the kernel keeps them itself.
      posixLocks: this.posixLocks === 'server',
      flockLocks: true,
      // We clear setuid/setgid on write and truncate ourselves (write(),
      // setattr()), and in exchange the kernel stops sending GETXATTR
      // security.capability around writes: 200 per 200 MiB dd, which kept
      // passthrough_hp at 1.25–1.5x native on large writes (measured
      // on Linux 6.18, `tsfuse bench` with --passthrough-hp).
      // One is still sent before the first write after each attribute
      // refresh (a new inode, a LOOKUP, a SETATTR reply clear S_NOSEC).
      handleKillprivV2: true,
      // O_TRUNC comes with the OPEN (with its killSuidgid) instead of as a
      // SETATTR after it: one round trip and one backing open fewer per
      // truncating open, and one GETXATTR security.capability fewer (the
      // SETATTR reply refreshed the attributes, which clears S_NOSEC).
      atomicOTrunc: true,
      // The session checks at start that the kernel takes backing files from the filesystem of
      // SRC (nodeid 1, the root).
      backingDirFd: this.inodes.fd(this.inodes.get(1)),
    };
  }

  /** Number of inodes the kernel holds references to (root included). */
  get inodeCount(): number {
    return this.inodes.size;
  }

  /** O_PATH fds held on them. */
  get inodeFds(): number {
    return this.inodes.fds;
  }

  init(conn: ConnectionInfo): void {
    this.passthroughGranted = conn.passthrough;
    this.checkBacking = (dirFd) => conn.checkBacking?.(dirFd);
    this.writeback = conn.flags.has('FUSE_WRITEBACK_CACHE');
  }

  destroy(): void {
    this.destroyed = true;
    for (const handle of this.files.values()) {
      fs.closeSync(handle.fd);
      locks.releaseAll(handle.inode);
    }
    this.files.clear();
    this.openFile?.clear();
    this.dirs.clear();
    this.inodes.clear();
  }

  // ---- names ----

  /** Resolves one name in `dir` without following a symlink; takes a lookup reference. */
  private lookupName(dir: Inode, name: string | DirEntry): Found {
    return this.inodes.remember(sys.openat(this.inodes.fd(dir), name, O_NODE), dir, name);
  }

  /** The O_PATH fd of the inode behind a nodeid. */
  private nodeFd(nodeid: number): number {
    return this.inodes.fd(this.inodes.get(nodeid));
  }

  private entry({ inode, stat }: Found): Entry {
    return { nodeid: inode.nodeid, attr: toAttr(stat), entryTimeout: this.entryTimeout, attrTimeout: this.attrTimeout };
  }

  // The operations the small-file paths take return their result directly: with nothing to
  // wait for, a promise per request only costs (api.ts, "Results").

  lookup(_ctx: RequestContext, parent: number, name: Name): Entry {
    checkName(name);
    const dir = this.inodes.get(parent);
    const fd = sys.openatOrErrno(this.inodes.fd(dir), name, O_NODE);
    // A missing name is the common failure (every create starts with one): a negative entry
    // (nodeid 0) says so without the cost of an exception. The kernel takes it as ENOENT,
    // cached for its entry timeout (fs/fuse/dir.c: "Zero nodeid is same as -ENOENT, but with
    // valid timeout"); negativeTimeout 0 caches nothing, as ENOENT would.
    if (fd === -Errno.ENOENT) return { nodeid: 0, attr: NO_ATTR, entryTimeout: this.negativeTimeout };
    if (fd < 0) throw sys.errnoError(-fd, 'openat', name);
    return this.entry(this.inodes.remember(fd, dir, name));
  }

  forget(nodeid: number, nlookup: number): void {
    this.inodes.forget(nodeid, nlookup);
  }

  batchForget(items: ReadonlyArray<{ nodeid: number; nlookup: number }>): void {
    for (const { nodeid, nlookup } of items) this.inodes.forget(nodeid, nlookup);
  }

  // ---- attributes ----

  getattr(_ctx: RequestContext, nodeid: number): AttrReply {
    return { attr: toAttr(sys.fstat(this.nodeFd(nodeid))), attrTimeout: this.attrTimeout };
  }

  async setattr(ctx: RequestContext, nodeid: number, args: SetattrArgs): Promise<AttrReply> {
    const inode = this.inodes.get(nodeid);
    const fd = this.inodes.fd(inode);
    // All but truncation act on the O_PATH fd, so they work on any inode,
    // through an open file or not (a symlink's times included).
    if (args.mode !== undefined) sys.fchmodat(fd, '', args.mode & MODE_BITS, sys.AT_EMPTY_PATH);
    if (args.uid !== undefined || args.gid !== undefined) {
      sys.fchownat(fd, '', args.uid ?? -1, args.gid ?? -1, AT_NODE);
    }
    if (args.size !== undefined) await this.truncate(inode, args.size, args.fh);
    if (args.atime !== undefined || args.mtime !== undefined) {
      sys.utimensat(fd, '', ...timespec(args.atime), ...timespec(args.mtime), AT_NODE);
    }
    if (args.killSuidgid && args.mode === undefined) killSuidgid(fd);
    return this.getattr(ctx, nodeid);
  }

  private async truncate(inode: Inode, size: number, fh: number | undefined): Promise<void> {
    // The kernel sends a file handle only for ftruncate(2) on a writable file.
    if (fh !== undefined) return truncateFile(this.files.get(fh).fd, true, size);
    // Opening anything but a regular file for writing could block (a fifo)
    // or do something else entirely (a device).
    if (inode.type !== S_IFREG) throw new FuseError(inode.type === S_IFDIR ? 'EISDIR' : 'EINVAL');
    return truncateFile(this.inodes.fd(inode), false, size);
  }

  async readlink(_ctx: RequestContext, nodeid: number): Promise<Buffer> {
    return sys.readlinkat(this.nodeFd(nodeid), '');
  }

  async statfs(_ctx: RequestContext, nodeid: number): Promise<Statfs> {
    const { blocks, bfree, bavail, files, ffree, bsize, namelen, frsize } = sys.fstatfs(this.nodeFd(nodeid));
    return { blocks, bfree, bavail, files, ffree, bsize, namelen, frsize };
  }

  statx(_ctx: RequestContext, nodeid: number, _fh: number | undefined, flags: number,
    mask: number): StatxReply {
    const st = sys.statx(this.nodeFd(nodeid), '', AT_NODE | (flags & AT_STATX_SYNC_TYPE), mask);
    return {
      attrTimeout: this.attrTimeout,
      mask: st.mask,
      attr: toAttr(st),
      btime: { sec: st.btime, nsec: st.btimeNsec },
      attributes: st.attributes,
      attributesMask: st.attributesMask,
    };
  }

  /**
   * Only reached without default_permissions (with it the kernel checks
   * itself). FUSE does not send the caller's supplementary groups, so the
   * group class is matched on the caller's primary group alone.
   */
  async access(ctx: RequestContext, nodeid: number, mask: number): Promise<void> {
    const st = sys.fstat(this.nodeFd(nodeid));
    const want = mask & 7;
    if (ctx.uid === 0) {
      // Root may do anything, but execute only what someone may execute.
      if (want & X_OK && (st.mode & S_IFMT) !== S_IFDIR && !(st.mode & 0o111)) throw new FuseError('EACCES');
      return;
    }
    const bits = ctx.uid === st.uid ? st.mode >> 6 : ctx.gid === st.gid ? st.mode >> 3 : st.mode;
    if ((bits & want) !== want) throw new FuseError('EACCES');
  }

  // ---- creating and removing names ----

  /**
   * The server creates nodes as root; a local filesystem would have made them
   * the caller's. Owner: the caller. Group: the caller's, unless the directory
   * is set-group-ID (the backing filesystem then gave it the directory's
   * group already). Mode: what the caller asked for — the kernel has applied
   * the caller's umask, and this process's own umask must not count, and
   * chown may have cleared setuid/setgid. Returns the stat after the changes.
   */
  private own(ctx: CreateContext, dir: Inode, { inode, stat }: Found, mode: number): sys.Stat {
    // Not the type we made: the source changed under us; leave it alone.
    if (inode.type !== (mode & S_IFMT)) return stat;
    const fd = this.inodes.fd(inode);
    let gid = ctx.gid;
    if (stat.gid !== gid && sys.fstat(this.inodes.fd(dir)).mode & S_ISGID) gid = stat.gid;
    let changed = false;
    if (stat.uid !== ctx.uid || stat.gid !== gid) {
      sys.fchownat(fd, '', ctx.uid, gid, AT_NODE);
      changed = true;
    }
    if (inode.type !== S_IFLNK) {
      // A directory inherits set-group-ID from its parent, as on the backing filesystem.
      const want = (mode & MODE_BITS) | (inode.type === S_IFDIR ? stat.mode & S_ISGID : 0);
      const now = changed ? sys.fstat(fd).mode : stat.mode;
      if ((now & MODE_BITS) !== want) {
        sys.fchmodat(fd, '', want, sys.AT_EMPTY_PATH);
        changed = true;
      }
    }
    return changed ? sys.fstat(fd) : stat;
  }

  /** Resolves the node just made as `name` and gives it to the caller. */
  private created(ctx: CreateContext, dir: Inode, name: string | Buffer, mode: number): Entry {
    const found = this.lookupName(dir, name);
    try {
      found.stat = this.own(ctx, dir, found, mode);
    } catch (err) {
      // No reply carries this reference to the kernel.
      this.inodes.forget(found.inode.nodeid, 1);
      throw err;
    }
    return this.entry(found);
  }

  async mknod(ctx: CreateContext, parent: number, name: Name, mode: number, rdev: number): Promise<Entry> {
    checkName(name);
    const dir = this.inodes.get(parent);
    sys.mknodat(this.inodes.fd(dir), name, mode, rdev);
    return this.created(ctx, dir, name, mode);
  }

  async mkdir(ctx: CreateContext, parent: number, name: Name, mode: number): Promise<Entry> {
    checkName(name);
    const dir = this.inodes.get(parent);
    sys.mkdirat(this.inodes.fd(dir), name, mode & MODE_BITS);
    return this.created(ctx, dir, name, S_IFDIR | mode);
  }

  async symlink(ctx: CreateContext, parent: number, name: Name, target: Name): Promise<Entry> {
    checkName(name);
    const dir = this.inodes.get(parent);
    sys.symlinkat(target, this.inodes.fd(dir), name);
    return this.created(ctx, dir, name, S_IFLNK | 0o777);
  }

  async link(_ctx: RequestContext, nodeid: number, newParent: number, newName: Name): Promise<Entry> {
    // Not recorded: the inode is pinned.
    checkName(newName);
    const inode = this.inodes.get(nodeid);
    // AT_EMPTY_PATH links the inode the fd holds, wherever its names are now
    // (needs CAP_DAC_READ_SEARCH, which the root server has).
    const fd = this.inodes.fd(inode);
    sys.linkat(fd, '', this.nodeFd(newParent), newName, sys.AT_EMPTY_PATH);
    const stat = sys.fstat(fd);
    this.inodes.pin(inode);
    this.inodes.ref(inode);
    return this.entry({ inode, stat });
  }

  /** The known inode `name` in `dirFd` is, if any; errors are left for the operation to report. */
  private known(dirFd: number, name: string | Buffer): Inode | undefined {
    try {
      return this.inodes.find(sys.fstatat(dirFd, name, sys.AT_SYMLINK_NOFOLLOW));
    } catch {
      return undefined;
    }
  }

  async unlink(_ctx: RequestContext, parent: number, name: Name): Promise<void> {
    checkName(name);
    sys.unlinkat(this.nodeFd(parent), name);
  }

  async rmdir(_ctx: RequestContext, parent: number, name: Name): Promise<void> {
    checkName(name);
    sys.unlinkat(this.nodeFd(parent), name, sys.AT_REMOVEDIR);
  }

  async rename(_ctx: RequestContext, parent: number, name: Name, newParent: number, newName: Name,
    flags: number): Promise<void> {
    // Both may be recorded as an inode's name (renamed()): the request's own, kept as they are.
    checkName(name);
    checkName(newName);
    const from = this.inodes.get(parent);
    const to = this.inodes.get(newParent);
    const fromFd = this.inodes.fd(from);
    const toFd = this.inodes.fd(to);
    // Inodes are keyed by (dev, ino) and held by fd, so the table stays as it
    // is; only the names recorded to reopen them by follow.
    const moved = this.known(fromFd, name);
    const swapped = flags & sys.RENAME_EXCHANGE ? this.known(toFd, newName) : undefined;
    sys.renameat2(fromFd, name, toFd, newName, flags);
    if (moved !== undefined) this.inodes.renamed(moved, to, newName);
    if (swapped !== undefined) this.inodes.renamed(swapped, from, name);
  }

  // ---- open files ----

  /**
   * The flags the backing file is opened with:
   * - no O_NOFOLLOW: opens go through /proc/self/fd/N, a symlink by construction;
   * - no O_TRUNC: the truncation waits for the open to be accepted (commit()),
   *   as an open that fails must leave the file as it was;
   * - no O_DIRECT: with direct I/O the kernel forwards the application's own
   *   offsets and sizes, and the backing filesystem would want them aligned
   *   in memory too, which Node's buffers are not; the caller gets uncached
   *   I/O from FOPEN_DIRECT_IO instead (opened());
   * - writeback cache: the kernel reads pages around partial writes, so a
   *   write-only open must also read (an O_WRONLY backing fd answers EBADF there),
   *   and it appends by itself.
   */
  private backingFlags(flags: number): number {
    let f = flags & ~(sys.O_NOFOLLOW | O_DIRECT | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC);
    if (this.writeback) {
      if ((f & O_ACCMODE) === O_WRONLY) f = (f & ~O_ACCMODE) | O_RDWR;
      f &= ~O_APPEND;
    }
    return f;
  }

  private passesThrough(flags: number): boolean {
    if (!this.passthroughGranted) return false;
    switch (this.passthrough) {
      case 'rw': return true;
      case 'ro': return (flags & O_ACCMODE) === O_RDONLY;
      case 'wo': return (flags & O_ACCMODE) === O_WRONLY;
      default: return false;
    }
  }

  /** Registers an open backing fd as a file handle; `flags` are the caller's open flags. */
  private opened(inode: Inode, fd: number, flags: number): OpenReply {
    inode.nopen++;
    const handle: FileHandle = { fd, flags, inode };
    const fh = this.files.add(handle);
    this.openFile?.set(inode, handle);
    // FLUSH only serves to drop the closer's POSIX locks (flush()).
    const noflush = this.posixLocks === 'kernel';
    // The fd stays open until RELEASE; the session registers it with the kernel.
    if (this.passesThrough(flags)) return { fh, backingFd: fd, noflush };
    const directIo = (flags & O_DIRECT) !== 0;
    return { fh, directIo, parallelDirectWrites: directIo, noflush };
  }

  open(ctx: RequestContext, nodeid: number, flags: number, killSuidgid = false): MaybePromise<OpenReply> {
    const inode = this.inodes.get(nodeid);
    // Reopening a symlink's O_PATH fd through /proc gives ELOOP anyway; never try.
    if (inode.type === S_IFLNK) throw new FuseError('ELOOP');
    // The kernel opens fifos, sockets and device nodes itself and never sends OPEN for them;
    // a peer that does must not make this (root) server block on a fifo or open a device.
    if (inode.type !== S_IFREG) throw new FuseError(inode.type === S_IFDIR ? 'EISDIR' : 'ENXIO');
    // /proc/self/fd/N reopens the inode the O_PATH fd holds: no name is walked.
    const fd = sys.openat(sys.AT_FDCWD, procPath(this.inodes.fd(inode)), this.backingFlags(flags));
    return this.committing(ctx, this.opened(inode, fd, flags), flags, killSuidgid);
  }

  /**
   * An open of an existing file, with what it does to the file besides
   * (O_TRUNC; suid/sgid, see killsSuidgidOnOpen) deferred to its commit(),
   * which the session runs once it has accepted the open: a passthrough open
   * the kernel refuses (ELOOP for a filesystem stacked too deep, with
   * `--passthrough require`) then fails having changed nothing.
   */
  private committing(ctx: RequestContext, reply: OpenReply, flags: number, openKillsSuidgid: boolean): OpenReply {
    const truncates = (flags & O_TRUNC) !== 0;
    const kills = this.killsSuidgidOnOpen(ctx, flags, openKillsSuidgid);
    if (!truncates && !kills) return reply;
    const handle = this.files.get(reply.fh);
    const commit = async (): Promise<void> => {
      // After destroy() the handle's fd is closed, and its number may be another file's.
      const destroyed = (): FuseError => new FuseError('EIO', 'the filesystem was destroyed during the open');
      if (this.destroyed) throw destroyed();
      if (truncates) {
        // O_RDONLY|O_TRUNC truncates too, through an fd of its own.
        await truncateFile(handle.fd, (flags & O_ACCMODE) !== O_RDONLY, 0);
        if (this.destroyed) throw destroyed();
      }
      if (kills) killSuidgid(this.inodes.fd(handle.inode));
    };
    return { ...reply, commit };
  }

  /**
   * A truncating open by a caller without CAP_FSETID (FUSE_OPEN_KILL_SUIDGID) clears
   * suid/sgid, as truncate(2) would on a local filesystem.
   *
   * With HANDLE_KILLPRIV_V2 the kernel leaves clearing suid/sgid on write to
   * the server, but passthrough writes never reach it, and the backing write
   * runs with the server's root credentials (CAP_FSETID), so the bits would
   * stay (measured). So an unprivileged caller's write-open clears them up
   * front when passthrough is on — for every write-open, not only the ones the
   * policy passes through, since the session passes an open through whenever
   * the inode already has passthrough opens. The difference from a native
   * file: the bits go at open rather than at the first write.
   */
  private killsSuidgidOnOpen(ctx: RequestContext, flags: number, openKillsSuidgid: boolean): boolean {
    const truncates = (flags & O_TRUNC) !== 0 && openKillsSuidgid;
    const writesThrough = this.passthroughGranted && ctx.uid !== 0 && (flags & O_ACCMODE) !== O_RDONLY;
    return truncates || writesThrough;
  }

  create(ctx: CreateContext, parent: number, name: Name, mode: number, flags: number, killSuidgid = false): CreateReply {
    checkName(name);
    const dir = this.inodes.get(parent);
    const dirFd = this.inodes.fd(dir);
    // With passthrough required, an open the kernel would refuse fails before the file exists.
    if (this.passesThrough(flags)) this.checkBacking(dirFd);
    const { fd, made } = openOrCreate(dirFd, name, this.backingFlags(flags), (flags & O_EXCL) !== 0, mode & MODE_BITS);
    return this.openedNew(ctx, dir, name, fd, made, flags, S_IFREG | mode, killSuidgid);
  }

  async tmpfile(ctx: CreateContext, parent: number, mode: number, flags: number): Promise<CreateReply> {
    const dir = this.inodes.get(parent);
    const fd = sys.openat(this.inodes.fd(dir), '.', this.backingFlags(flags) | sys.O_TMPFILE, mode & MODE_BITS);
    return this.openedNew(ctx, dir, '', fd, true, flags, S_IFREG | mode, false);
  }

  /**
   * CREATE/TMPFILE: the inode of the file `fd` has open, given to the caller
   * when `made`. A file this call made and named is removed again when the
   * open fails (abandon()); an existing one is opened as open() does.
   */
  private openedNew(ctx: CreateContext, dir: Inode, name: string | Buffer, fd: number, made: boolean, flags: number,
    mode: number, killSuidgid: boolean): CreateReply {
    let found: Found | undefined;
    try {
      // The O_PATH fd comes from the open file itself, not from the name,
      // which may already be something else.
      found = this.inodes.remember(sys.openat(sys.AT_FDCWD, procPath(fd), sys.O_PATH), dir, name);
      if (made) found.stat = this.own(ctx, dir, found, mode);
    } catch (err) {
      // No reply carries the reference or the open file to the kernel.
      if (found !== undefined) this.inodes.forget(found.inode.nodeid, 1);
      if (made && name !== '') this.unmake(dir, name, sys.fstat(fd));
      fs.closeSync(fd);
      throw err;
    }
    const open = this.opened(found.inode, fd, flags);
    if (!made) return { ...this.entry(found), open: this.committing(ctx, open, flags, killSuidgid) };
    const { stat } = found;
    return { ...this.entry(found), open, abandon: name === '' ? undefined : () => this.unmake(dir, name, stat) };
  }

  /** Removes `name` from `dir` if it still names the file `made` (its stat) that a failed CREATE made. */
  private unmake(dir: Inode, name: string | Buffer, made: sys.Stat): void {
    try {
      const dirFd = this.inodes.fd(dir);
      const now = sys.fstatat(dirFd, name, sys.AT_SYMLINK_NOFOLLOW);
      if (now.dev === made.dev && now.ino === made.ino) sys.unlinkat(dirFd, name);
    } catch {
      // Gone already, or the directory is: nothing of ours is left to remove.
    }
  }

  /**
   * Without asyncIo the data comes in a buffer that the next read() reuses: the session writes
   * a reply returned at once before it takes the next request (api.ts), and a fresh 128 KiB
   * buffer per READ cost 40-110 µs of CPU here (page faults, and the GC of external memory)
   * where the read itself took 12-14 µs. A direct caller copies what it keeps past its next
   * read(). Reads on the threadpool (asyncIo) overlap, so each has a buffer of its own.
   */
  read(_ctx: RequestContext, _nodeid: number, fh: number, offset: number, size: number): MaybePromise<Buffer> {
    const { fd } = this.files.get(fh);
    if (this.asyncIo) {
      const buf = Buffer.allocUnsafe(size);
      return readAsync(fd, buf, 0, size, offset).then((r) => (r.bytesRead === size ? buf : buf.subarray(0, r.bytesRead)));
    }
    if (this.readBuffer.length < size) this.readBuffer = Buffer.allocUnsafeSlow(size);
    return this.readBuffer.subarray(0, fs.readSync(fd, this.readBuffer, 0, size, offset));
  }

  write(_ctx: RequestContext, _nodeid: number, fh: number, offset: number, data: Buffer,
    writeFlags: number): MaybePromise<number> {
    const handle = this.files.get(fh);
    if (writeFlags & FUSE_WRITE_KILL_SUIDGID) killSuidgid(this.inodes.fd(handle.inode));
    // With O_APPEND on the backing fd, pwrite appends whatever the offset:
    // appends stay atomic even when the source is written by others too.
    return this.asyncIo
      ? writeAsync(handle.fd, data, 0, data.length, offset).then((r) => r.bytesWritten)
      : fs.writeSync(handle.fd, data, 0, data.length, offset);
  }

  /** Sent on every close(2) of the file, by the closing lock owner: POSIX drops its locks then. */
  flush(_ctx: RequestContext, _nodeid: number, fh: number, lockOwner: bigint): void {
    locks.releaseOwner(this.files.get(fh).inode, lockOwner);
  }

  release(_ctx: RequestContext, _nodeid: number, fh: number, _flags: number): void {
    const handle = this.files.take(fh);
    const { fd, inode, flocked } = handle;
    if (this.openFile?.get(inode) === handle) this.openFile.delete(inode);
    // The lock goes with RELEASE, not whenever the threadpool gets to the close.
    if (flocked === true) sys.flock(fd, sys.LOCK_UN);
    // While the inode's O_PATH fd holds the file this close cannot free it: no fstat to ask.
    // Once the fd bound has evicted that fd it may be the last reference; nobody reads the reply.
    if (inode.fd >= 0) fs.closeSync(fd);
    else closeFreeing(fd);
    if (--inode.nopen === 0) locks.releaseAll(inode);
  }

  async fsync(_ctx: RequestContext, _nodeid: number, fh: number, datasync: boolean): Promise<void> {
    // fsync waits for the disk: on the threadpool, not on the thread that serves requests.
    const { fd } = this.files.get(fh);
    await (datasync ? fdatasyncAsync(fd) : fsyncAsync(fd));
  }

  async fallocate(_ctx: RequestContext, _nodeid: number, fh: number, offset: number, length: number,
    mode: number): Promise<void> {
    sys.fallocate(this.files.get(fh).fd, mode, offset, length);
  }

  /** Only SEEK_DATA and SEEK_HOLE get here; the kernel does the others itself. */
  async lseek(_ctx: RequestContext, _nodeid: number, fh: number, offset: number, whence: number): Promise<number> {
    // With writeback cache the data may still be in the kernel's page cache,
    // where the backing file's SEEK_DATA cannot see it (ENXIO for data just
    // written). ENOSYS makes the kernel answer by itself from then on: no
    // holes, but no data missed either.
    if (this.writeback) throw new FuseError('ENOSYS');
    return sys.lseek(this.files.get(fh).fd, offset, whence);
  }

  async copyFileRange(_ctx: RequestContext, args: CopyFileRangeArgs): Promise<number> {
    const fdIn = this.files.get(args.fhIn).fd;
    const fdOut = this.files.get(args.fhOut).fd;
    return sys.copyFileRange(fdIn, args.offsetIn, fdOut, args.offsetOut, args.length, args.flags);
  }

  // ---- locks ----

  async getlk(_ctx: RequestContext, _nodeid: number, fh: number, owner: bigint, lock: FileLock): Promise<FileLock> {
    const handle = this.files.get(fh);
    return locks.getlk(handle.inode, handle, owner, lock);
  }

  async setlk(ctx: RequestContext, _nodeid: number, fh: number, owner: bigint, lock: FileLock,
    sleep: boolean): Promise<void> {
    const handle = this.files.get(fh);
    await locks.setlk(handle.inode, handle, owner, lock, sleep, ctx.signal);
  }

  async flock(ctx: RequestContext, _nodeid: number, fh: number, _owner: bigint, op: number): Promise<void> {
    await locks.flock(this.files.get(fh), op, ctx.signal);
  }

  // ---- directories ----

  async opendir(_ctx: RequestContext, nodeid: number, _flags: number): Promise<OpenReply> {
    const inode = this.inodes.get(nodeid);
    if (inode.type !== S_IFDIR) throw new FuseError('ENOTDIR');
    return { fh: this.dirs.open(inode) };
  }

  /** The stat of a listed name now (its inode number and type). */
  private statEntry(dir: Inode, name: DirEntry): sys.Stat {
    const fd = this.inodes.fd(dir);
    if (name.length <= 2 && isDotOrDotdot(name)) {
      // The root's parent is outside the mount: its ".." is itself, as at any mount root.
      if (name.length === 1 || dir === this.inodes.root) return sys.fstat(fd);
    }
    return sys.fstatat(fd, name, sys.AT_SYMLINK_NOFOLLOW);
  }

  async readdir(_ctx: RequestContext, nodeid: number, fh: number, offset: number, out: DirentSink): Promise<void> {
    // Offsets index into the snapshot (dirs.ts); entries[0] is the name at offset `base`.
    const { inode, entries, base } = await this.dirs.listing(fh, nodeid, offset);
    for (let i = offset - base; i < entries.length; i++) {
      const name = entries[i];
      let stat: sys.Stat;
      try {
        stat = this.statEntry(inode, name);
      } catch (err) {
        if (errorCode(err) === 'ENOENT') continue; // removed since the snapshot
        throw err;
      }
      if (!out.add({ ino: stat.ino, nextOffset: base + i + 1, type: stat.mode & S_IFMT, name })) break;
    }
  }

  async readdirplus(_ctx: RequestContext, nodeid: number, fh: number, offset: number,
    out: DirentPlusSink): Promise<void> {
    const { inode: dir, entries, base } = await this.dirs.listing(fh, nodeid, offset);
    let added = 0;
    for (let i = offset - base; i < entries.length; i++) {
      const name = entries[i];
      if (name.length <= 2 && isDotOrDotdot(name)) {
        // The kernel takes no lookup reference for "." and "..".
        const stat = this.statEntry(dir, name);
        if (!out.add({ ino: stat.ino, nextOffset: base + i + 1, type: S_IFDIR, name }, null)) break;
        added++;
        continue;
      }
      let found: Found;
      try {
        found = this.lookupName(dir, name);
      } catch (err) {
        if (errorCode(err) === 'ENOENT') continue; // removed since the snapshot
        // Entries already added are lookups the kernel will count: they must
        // reach it, so the error can only be reported on an empty reply.
        if (added > 0) break;
        throw err;
      }
      if (!out.add({ ino: found.stat.ino, nextOffset: base + i + 1, type: found.inode.type, name }, this.entry(found))) {
        this.inodes.forget(found.inode.nodeid, 1);
        break;
      }
      added++;
    }
  }

  async releasedir(_ctx: RequestContext, _nodeid: number, fh: number): Promise<void> {
    this.dirs.release(fh);
  }

  async fsyncdir(_ctx: RequestContext, nodeid: number, fh: number, datasync: boolean): Promise<void> {
    const fd = sys.openat(sys.AT_FDCWD, procPath(this.inodes.fd(this.dirs.inode(fh, nodeid))), O_RDONLY | sys.O_DIRECTORY);
    try {
      await (datasync ? fdatasyncAsync(fd) : fsyncAsync(fd));
    } finally {
      fs.closeSync(fd);
    }
  }

  async syncfs(): Promise<void> {
    // syncfs(2) refuses O_PATH fds.
    const fd = sys.openat(sys.AT_FDCWD, procPath(this.inodes.fd(this.inodes.root)), O_RDONLY | sys.O_DIRECTORY);
    try {
      sys.syncfs(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  // ---- extended attributes ----
  // Through /proc/self/fd/N: the f*xattr calls refuse O_PATH fds (EBADF, seen
  // on 6.18), and the path reaches exactly the inode the fd holds — for a
  // symlink, the symlink itself, not its target.

  async setxattr(_ctx: RequestContext, nodeid: number, name: Name, value: Buffer, flags: number): Promise<void> {
    sys.setxattr(procPath(this.nodeFd(nodeid)), name, value, flags);
  }

  getxattr(_ctx: RequestContext, nodeid: number, name: Name): Buffer | null {
    // The kernel asks for security.capability before the first write to every new file, which
    // almost never has one: a missing attribute is answered without an exception
    // (sys.getxattrOrErrno), and through the file's open fd when it has one (right after
    // CREATE it does), which spares the walk through /proc: fgetxattr took 2 µs here, getxattr
    // of /proc/self/fd/N 9-12 µs.
    const inode = this.inodes.get(nodeid);
    const open = this.openFile?.get(inode);
    const value = open !== undefined
      ? sys.fgetxattrOrErrno(open.fd, name)
      : sys.getxattrOrErrno(procPath(this.inodes.fd(inode)), name);
    if (value === -Errno.ENODATA) return null;
    if (typeof value === 'number') throw sys.errnoError(-value, 'getxattr', name);
    return value;
  }

  async listxattr(_ctx: RequestContext, nodeid: number): Promise<string[]> {
    return sys.xattrNames(sys.listxattr(procPath(this.nodeFd(nodeid))));
  }

  async removexattr(_ctx: RequestContext, nodeid: number, name: Name): Promise<void> {
    sys.removexattr(procPath(this.nodeFd(nodeid)), name);
  }
}
