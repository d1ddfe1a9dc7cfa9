// The bridge from the kernel session to the user's filesystem: implements the session's
// Dispatcher on top of a Filesystem (api.ts). One row per opcode: which method serves it and how
// its request becomes the method's arguments and its result the encoded reply. An opcode whose
// method the filesystem leaves out has no row and is answered ENOSYS (the kernel remembers that
// for OPEN, FLUSH, ACCESS, … and stops asking).
import { isUtf8 } from 'node:buffer';
import {
  FATTR_ATIME, FATTR_ATIME_NOW, FATTR_CTIME, FATTR_FH, FATTR_GID, FATTR_KILL_SUIDGID, FATTR_LOCKOWNER, FATTR_MODE,
  FATTR_MTIME, FATTR_MTIME_NOW, FATTR_SIZE, FATTR_UID, FOPEN_CACHE_DIR, FOPEN_DIRECT_IO, FOPEN_KEEP_CACHE,
  FOPEN_NOFLUSH, FOPEN_NONSEEKABLE, FOPEN_PARALLEL_DIRECT_WRITES, FOPEN_STREAM, FUSE_FSYNC_FDATASYNC,
  FUSE_GETATTR_FH, FUSE_LK_FLOCK, FUSE_OPEN_KILL_SUIDGID, FUSE_POLL_SCHEDULE_NOTIFY, Opcode,
} from '../protocol/constants';
import { DirentBuffer, DirentPlusBuffer, direntType } from '../protocol/dirent';
import { Errno } from '../protocol/errors';
import type { InitFlagName } from '../protocol/init-flags';
import type { InitWants, NegotiatedInit } from '../protocol/init';
import {
  encodeAttrReply, encodeBmapReply, encodeCopyFileRange64Reply, encodeCreateReply, encodeDataReply,
  encodeDataReplyHeader, encodeEntryReply, encodeIoctlReply, encodeLkReply, encodeLseekReply, encodeOpenReply,
  encodePollReply, encodeStatfsReply, encodeStatxReply, encodeWriteReply, encodeXattrSizeReply,
} from '../protocol/reply';
import type { ForgetOne, KnownOpcode, Request, RequestOf } from '../protocol/requests';
import type { EntryOut, OpenOut, StatxOut } from '../protocol/types';
import { splitTimeout } from '../protocol/types';
import type { BackingRegistry } from '../kernel/backing';
import type { Dispatcher, Reply, RequestContext } from '../kernel/session';
import {
  F_RDLCK, F_WRLCK, LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN,
  type ConnectionInfo, type CreateReply, type Dirent, type Entry, type Filesystem, type MaybePromise, type Name, type OpenReply,
  type SetattrArgs, type Statfs, type StatxReply,
} from './api';

const DEFAULT_TIMEOUT = 1;
/** The file type bits of st_mode (include/uapi/linux/stat.h). */
const S_IFMT = 0o170000;
const DEFAULT_MAX_WRITE = 1024 * 1024;
/**
 * STATFS for a filesystem without statfs(): what libfuse's lowlevel layer answers (names up to
 * 255 bytes, 512-byte blocks, no counts), so that df(1) and statvfs(3) work instead of failing
 * with ENOSYS.
 */
const DEFAULT_STATFS: Statfs = { blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, bsize: 512, namelen: 255, frsize: 0 };

type Handler<O extends KnownOpcode> = (fs: Filesystem, req: RequestOf<O>, ctx: RequestContext) => Reply | Promise<Reply>;
interface Row<O extends KnownOpcode> {
  /** The methods that must all be present for the row to serve. */
  needs: readonly (keyof Filesystem)[];
  run: Handler<O>;
}
type Table = { [O in KnownOpcode]?: Row<O> };

/**
 * A name argument (api.ts, Name): the decoded string, unless the bytes are not UTF-8. Node's
 * decoder turns every invalid sequence into U+FFFD, so a string without one is the exact
 * decoding and only names holding U+FFFD need the bytes checked.
 */
function nameArg(name: string, bytes: Buffer): Name {
  return name.includes('\ufffd') && !isUtf8(bytes) ? bytes : name;
}

function isPromise<T>(x: MaybePromise<T>): x is Promise<T> {
  return typeof (x as { then?: unknown } | null)?.then === 'function';
}

/**
 * `f` of a handler's result: at once when the handler returned a value (or threw: that
 * propagates to the session as it is), else when its promise settles. The hot rows use it
 * instead of `async`, so that a handler that had nothing to wait for costs no promise and no
 * microtask (api.ts, "Results").
 */
function then<T>(result: MaybePromise<T>, f: (value: T) => Reply | Promise<Reply>): Reply | Promise<Reply> {
  return isPromise(result) ? result.then(f) : f(result);
}

export function entryOut(e: Entry): EntryOut {
  const [entryValid, entryValidNsec] = splitTimeout(e.entryTimeout ?? DEFAULT_TIMEOUT);
  const [attrValid, attrValidNsec] = splitTimeout(e.attrTimeout ?? DEFAULT_TIMEOUT);
  return { nodeid: e.nodeid, generation: e.generation ?? 0, entryValid, entryValidNsec, attrValid, attrValidNsec, attr: e.attr };
}

/**
 * fuse_open_out for an open reply. `fileOf` is the filesystem, for a file (not directory) open:
 * without a flush() method the open gets FOPEN_NOFLUSH, so no close(2) waits for a FLUSH round
 * trip only to learn ENOSYS. That also keeps a child's exec from blocking in FLUSH on a file
 * it inherited from a server process holding its own mount's files open: libuv's spawn waits
 * for that exec on the very thread that would have to answer.
 */
export function openOut(o: OpenReply, fileOf?: Filesystem): OpenOut {
  let openFlags = 0;
  if (fileOf !== undefined && typeof fileOf.flush !== 'function') openFlags |= FOPEN_NOFLUSH;
  if (o.directIo) openFlags |= FOPEN_DIRECT_IO;
  if (o.keepCache) openFlags |= FOPEN_KEEP_CACHE;
  if (o.nonseekable) openFlags |= FOPEN_NONSEEKABLE;
  if (o.cacheDir) openFlags |= FOPEN_CACHE_DIR;
  if (o.stream) openFlags |= FOPEN_STREAM;
  if (o.noflush) openFlags |= FOPEN_NOFLUSH;
  if (o.parallelDirectWrites) openFlags |= FOPEN_PARALLEL_DIRECT_WRITES;
  // OPENDIR: directories never pass through. Files go through fileOpenOut.
  return { fh: o.fh, openFlags };
}

/**
 * OPEN/CREATE/TMPFILE: the session's backing registry decides
 * whether this open passes through (one shared backing id per inode, see src/kernel/backing.ts)
 * and counts it until RELEASE; only then does the open's commit() change the file (O_TRUNC).
 * If either fails (passthrough required but refused), or if the kernel later refuses the reply,
 * the filesystem's open is undone, since no RELEASE will ever come for it — and for
 * CREATE/TMPFILE (`created`) what the create made, and the lookup reference the entry carried,
 * since no FORGET will come either.
 */
function fileOpenOut(fs: Filesystem, ctx: RequestContext, nodeid: number, o: OpenReply, flags: number,
  created?: CreateReply): MaybePromise<OpenOut> {
  // What the create made, then the reference: as FORGET would come after RELEASE.
  const forget = (): void => {
    if (created === undefined) return;
    try {
      created.abandon?.();
    } catch {
      // Best effort: the error being answered is the one that matters.
    } finally {
      fs.forget?.(nodeid, 1);
    }
  };
  const undo = (): void => {
    let released: MaybePromise<void>;
    try {
      released = fs.release?.(ctx, nodeid, o.fh, flags);
    } catch {
      released = undefined;
    }
    if (isPromise(released)) released.catch(() => {}).then(forget);
    else forget();
  };
  let out: OpenOut;
  let committed: void | Promise<void>;
  try {
    out = ctx.openOut(nodeid, { ...openOut(o, fs), passthrough: o.backingFd !== undefined, backingFd: backingFdOf(o) });
    committed = o.commit?.();
  } catch (err) {
    undo();
    throw err;
  }
  // Nor will they come if the kernel refuses the reply (the opener gave up): as libfuse does.
  if (!isPromise(committed)) {
    ctx.onUndelivered(undo);
    return out;
  }
  return committed.then(() => {
    ctx.onUndelivered(undo);
    return out;
  }, (err: unknown) => {
    undo();
    throw err;
  });
}

/** OpenReply.backingFd, checked: anything but an fd number is a bug in the filesystem, not a request. */
function backingFdOf(o: OpenReply): number | undefined {
  const fd = o.backingFd;
  if (fd !== undefined && !(Number.isInteger(fd) && fd >= 0)) {
    throw new TypeError(`OpenReply.backingFd ${String(fd)} is not a file descriptor`);
  }
  return fd;
}

function statxOut(r: StatxReply): StatxOut {
  const [attrValid, attrValidNsec] = splitTimeout(r.attrTimeout ?? DEFAULT_TIMEOUT);
  const a = r.attr;
  const t = (sec: number, nsec: number): { tvSec: number; tvNsec: number } => ({ tvSec: sec, tvNsec: nsec });
  return {
    attrValid,
    attrValidNsec,
    flags: a.flags,
    stat: {
      mask: r.mask,
      blksize: a.blksize,
      attributes: r.attributes ?? 0,
      nlink: a.nlink,
      uid: a.uid,
      gid: a.gid,
      mode: a.mode,
      ino: a.ino,
      size: a.size,
      blocks: a.blocks,
      attributesMask: r.attributesMask ?? 0,
      atime: t(a.atime, a.atimensec),
      btime: r.btime ? t(r.btime.sec, r.btime.nsec) : t(0, 0),
      ctime: t(a.ctime, a.ctimensec),
      mtime: t(a.mtime, a.mtimensec),
      // fuse_attr.rdev is the kernel's 32-bit new_encode_dev() form.
      rdevMajor: (a.rdev & 0xfff00) >>> 8,
      rdevMinor: (a.rdev & 0xff) | ((a.rdev >>> 12) & 0xfff00),
      devMajor: 0,
      devMinor: 0,
    },
  };
}

/**
 * d_type of a Dirent (api.ts): its `type` is the S_IFMT bits of st_mode or 0, nothing else. The
 * DT_* values are those bits shifted down, but 1-14 would also read as mode bits (permissions),
 * so accepting both forms would leave some values ambiguous: anything else is a bug to report.
 */
function dtOf(type: number): number {
  if (!Number.isInteger(type) || (type & ~S_IFMT) !== 0) {
    throw new TypeError(`Dirent.type ${String(type)} is not a file type: expected the S_IFMT bits of st_mode (e.g. fs.constants.S_IFDIR) or 0`);
  }
  return direntType(type);
}

function setattrArgs(req: RequestOf<Opcode.SETATTR>): SetattrArgs {
  const v = req.valid;
  const a: SetattrArgs = {};
  if (v & FATTR_MODE) a.mode = req.mode;
  if (v & FATTR_UID) a.uid = req.uid;
  if (v & FATTR_GID) a.gid = req.gid;
  if (v & FATTR_SIZE) a.size = req.size;
  if (v & FATTR_ATIME) a.atime = v & FATTR_ATIME_NOW ? 'now' : { sec: req.atime, nsec: req.atimensec };
  if (v & FATTR_MTIME) a.mtime = v & FATTR_MTIME_NOW ? 'now' : { sec: req.mtime, nsec: req.mtimensec };
  if (v & FATTR_CTIME) a.ctime = { sec: req.ctime, nsec: req.ctimensec };
  if (v & FATTR_FH) a.fh = req.fh;
  if (v & FATTR_LOCKOWNER) a.lockOwner = req.lockOwner;
  if (v & FATTR_KILL_SUIDGID) a.killSuidgid = true;
  return a;
}

/** GETXATTR/LISTXATTR: size 0 asks how big; a value larger than the caller's buffer is ERANGE. */
function xattrReply(unique: number, requested: number, value: Buffer | null): Reply {
  if (value === null) return Errno.ENODATA;
  if (requested === 0) return encodeXattrSizeReply(unique, value.length);
  if (value.length > requested) return Errno.ERANGE;
  return [encodeDataReplyHeader(unique, value.length), value];
}

function dataReply(unique: number, data: Buffer, max: number): Reply {
  const d = data.length > max ? data.subarray(0, max) : data;
  return d.length === 0 ? encodeDataReplyHeader(unique, 0) : [encodeDataReplyHeader(unique, d.length), d];
}

const isFlock = (req: RequestOf<Opcode.SETLK | Opcode.SETLKW>): boolean => (req.lkFlags & FUSE_LK_FLOCK) !== 0;

function flockOp(type: number, wait: boolean): number {
  // The kernel sends flock() as SETLK/SETLKW with FUSE_LK_FLOCK and the lock type F_RDLCK/F_WRLCK/F_UNLCK.
  const op = type === F_RDLCK ? LOCK_SH : type === F_WRLCK ? LOCK_EX : LOCK_UN;
  return op === LOCK_UN || wait ? op : op | LOCK_NB;
}

// The table. `fs.method!` is safe: a row only serves when every method in `needs` exists.
const TABLE: Table = {
  [Opcode.LOOKUP]: {
    needs: ['lookup'],
    run: (fs, req, ctx) => {
      return then(fs.lookup!(ctx, req.header.nodeid, nameArg(req.name, req.nameBytes)), (e) => encodeEntryReply(req.header.unique, entryOut(e)));
    },
  },
  [Opcode.GETATTR]: {
    needs: ['getattr'],
    run: (fs, req, ctx) => {
      const fh = req.getattrFlags & FUSE_GETATTR_FH ? req.fh : undefined;
      return then(fs.getattr!(ctx, req.header.nodeid, fh), (r) => {
        const [attrValid, attrValidNsec] = splitTimeout(r.attrTimeout ?? DEFAULT_TIMEOUT);
        return encodeAttrReply(req.header.unique, { attrValid, attrValidNsec, attr: r.attr });
      });
    },
  },
  [Opcode.SETATTR]: {
    needs: ['setattr'],
    run: async (fs, req, ctx) => {
      const r = await fs.setattr!(ctx, req.header.nodeid, setattrArgs(req));
      const [attrValid, attrValidNsec] = splitTimeout(r.attrTimeout ?? DEFAULT_TIMEOUT);
      return encodeAttrReply(req.header.unique, { attrValid, attrValidNsec, attr: r.attr });
    },
  },
  [Opcode.READLINK]: {
    needs: ['readlink'],
    run: async (fs, req, ctx) => {
      const target = await fs.readlink!(ctx, req.header.nodeid);
      return encodeDataReply(req.header.unique, typeof target === 'string' ? Buffer.from(target) : target);
    },
  },
  [Opcode.SYMLINK]: {
    needs: ['symlink'],
    run: async (fs, req, ctx) => {
      return encodeEntryReply(req.header.unique, entryOut(await fs.symlink!(ctx, req.header.nodeid, nameArg(req.name, req.nameBytes), nameArg(req.target, req.targetBytes))));
    },
  },
  [Opcode.MKNOD]: {
    needs: ['mknod'],
    run: async (fs, req, ctx) => {
      ctx.umask = req.umask;
      return encodeEntryReply(req.header.unique, entryOut(await fs.mknod!(ctx, req.header.nodeid, nameArg(req.name, req.nameBytes), req.mode, req.rdev)));
    },
  },
  [Opcode.MKDIR]: {
    needs: ['mkdir'],
    run: async (fs, req, ctx) => {
      ctx.umask = req.umask;
      return encodeEntryReply(req.header.unique, entryOut(await fs.mkdir!(ctx, req.header.nodeid, nameArg(req.name, req.nameBytes), req.mode)));
    },
  },
  [Opcode.UNLINK]: {
    needs: ['unlink'],
    run: async (fs, req, ctx) => {
      return (await fs.unlink!(ctx, req.header.nodeid, nameArg(req.name, req.nameBytes)), 0);
    },
  },
  [Opcode.RMDIR]: {
    needs: ['rmdir'],
    run: async (fs, req, ctx) => {
      return (await fs.rmdir!(ctx, req.header.nodeid, nameArg(req.name, req.nameBytes)), 0);
    },
  },
  [Opcode.RENAME]: {
    needs: ['rename'],
    run: async (fs, req, ctx) => {
      return (await fs.rename!(ctx, req.header.nodeid, nameArg(req.name, req.nameBytes), req.newdir,
        nameArg(req.newName, req.newNameBytes), 0), 0);
    },
  },
  [Opcode.RENAME2]: {
    needs: ['rename'],
    run: async (fs, req, ctx) => {
      return (await fs.rename!(ctx, req.header.nodeid, nameArg(req.name, req.nameBytes), req.newdir,
        nameArg(req.newName, req.newNameBytes), req.flags), 0);
    },
  },
  [Opcode.LINK]: {
    needs: ['link'],
    run: async (fs, req, ctx) => {
      return encodeEntryReply(req.header.unique, entryOut(await fs.link!(ctx, req.oldnodeid, req.header.nodeid, nameArg(req.name, req.nameBytes))));
    },
  },
  [Opcode.OPEN]: {
    needs: ['open'],
    run: (fs, req, ctx) => {
      return then(fs.open!(ctx, req.header.nodeid, req.flags, (req.openFlags & FUSE_OPEN_KILL_SUIDGID) !== 0),
        (r) => then(fileOpenOut(fs, ctx, req.header.nodeid, r, req.flags), (open) => encodeOpenReply(req.header.unique, open)));
    },
  },
  [Opcode.READ]: {
    needs: ['read'],
    run: (fs, req, ctx) =>
      then(fs.read!(ctx, req.header.nodeid, req.fh, req.offset, req.size), (data) => dataReply(req.header.unique, data, req.size)),
  },
  [Opcode.WRITE]: {
    needs: ['write'],
    run: (fs, req, ctx) =>
      then(fs.write!(ctx, req.header.nodeid, req.fh, req.offset, req.data, req.writeFlags), (n) => encodeWriteReply(req.header.unique, n)),
  },
  [Opcode.STATFS]: {
    needs: [],
    run: async (fs, req, ctx) =>
      encodeStatfsReply(req.header.unique, fs.statfs === undefined ? DEFAULT_STATFS : await fs.statfs(ctx, req.header.nodeid)),
  },
  [Opcode.RELEASE]: {
    needs: ['release'],
    run: (fs, req, ctx) => then(fs.release!(ctx, req.header.nodeid, req.fh, req.flags), () => 0),
  },
  [Opcode.FSYNC]: {
    needs: ['fsync'],
    run: async (fs, req, ctx) => (await fs.fsync!(ctx, req.header.nodeid, req.fh, (req.fsyncFlags & FUSE_FSYNC_FDATASYNC) !== 0), 0),
  },
  [Opcode.SETXATTR]: {
    needs: ['setxattr'],
    run: async (fs, req, ctx) => (await fs.setxattr!(ctx, req.header.nodeid, nameArg(req.name, req.nameBytes), req.value, req.flags), 0),
  },
  [Opcode.GETXATTR]: {
    needs: ['getxattr'],
    run: (fs, req, ctx) => then(fs.getxattr!(ctx, req.header.nodeid, nameArg(req.name, req.nameBytes)), (value) => xattrReply(req.header.unique, req.size, value)),
  },
  [Opcode.LISTXATTR]: {
    needs: ['listxattr'],
    run: async (fs, req, ctx) => {
      const names = await fs.listxattr!(ctx, req.header.nodeid);
      const list = Buffer.concat(names.flatMap((n) => [typeof n === 'string' ? Buffer.from(n) : n, Buffer.alloc(1)]));
      return xattrReply(req.header.unique, req.size, list);
    },
  },
  [Opcode.REMOVEXATTR]: {
    needs: ['removexattr'],
    run: async (fs, req, ctx) => (await fs.removexattr!(ctx, req.header.nodeid, nameArg(req.name, req.nameBytes)), 0),
  },
  [Opcode.FLUSH]: {
    needs: ['flush'],
    run: (fs, req, ctx) => then(fs.flush!(ctx, req.header.nodeid, req.fh, req.lockOwner), () => 0),
  },
  [Opcode.OPENDIR]: {
    needs: ['opendir'],
    run: async (fs, req, ctx) => encodeOpenReply(req.header.unique, openOut(await fs.opendir!(ctx, req.header.nodeid, req.flags))),
  },
  [Opcode.READDIR]: {
    needs: ['readdir'],
    run: async (fs, req, ctx) => {
      const out = new DirentBuffer(req.size);
      await fs.readdir!(ctx, req.header.nodeid, req.fh, req.offset, {
        add: (e: Dirent) => out.add(e.name, e.ino, e.nextOffset, dtOf(e.type)),
      });
      return out.reply(req.header.unique);
    },
  },
  [Opcode.READDIRPLUS]: {
    needs: ['readdirplus'],
    run: async (fs, req, ctx) => {
      const out = new DirentPlusBuffer(req.size);
      await fs.readdirplus!(ctx, req.header.nodeid, req.fh, req.offset, {
        add: (e: Dirent, lookup: Entry | null) => out.add(e.name, lookup !== null ? entryOut(lookup) : nameOnly(e), e.nextOffset),
      });
      return out.reply(req.header.unique);
    },
  },
  [Opcode.RELEASEDIR]: {
    needs: ['releasedir'],
    run: async (fs, req, ctx) => (await fs.releasedir!(ctx, req.header.nodeid, req.fh), 0),
  },
  [Opcode.FSYNCDIR]: {
    needs: ['fsyncdir'],
    run: async (fs, req, ctx) => (await fs.fsyncdir!(ctx, req.header.nodeid, req.fh, (req.fsyncFlags & FUSE_FSYNC_FDATASYNC) !== 0), 0),
  },
  [Opcode.GETLK]: {
    needs: ['getlk'],
    run: async (fs, req, ctx) => encodeLkReply(req.header.unique, await fs.getlk!(ctx, req.header.nodeid, req.fh, req.owner, req.lk)),
  },
  [Opcode.SETLK]: {
    needs: [],
    run: async (fs, req, ctx) => setlk(fs, req, ctx, false),
  },
  [Opcode.SETLKW]: {
    needs: [],
    run: async (fs, req, ctx) => setlk(fs, req, ctx, true),
  },
  [Opcode.ACCESS]: {
    needs: ['access'],
    run: async (fs, req, ctx) => (await fs.access!(ctx, req.header.nodeid, req.mask), 0),
  },
  [Opcode.CREATE]: {
    needs: ['create'],
    run: (fs, req, ctx) => {
      ctx.umask = req.umask;
      return then(fs.create!(ctx, req.header.nodeid, nameArg(req.name, req.nameBytes), req.mode, req.flags,
        (req.openFlags & FUSE_OPEN_KILL_SUIDGID) !== 0),
        (r) => then(fileOpenOut(fs, ctx, r.nodeid, r.open, req.flags, r), (open) => encodeCreateReply(req.header.unique, entryOut(r), open)));
    },
  },
  [Opcode.BMAP]: {
    needs: ['bmap'],
    run: async (fs, req, ctx) => encodeBmapReply(req.header.unique, await fs.bmap!(ctx, req.header.nodeid, req.blocksize, req.block)),
  },
  [Opcode.IOCTL]: {
    needs: ['ioctl'],
    run: async (fs, req, ctx) => {
      const r = await fs.ioctl!(ctx, req.header.nodeid, req.fh, req.cmd, req.arg, req.data, req.outSize, req.flags);
      return encodeIoctlReply(req.header.unique, { result: r.result, data: r.output });
    },
  },
  [Opcode.POLL]: {
    needs: ['poll'],
    run: async (fs, req, ctx) => {
      const kh = req.flags & FUSE_POLL_SCHEDULE_NOTIFY ? req.kh : null;
      return encodePollReply(req.header.unique, await fs.poll!(ctx, req.header.nodeid, req.fh, req.events, kh));
    },
  },
  [Opcode.FALLOCATE]: {
    needs: ['fallocate'],
    run: async (fs, req, ctx) => (await fs.fallocate!(ctx, req.header.nodeid, req.fh, req.offset, req.length, req.mode), 0),
  },
  [Opcode.LSEEK]: {
    needs: ['lseek'],
    run: async (fs, req, ctx) => encodeLseekReply(req.header.unique, await fs.lseek!(ctx, req.header.nodeid, req.fh, req.offset, req.whence)),
  },
  [Opcode.COPY_FILE_RANGE]: {
    needs: ['copyFileRange'],
    run: async (fs, req, ctx) => encodeWriteReply(req.header.unique, await copyFileRange(fs, req, ctx)),
  },
  [Opcode.COPY_FILE_RANGE_64]: {
    needs: ['copyFileRange'],
    run: async (fs, req, ctx) => encodeCopyFileRange64Reply(req.header.unique, await copyFileRange(fs, req, ctx)),
  },
  [Opcode.TMPFILE]: {
    needs: ['tmpfile'],
    run: async (fs, req, ctx) => {
      ctx.umask = req.umask;
      const r = await fs.tmpfile!(ctx, req.header.nodeid, req.mode, req.flags);
      return encodeCreateReply(req.header.unique, entryOut(r), await fileOpenOut(fs, ctx, r.nodeid, r.open, req.flags, r));
    },
  },
  [Opcode.STATX]: {
    needs: ['statx'],
    run: (fs, req, ctx) => {
      const fh = req.getattrFlags & FUSE_GETATTR_FH ? req.fh : undefined;
      return then(fs.statx!(ctx, req.header.nodeid, fh, req.sxFlags, req.sxMask), (r) => encodeStatxReply(req.header.unique, statxOut(r)));
    },
  },
  [Opcode.SYNCFS]: {
    needs: ['syncfs'],
    run: async (fs, req, ctx) => (await fs.syncfs!(ctx, req.header.nodeid), 0),
  },
};

/** A READDIRPLUS entry without a lookup: the kernel gets the name and type, no inode reference. */
function nameOnly(e: Dirent): EntryOut {
  const attr = { ino: e.ino, size: 0, blocks: 0, atime: 0, mtime: 0, ctime: 0, atimensec: 0, mtimensec: 0, ctimensec: 0, mode: dtOf(e.type) << 12, nlink: 0, uid: 0, gid: 0, rdev: 0, blksize: 0, flags: 0 };
  return { nodeid: 0, generation: 0, entryValid: 0, entryValidNsec: 0, attrValid: 0, attrValidNsec: 0, attr };
}

/** SETLK/SETLKW: flock(2) arrives with FUSE_LK_FLOCK, fcntl locks without. */
async function setlk(fs: Filesystem, req: RequestOf<Opcode.SETLK | Opcode.SETLKW>, ctx: RequestContext, wait: boolean): Promise<Reply> {
  if (isFlock(req)) {
    if (fs.flock === undefined) return Errno.ENOSYS;
    await fs.flock(ctx, req.header.nodeid, req.fh, req.owner, flockOp(req.lk.type, wait));
  } else {
    if (fs.setlk === undefined) return Errno.ENOSYS;
    await fs.setlk(ctx, req.header.nodeid, req.fh, req.owner, req.lk, wait);
  }
  return 0;
}

function copyFileRange(fs: Filesystem, req: RequestOf<Opcode.COPY_FILE_RANGE | Opcode.COPY_FILE_RANGE_64>, ctx: RequestContext): MaybePromise<number> {
  return fs.copyFileRange!(ctx, {
    nodeIn: req.header.nodeid,
    fhIn: req.fhIn,
    offsetIn: req.offIn,
    nodeOut: req.nodeidOut,
    fhOut: req.fhOut,
    offsetOut: req.offOut,
    length: req.len,
    flags: req.flags,
  });
}

/** The session's Dispatcher for a Filesystem. */
export class Bridge implements Dispatcher {
  private readonly handlers: (Handler<KnownOpcode> | undefined)[] = [];
  /** What the filesystem's init() was shown. */
  connection: ConnectionInfo | null = null;
  /** The serving session's backing ids (useBacking()), for ConnectionInfo.checkBacking. */
  private backing: BackingRegistry | null = null;

  constructor(private readonly fs: Filesystem) {
    for (const [op, row] of Object.entries(TABLE) as [string, Row<KnownOpcode>][]) {
      if (row.needs.every((m) => typeof fs[m] === 'function')) this.handlers[Number(op)] = row.run;
    }
    if (typeof fs.setlk !== 'function' && typeof fs.flock !== 'function') {
      this.handlers[Opcode.SETLK] = undefined;
      this.handlers[Opcode.SETLKW] = undefined;
    }
  }

  /** The directory the filesystem's backing files come from (features.backingDirFd). */
  get backingDirFd(): number | undefined {
    return this.fs.features?.backingDirFd;
  }

  /** The largest WRITE the filesystem accepts; the session's read buffers are sized from it. */
  get maxWrite(): number {
    return this.fs.features?.maxWrite ?? DEFAULT_MAX_WRITE;
  }

  useBacking(registry: BackingRegistry | null): void {
    this.backing = registry;
  }

  initWants(): InitWants {
    const fs = this.fs;
    const f = fs.features ?? {};
    const flags: InitFlagName[] = ['FUSE_ASYNC_READ', 'FUSE_AUTO_INVAL_DATA', 'FUSE_ASYNC_DIO'];
    const want = (on: boolean | undefined, ...names: InitFlagName[]): void => {
      if (on) flags.push(...names);
    };
    want(f.parallelDirops ?? true, 'FUSE_PARALLEL_DIROPS');
    want(f.readdirplus ?? typeof fs.readdirplus === 'function', 'FUSE_DO_READDIRPLUS', 'FUSE_READDIRPLUS_AUTO');
    want(f.posixLocks ?? (typeof fs.getlk === 'function' && typeof fs.setlk === 'function'), 'FUSE_POSIX_LOCKS');
    want(f.flockLocks ?? typeof fs.flock === 'function', 'FUSE_FLOCK_LOCKS');
    want(f.handleKillprivV2, 'FUSE_HANDLE_KILLPRIV_V2');
    want(f.dontMask, 'FUSE_DONT_MASK');
    want(f.atomicOTrunc, 'FUSE_ATOMIC_O_TRUNC');
    want(f.exportSupport, 'FUSE_EXPORT_SUPPORT');
    want(f.cacheSymlinks, 'FUSE_CACHE_SYMLINKS');
    want(typeof fs.ioctl === 'function', 'FUSE_HAS_IOCTL_DIR');
    return {
      flags,
      maxWrite: this.maxWrite,
      passthrough: f.passthrough,
      maxStackDepth: f.maxStackDepth,
      writebackCache: f.writebackCache,
    };
  }

  async init(negotiated: NegotiatedInit): Promise<void> {
    this.connection = {
      protoMajor: negotiated.major,
      protoMinor: negotiated.minor,
      flags: new Set(negotiated.flags),
      maxWrite: negotiated.maxWrite,
      maxReadahead: negotiated.maxReadahead,
      passthrough: negotiated.passthrough,
      checkBacking: (dirFd: number) => this.backing?.checkDir(dirFd),
    };
    await this.fs.init?.(this.connection);
  }

  dispatch(req: Request, ctx: RequestContext): Reply | Promise<Reply> {
    const run = this.handlers[req.opcode];
    return run === undefined ? Errno.ENOSYS : run(this.fs, req as RequestOf<KnownOpcode>, ctx);
  }

  forget(items: readonly ForgetOne[]): void {
    const fs = this.fs;
    if (fs.batchForget !== undefined && items.length > 1) fs.batchForget(items);
    else if (fs.forget !== undefined) for (const it of items) fs.forget(it.nodeid, it.nlookup);
    else fs.batchForget?.(items);
  }

  async destroy(): Promise<void> {
    await this.fs.destroy?.();
  }
}
