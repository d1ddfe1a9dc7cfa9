// One row per opcode (go-fuse opcode.go style): name, input struct, number of NUL-terminated
// names after it, whether and how it is answered, and the decoder that builds the typed request.
// decodeRequest() does the size and name checks from the row and then calls row.decode; debug
// names come from row.name; the session takes from the row whether the request keeps its read
// buffer and which numbers it refuses. Adding an opcode means adding a row here and a body type
// in requests.ts (README.md lists the rest).
import { Opcode } from './constants';
import * as L from './layouts';
import { checkBufferSize, checkCopyFileRange, checkFallocate, checkLseek, checkRead, checkSetattr, checkWrite } from './limits';
import type { StructDef } from './layouts';
import type { DecodeContext, ForgetOne, RemovemappingOne, RequestOf, KnownOpcode, ReadArgs, ReleaseArgs, FsyncArgs, LkArgs, CreateArgs, CopyFileRangeArgs } from './requests';
import type { InHeader } from './types';
import { readBig64, readS64, readU64, readUnique } from './wire';

/** Which reply encoder answers an opcode ('none': the kernel expects no reply at all). */
export type ReplyKind =
  | 'none' | 'empty' | 'entry' | 'attr' | 'open' | 'create' | 'data' | 'write' | 'statfs'
  | 'xattr' | 'init' | 'dirents' | 'direntplus' | 'lk' | 'bmap' | 'ioctl' | 'poll' | 'lseek'
  | 'statx' | 'copy-file-range-64' | 'cuse-init';

/**
 * Where the parts of a request body are, filled in by decodeRequest before it calls a row's
 * decoder. One module-level instance is reused (decoding is synchronous), so decoders must not
 * keep it.
 */
export interface BodyView {
  buf: Buffer;
  /** Offset of the input struct (right after fuse_in_header). */
  body: number;
  /** End of the body: the extensions (if any) start here. */
  end: number;
  /** Name i occupies [nameStart[i], nameEnd[i]) (the NUL is at nameEnd[i]). */
  nameStart: [number, number];
  nameEnd: [number, number];
  /** First byte after the struct and names: data payloads start here. */
  tail: number;
  /** Raw extensions view, or undefined when total_extlen is 0. */
  extensions: Buffer | undefined;
  ctx: DecodeContext;
}

/** A decoder returns the request, or a message for an EINVAL decode error. */
export type Decoder<O extends KnownOpcode> = (h: InHeader, v: BodyView) => RequestOf<O> | string;

export interface OpcodeRow<O extends KnownOpcode = KnownOpcode> {
  opcode: O;
  /** Debug name: the header's name without FUSE_. */
  name: string;
  /** The input struct, or null for opcodes without one. */
  in: StructDef<string> | null;
  /** The body size the struct occupies on this connection, when older minors used a shorter one. */
  inSize?: (ctx: DecodeContext) => number;
  /** NUL-terminated names following the struct. */
  names: 0 | 1 | 2;
  /** Whether the kernel waits for a reply. */
  reply: boolean;
  replyKind: ReplyKind;
  decode: Decoder<O>;
  /**
   * The decoded request keeps views into the buffer it was read into (a data payload) until it
   * is answered: the transport reads the next request into another buffer meanwhile.
   */
  keepsBuffer?: true;
  /**
   * 0 when the request's numbers are ones a real kernel sends, else the positive errno to answer
   * it with before any filesystem sees it (limits.ts); may clamp a field in place.
   */
  implausible?: (req: RequestOf<O>) => number;
}

// ---- shared field readers ---------------------------------------------------------------------

function nameOf(v: BodyView, i: 0 | 1): string {
  return v.buf.toString('utf8', v.nameStart[i], v.nameEnd[i]);
}
// A copy, not a view: a handler may read the bytes after an await, when the read buffer already
// holds a later request (the transport keeps a buffer only for the data payloads of WRITE,
// SETXATTR and IOCTL). Byte by byte into a pooled Buffer.allocUnsafe, a name of up to 64 bytes
// costs what subarray() did (~100 ns on Node 20: decoding a LOOKUP of an 18-byte name took
// ~500 ns before and after); Buffer.copy's native call is cheaper only for longer names.
function nameBytesOf(v: BodyView, i: 0 | 1): Buffer {
  const b = v.buf;
  const start = v.nameStart[i];
  const n = v.nameEnd[i] - start;
  const out = Buffer.allocUnsafe(n);
  if (n > 64) b.copy(out, 0, start, start + n);
  else for (let k = 0; k < n; k++) out[k] = b[start + k];
  return out;
}

// The helpers below build the whole request object in one literal (no spread) so each opcode
// keeps a single object shape on the hot path.
type ReadOp = Opcode.READ | Opcode.READDIR | Opcode.READDIRPLUS;
const RD = L.fuse_read_in.off;
function readRequest<O extends ReadOp>(opcode: O, header: InHeader, v: BodyView): RequestOf<O> {
  const b = v.buf;
  const p = v.body;
  // Minor < 9 sent 24 bytes (fh, offset, size, padding): no lock owner or flags.
  const full = v.ctx.minor >= 9;
  return {
    opcode,
    header,
    fh: readU64(b, p + RD.fh),
    offset: readU64(b, p + RD.offset),
    size: b.readUInt32LE(p + RD.size),
    readFlags: full ? b.readUInt32LE(p + RD.read_flags) : 0,
    lockOwner: full ? readBig64(b, p + RD.lock_owner) : 0n,
    flags: full ? b.readUInt32LE(p + RD.flags) : 0,
  } satisfies { opcode: O; header: InHeader } & ReadArgs as RequestOf<O>;
}

const REL = L.fuse_release_in.off;
function releaseRequest<O extends Opcode.RELEASE | Opcode.RELEASEDIR>(opcode: O, header: InHeader, v: BodyView): RequestOf<O> {
  const b = v.buf;
  const p = v.body;
  return {
    opcode,
    header,
    fh: readU64(b, p + REL.fh),
    flags: b.readUInt32LE(p + REL.flags),
    releaseFlags: b.readUInt32LE(p + REL.release_flags),
    lockOwner: readBig64(b, p + REL.lock_owner),
  } satisfies { opcode: O; header: InHeader } & ReleaseArgs as RequestOf<O>;
}

const FS = L.fuse_fsync_in.off;
function fsyncRequest<O extends Opcode.FSYNC | Opcode.FSYNCDIR>(opcode: O, header: InHeader, v: BodyView): RequestOf<O> {
  return {
    opcode,
    header,
    fh: readU64(v.buf, v.body + FS.fh),
    fsyncFlags: v.buf.readUInt32LE(v.body + FS.fsync_flags),
  } satisfies { opcode: O; header: InHeader } & FsyncArgs as RequestOf<O>;
}

const LK = L.fuse_lk_in.off;
const FL = L.fuse_file_lock.off;
function lkRequest<O extends Opcode.GETLK | Opcode.SETLK | Opcode.SETLKW>(opcode: O, header: InHeader, v: BodyView): RequestOf<O> {
  const b = v.buf;
  const p = v.body;
  const q = p + LK.lk;
  return {
    opcode,
    header,
    fh: readU64(b, p + LK.fh),
    owner: readBig64(b, p + LK.owner),
    lk: {
      start: readU64(b, q + FL.start),
      end: readU64(b, q + FL.end),
      type: b.readUInt32LE(q + FL.type),
      pid: b.readUInt32LE(q + FL.pid),
    },
    lkFlags: b.readUInt32LE(p + LK.lk_flags),
  } satisfies { opcode: O; header: InHeader } & LkArgs as RequestOf<O>;
}

const CR = L.fuse_create_in.off;
function createRequest<O extends Opcode.CREATE | Opcode.TMPFILE>(opcode: O, header: InHeader, v: BodyView): RequestOf<O> {
  const b = v.buf;
  const p = v.body;
  // Minor < 12 sent a fuse_open_in-sized struct (flags, mode): no umask, no open_flags.
  const full = v.ctx.minor >= 12;
  return {
    opcode,
    header,
    flags: b.readUInt32LE(p + CR.flags),
    mode: b.readUInt32LE(p + CR.mode),
    umask: full ? b.readUInt32LE(p + CR.umask) : 0,
    openFlags: full ? b.readUInt32LE(p + CR.open_flags) : 0,
    name: nameOf(v, 0),
    nameBytes: nameBytesOf(v, 0),
    extensions: v.extensions,
  } satisfies { opcode: O; header: InHeader } & CreateArgs as RequestOf<O>;
}

const CFR = L.fuse_copy_file_range_in.off;
function copyFileRangeRequest<O extends Opcode.COPY_FILE_RANGE | Opcode.COPY_FILE_RANGE_64>(opcode: O, header: InHeader, v: BodyView): RequestOf<O> {
  const b = v.buf;
  const p = v.body;
  return {
    opcode,
    header,
    fhIn: readU64(b, p + CFR.fh_in),
    offIn: readU64(b, p + CFR.off_in),
    nodeidOut: readU64(b, p + CFR.nodeid_out),
    fhOut: readU64(b, p + CFR.fh_out),
    offOut: readU64(b, p + CFR.off_out),
    len: readU64(b, p + CFR.len),
    flags: readU64(b, p + CFR.flags),
  } satisfies { opcode: O; header: InHeader } & CopyFileRangeArgs as RequestOf<O>;
}

const OI = L.fuse_open_in.off;
const SA = L.fuse_setattr_in.off;
const GA = L.fuse_getattr_in.off;
const MN = L.fuse_mknod_in.off;
const MD = L.fuse_mkdir_in.off;
const WR = L.fuse_write_in.off;
const SX = L.fuse_setxattr_in.off;
const GX = L.fuse_getxattr_in.off;
const INI = L.fuse_init_in.off;
const IO = L.fuse_ioctl_in.off;
const PO = L.fuse_poll_in.off;
const FA = L.fuse_fallocate_in.off;
const LS = L.fuse_lseek_in.off;
const SM = L.fuse_setupmapping_in.off;
const STX = L.fuse_statx_in.off;
const NRI = L.fuse_notify_retrieve_in.off;
const FO = L.fuse_forget_one.off;
const RMO = L.fuse_removemapping_one.off;

// ---- the table --------------------------------------------------------------------------------

function row<O extends KnownOpcode>(r: OpcodeRow<O>): OpcodeRow<O> {
  return r;
}

const ROWS = [
  row({
    opcode: Opcode.LOOKUP, name: 'LOOKUP', in: null, names: 1, reply: true, replyKind: 'entry',
    decode: (header, v) => ({ opcode: Opcode.LOOKUP, header, name: nameOf(v, 0), nameBytes: nameBytesOf(v, 0) }),
  }),
  row({
    opcode: Opcode.FORGET, name: 'FORGET', in: L.fuse_forget_in, names: 0, reply: false, replyKind: 'none',
    decode: (header, v) => ({ opcode: Opcode.FORGET, header, nlookup: readU64(v.buf, v.body + L.fuse_forget_in.off.nlookup) }),
  }),
  row({
    opcode: Opcode.GETATTR, name: 'GETATTR', in: L.fuse_getattr_in, names: 0, reply: true, replyKind: 'attr',
    // fuse_getattr_in exists since 7.9.
    inSize: (ctx) => (ctx.minor < 9 ? 0 : L.fuse_getattr_in.size),
    decode: (header, v) =>
      v.ctx.minor < 9
        ? { opcode: Opcode.GETATTR, header, getattrFlags: 0, fh: 0 }
        : {
            opcode: Opcode.GETATTR,
            header,
            getattrFlags: v.buf.readUInt32LE(v.body + GA.getattr_flags),
            fh: readU64(v.buf, v.body + GA.fh),
          },
  }),
  row({
    opcode: Opcode.SETATTR, name: 'SETATTR', in: L.fuse_setattr_in, names: 0, reply: true, replyKind: 'attr',
    implausible: checkSetattr,
    decode: (header, v) => {
      const b = v.buf;
      const p = v.body;
      return {
        opcode: Opcode.SETATTR,
        header,
        valid: b.readUInt32LE(p + SA.valid),
        fh: readU64(b, p + SA.fh),
        size: readU64(b, p + SA.size),
        lockOwner: readBig64(b, p + SA.lock_owner),
        atime: readS64(b, p + SA.atime),
        mtime: readS64(b, p + SA.mtime),
        ctime: readS64(b, p + SA.ctime),
        atimensec: b.readUInt32LE(p + SA.atimensec),
        mtimensec: b.readUInt32LE(p + SA.mtimensec),
        ctimensec: b.readUInt32LE(p + SA.ctimensec),
        mode: b.readUInt32LE(p + SA.mode),
        uid: b.readUInt32LE(p + SA.uid),
        gid: b.readUInt32LE(p + SA.gid),
      };
    },
  }),
  row({
    opcode: Opcode.READLINK, name: 'READLINK', in: null, names: 0, reply: true, replyKind: 'data',
    decode: (header) => ({ opcode: Opcode.READLINK, header }),
  }),
  row({
    // The kernel sends the new entry's name first, then the link target (fuse_symlink).
    opcode: Opcode.SYMLINK, name: 'SYMLINK', in: null, names: 2, reply: true, replyKind: 'entry',
    decode: (header, v) => ({
      opcode: Opcode.SYMLINK,
      header,
      name: nameOf(v, 0),
      nameBytes: nameBytesOf(v, 0),
      target: nameOf(v, 1),
      targetBytes: nameBytesOf(v, 1),
      extensions: v.extensions,
    }),
  }),
  row({
    opcode: Opcode.MKNOD, name: 'MKNOD', in: L.fuse_mknod_in, names: 1, reply: true, replyKind: 'entry',
    inSize: (ctx) => (ctx.minor < 12 ? 8 : L.fuse_mknod_in.size), // FUSE_COMPAT_MKNOD_IN_SIZE
    decode: (header, v) => ({
      opcode: Opcode.MKNOD,
      header,
      mode: v.buf.readUInt32LE(v.body + MN.mode),
      rdev: v.buf.readUInt32LE(v.body + MN.rdev),
      umask: v.ctx.minor < 12 ? 0 : v.buf.readUInt32LE(v.body + MN.umask),
      name: nameOf(v, 0),
      nameBytes: nameBytesOf(v, 0),
      extensions: v.extensions,
    }),
  }),
  row({
    opcode: Opcode.MKDIR, name: 'MKDIR', in: L.fuse_mkdir_in, names: 1, reply: true, replyKind: 'entry',
    decode: (header, v) => ({
      opcode: Opcode.MKDIR,
      header,
      mode: v.buf.readUInt32LE(v.body + MD.mode),
      umask: v.buf.readUInt32LE(v.body + MD.umask),
      name: nameOf(v, 0),
      nameBytes: nameBytesOf(v, 0),
      extensions: v.extensions,
    }),
  }),
  row({
    opcode: Opcode.UNLINK, name: 'UNLINK', in: null, names: 1, reply: true, replyKind: 'empty',
    decode: (header, v) => ({ opcode: Opcode.UNLINK, header, name: nameOf(v, 0), nameBytes: nameBytesOf(v, 0) }),
  }),
  row({
    opcode: Opcode.RMDIR, name: 'RMDIR', in: null, names: 1, reply: true, replyKind: 'empty',
    decode: (header, v) => ({ opcode: Opcode.RMDIR, header, name: nameOf(v, 0), nameBytes: nameBytesOf(v, 0) }),
  }),
  row({
    opcode: Opcode.RENAME, name: 'RENAME', in: L.fuse_rename_in, names: 2, reply: true, replyKind: 'empty',
    decode: (header, v) => ({
      opcode: Opcode.RENAME,
      header,
      newdir: readU64(v.buf, v.body + L.fuse_rename_in.off.newdir),
      name: nameOf(v, 0),
      nameBytes: nameBytesOf(v, 0),
      newName: nameOf(v, 1),
      newNameBytes: nameBytesOf(v, 1),
    }),
  }),
  row({
    opcode: Opcode.LINK, name: 'LINK', in: L.fuse_link_in, names: 1, reply: true, replyKind: 'entry',
    decode: (header, v) => ({
      opcode: Opcode.LINK,
      header,
      oldnodeid: readU64(v.buf, v.body + L.fuse_link_in.off.oldnodeid),
      name: nameOf(v, 0),
      nameBytes: nameBytesOf(v, 0),
    }),
  }),
  row({
    opcode: Opcode.OPEN, name: 'OPEN', in: L.fuse_open_in, names: 0, reply: true, replyKind: 'open',
    decode: (header, v) => ({
      opcode: Opcode.OPEN,
      header,
      flags: v.buf.readUInt32LE(v.body + OI.flags),
      openFlags: v.buf.readUInt32LE(v.body + OI.open_flags),
    }),
  }),
  row({
    opcode: Opcode.READ, name: 'READ', in: L.fuse_read_in, names: 0, reply: true, replyKind: 'data',
    implausible: checkRead,
    inSize: (ctx) => (ctx.minor < 9 ? 24 : L.fuse_read_in.size),
    decode: (header, v) => readRequest(Opcode.READ, header, v),
  }),
  row({
    opcode: Opcode.WRITE, name: 'WRITE', in: L.fuse_write_in, names: 0, reply: true, replyKind: 'write',
    keepsBuffer: true,
    implausible: checkWrite,
    inSize: (ctx) => (ctx.minor < 9 ? 24 : L.fuse_write_in.size), // FUSE_COMPAT_WRITE_IN_SIZE
    decode: (header, v) => {
      const b = v.buf;
      const p = v.body;
      const size = b.readUInt32LE(p + WR.size);
      if (v.end - v.tail < size) return `WRITE size ${size} exceeds the ${v.end - v.tail} data bytes present`;
      const full = v.ctx.minor >= 9;
      return {
        opcode: Opcode.WRITE,
        header,
        fh: readU64(b, p + WR.fh),
        offset: readU64(b, p + WR.offset),
        size,
        writeFlags: b.readUInt32LE(p + WR.write_flags),
        lockOwner: full ? readBig64(b, p + WR.lock_owner) : 0n,
        flags: full ? b.readUInt32LE(p + WR.flags) : 0,
        data: b.subarray(v.tail, v.tail + size),
      };
    },
  }),
  row({
    opcode: Opcode.STATFS, name: 'STATFS', in: null, names: 0, reply: true, replyKind: 'statfs',
    decode: (header) => ({ opcode: Opcode.STATFS, header }),
  }),
  row({
    opcode: Opcode.RELEASE, name: 'RELEASE', in: L.fuse_release_in, names: 0, reply: true, replyKind: 'empty',
    decode: (header, v) => releaseRequest(Opcode.RELEASE, header, v),
  }),
  row({
    opcode: Opcode.FSYNC, name: 'FSYNC', in: L.fuse_fsync_in, names: 0, reply: true, replyKind: 'empty',
    decode: (header, v) => fsyncRequest(Opcode.FSYNC, header, v),
  }),
  row({
    opcode: Opcode.SETXATTR, name: 'SETXATTR', in: L.fuse_setxattr_in, names: 1, reply: true, replyKind: 'empty',
    keepsBuffer: true,
    // Without FUSE_SETXATTR_EXT the kernel sends the 8-byte compat struct (size, flags).
    inSize: (ctx) => (ctx.setxattrExt ? L.fuse_setxattr_in.size : 8), // FUSE_COMPAT_SETXATTR_IN_SIZE
    decode: (header, v) => {
      const b = v.buf;
      const size = b.readUInt32LE(v.body + SX.size);
      if (v.end - v.tail < size) return `SETXATTR value size ${size} exceeds the ${v.end - v.tail} bytes present`;
      return {
        opcode: Opcode.SETXATTR,
        header,
        size,
        flags: b.readUInt32LE(v.body + SX.flags),
        setxattrFlags: v.ctx.setxattrExt ? b.readUInt32LE(v.body + SX.setxattr_flags) : 0,
        name: nameOf(v, 0),
        nameBytes: nameBytesOf(v, 0),
        value: b.subarray(v.tail, v.tail + size),
      };
    },
  }),
  row({
    opcode: Opcode.GETXATTR, name: 'GETXATTR', in: L.fuse_getxattr_in, names: 1, reply: true, replyKind: 'xattr',
    implausible: checkBufferSize,
    decode: (header, v) => ({
      opcode: Opcode.GETXATTR,
      header,
      size: v.buf.readUInt32LE(v.body + GX.size),
      name: nameOf(v, 0),
      nameBytes: nameBytesOf(v, 0),
    }),
  }),
  row({
    opcode: Opcode.LISTXATTR, name: 'LISTXATTR', in: L.fuse_getxattr_in, names: 0, reply: true, replyKind: 'xattr',
    implausible: checkBufferSize,
    decode: (header, v) => ({ opcode: Opcode.LISTXATTR, header, size: v.buf.readUInt32LE(v.body + GX.size) }),
  }),
  row({
    opcode: Opcode.REMOVEXATTR, name: 'REMOVEXATTR', in: null, names: 1, reply: true, replyKind: 'empty',
    decode: (header, v) => ({ opcode: Opcode.REMOVEXATTR, header, name: nameOf(v, 0), nameBytes: nameBytesOf(v, 0) }),
  }),
  row({
    opcode: Opcode.FLUSH, name: 'FLUSH', in: L.fuse_flush_in, names: 0, reply: true, replyKind: 'empty',
    decode: (header, v) => ({
      opcode: Opcode.FLUSH,
      header,
      fh: readU64(v.buf, v.body + L.fuse_flush_in.off.fh),
      lockOwner: readBig64(v.buf, v.body + L.fuse_flush_in.off.lock_owner),
    }),
  }),
  row({
    // The struct grew over time (8 bytes before 7.6, 16 before 7.36, 64 since): read what is there.
    opcode: Opcode.INIT, name: 'INIT', in: L.fuse_init_in, names: 0, reply: true, replyKind: 'init',
    inSize: () => 8,
    decode: (header, v) => {
      const b = v.buf;
      const p = v.body;
      const n = v.end - p;
      const flags = n >= INI.flags + 4 ? b.readUInt32LE(p + INI.flags) : 0;
      // flags2 is only meaningful when the kernel sets FUSE_INIT_EXT (bit 30).
      const flags2 = flags & (1 << 30) && n >= INI.flags2 + 4 ? b.readUInt32LE(p + INI.flags2) : 0;
      return {
        opcode: Opcode.INIT,
        header,
        major: b.readUInt32LE(p + INI.major),
        minor: b.readUInt32LE(p + INI.minor),
        maxReadahead: n >= INI.max_readahead + 4 ? b.readUInt32LE(p + INI.max_readahead) : 0,
        flags,
        flags2,
      };
    },
  }),
  row({
    opcode: Opcode.OPENDIR, name: 'OPENDIR', in: L.fuse_open_in, names: 0, reply: true, replyKind: 'open',
    decode: (header, v) => ({
      opcode: Opcode.OPENDIR,
      header,
      flags: v.buf.readUInt32LE(v.body + OI.flags),
      openFlags: v.buf.readUInt32LE(v.body + OI.open_flags),
    }),
  }),
  row({
    opcode: Opcode.READDIR, name: 'READDIR', in: L.fuse_read_in, names: 0, reply: true, replyKind: 'dirents',
    implausible: checkRead,
    inSize: (ctx) => (ctx.minor < 9 ? 24 : L.fuse_read_in.size),
    decode: (header, v) => readRequest(Opcode.READDIR, header, v),
  }),
  row({
    opcode: Opcode.RELEASEDIR, name: 'RELEASEDIR', in: L.fuse_release_in, names: 0, reply: true, replyKind: 'empty',
    decode: (header, v) => releaseRequest(Opcode.RELEASEDIR, header, v),
  }),
  row({
    opcode: Opcode.FSYNCDIR, name: 'FSYNCDIR', in: L.fuse_fsync_in, names: 0, reply: true, replyKind: 'empty',
    decode: (header, v) => fsyncRequest(Opcode.FSYNCDIR, header, v),
  }),
  row({
    opcode: Opcode.GETLK, name: 'GETLK', in: L.fuse_lk_in, names: 0, reply: true, replyKind: 'lk',
    decode: (header, v) => lkRequest(Opcode.GETLK, header, v),
  }),
  row({
    opcode: Opcode.SETLK, name: 'SETLK', in: L.fuse_lk_in, names: 0, reply: true, replyKind: 'empty',
    decode: (header, v) => lkRequest(Opcode.SETLK, header, v),
  }),
  row({
    opcode: Opcode.SETLKW, name: 'SETLKW', in: L.fuse_lk_in, names: 0, reply: true, replyKind: 'empty',
    decode: (header, v) => lkRequest(Opcode.SETLKW, header, v),
  }),
  row({
    opcode: Opcode.ACCESS, name: 'ACCESS', in: L.fuse_access_in, names: 0, reply: true, replyKind: 'empty',
    decode: (header, v) => ({ opcode: Opcode.ACCESS, header, mask: v.buf.readUInt32LE(v.body + L.fuse_access_in.off.mask) }),
  }),
  row({
    opcode: Opcode.CREATE, name: 'CREATE', in: L.fuse_create_in, names: 1, reply: true, replyKind: 'create',
    inSize: (ctx) => (ctx.minor < 12 ? 8 : L.fuse_create_in.size),
    decode: (header, v) => createRequest(Opcode.CREATE, header, v),
  }),
  row({
    opcode: Opcode.INTERRUPT, name: 'INTERRUPT', in: L.fuse_interrupt_in, names: 0, reply: false, replyKind: 'none',
    decode: (header, v) => ({ opcode: Opcode.INTERRUPT, header, unique: readUnique(v.buf, v.body + L.fuse_interrupt_in.off.unique) }),
  }),
  row({
    opcode: Opcode.BMAP, name: 'BMAP', in: L.fuse_bmap_in, names: 0, reply: true, replyKind: 'bmap',
    decode: (header, v) => ({
      opcode: Opcode.BMAP,
      header,
      block: readU64(v.buf, v.body + L.fuse_bmap_in.off.block),
      blocksize: v.buf.readUInt32LE(v.body + L.fuse_bmap_in.off.blocksize),
    }),
  }),
  row({
    opcode: Opcode.DESTROY, name: 'DESTROY', in: null, names: 0, reply: true, replyKind: 'empty',
    decode: (header) => ({ opcode: Opcode.DESTROY, header }),
  }),
  row({
    opcode: Opcode.IOCTL, name: 'IOCTL', in: L.fuse_ioctl_in, names: 0, reply: true, replyKind: 'ioctl',
    keepsBuffer: true,
    decode: (header, v) => {
      const b = v.buf;
      const p = v.body;
      const inSize = b.readUInt32LE(p + IO.in_size);
      if (v.end - v.tail < inSize) return `IOCTL in_size ${inSize} exceeds the ${v.end - v.tail} bytes present`;
      return {
        opcode: Opcode.IOCTL,
        header,
        fh: readU64(b, p + IO.fh),
        flags: b.readUInt32LE(p + IO.flags),
        cmd: b.readUInt32LE(p + IO.cmd),
        arg: readBig64(b, p + IO.arg),
        inSize,
        outSize: b.readUInt32LE(p + IO.out_size),
        data: b.subarray(v.tail, v.tail + inSize),
      };
    },
  }),
  row({
    opcode: Opcode.POLL, name: 'POLL', in: L.fuse_poll_in, names: 0, reply: true, replyKind: 'poll',
    decode: (header, v) => ({
      opcode: Opcode.POLL,
      header,
      fh: readU64(v.buf, v.body + PO.fh),
      kh: readBig64(v.buf, v.body + PO.kh),
      flags: v.buf.readUInt32LE(v.body + PO.flags),
      events: v.buf.readUInt32LE(v.body + PO.events),
    }),
  }),
  row({
    opcode: Opcode.NOTIFY_REPLY, name: 'NOTIFY_REPLY', in: L.fuse_notify_retrieve_in, names: 0, reply: false, replyKind: 'none',
    decode: (header, v) => {
      const size = v.buf.readUInt32LE(v.body + NRI.size);
      if (v.end - v.tail < size) return `NOTIFY_REPLY size ${size} exceeds the ${v.end - v.tail} bytes present`;
      return {
        opcode: Opcode.NOTIFY_REPLY,
        header,
        offset: readU64(v.buf, v.body + NRI.offset),
        size,
        data: v.buf.subarray(v.tail, v.tail + size),
      };
    },
  }),
  row({
    opcode: Opcode.BATCH_FORGET, name: 'BATCH_FORGET', in: L.fuse_batch_forget_in, names: 0, reply: false, replyKind: 'none',
    decode: (header, v) => {
      const count = v.buf.readUInt32LE(v.body + L.fuse_batch_forget_in.off.count);
      const one = L.fuse_forget_one.size;
      if (count > (v.end - v.tail) / one) return `BATCH_FORGET count ${count} exceeds the body`;
      const forgets: ForgetOne[] = new Array(count);
      for (let i = 0, q = v.tail; i < count; i++, q += one) {
        forgets[i] = { nodeid: readU64(v.buf, q + FO.nodeid), nlookup: readU64(v.buf, q + FO.nlookup) };
      }
      return { opcode: Opcode.BATCH_FORGET, header, forgets };
    },
  }),
  row({
    opcode: Opcode.FALLOCATE, name: 'FALLOCATE', in: L.fuse_fallocate_in, names: 0, reply: true, replyKind: 'empty',
    implausible: checkFallocate,
    decode: (header, v) => ({
      opcode: Opcode.FALLOCATE,
      header,
      fh: readU64(v.buf, v.body + FA.fh),
      offset: readU64(v.buf, v.body + FA.offset),
      length: readU64(v.buf, v.body + FA.length),
      mode: v.buf.readUInt32LE(v.body + FA.mode),
    }),
  }),
  row({
    opcode: Opcode.READDIRPLUS, name: 'READDIRPLUS', in: L.fuse_read_in, names: 0, reply: true, replyKind: 'direntplus',
    implausible: checkRead,
    decode: (header, v) => readRequest(Opcode.READDIRPLUS, header, v),
  }),
  row({
    opcode: Opcode.RENAME2, name: 'RENAME2', in: L.fuse_rename2_in, names: 2, reply: true, replyKind: 'empty',
    decode: (header, v) => ({
      opcode: Opcode.RENAME2,
      header,
      newdir: readU64(v.buf, v.body + L.fuse_rename2_in.off.newdir),
      flags: v.buf.readUInt32LE(v.body + L.fuse_rename2_in.off.flags),
      name: nameOf(v, 0),
      nameBytes: nameBytesOf(v, 0),
      newName: nameOf(v, 1),
      newNameBytes: nameBytesOf(v, 1),
    }),
  }),
  row({
    opcode: Opcode.LSEEK, name: 'LSEEK', in: L.fuse_lseek_in, names: 0, reply: true, replyKind: 'lseek',
    implausible: checkLseek,
    decode: (header, v) => ({
      opcode: Opcode.LSEEK,
      header,
      fh: readU64(v.buf, v.body + LS.fh),
      offset: readU64(v.buf, v.body + LS.offset),
      whence: v.buf.readUInt32LE(v.body + LS.whence),
    }),
  }),
  row({
    opcode: Opcode.COPY_FILE_RANGE, name: 'COPY_FILE_RANGE', in: L.fuse_copy_file_range_in, names: 0, reply: true, replyKind: 'write',
    implausible: checkCopyFileRange,
    decode: (header, v) => copyFileRangeRequest(Opcode.COPY_FILE_RANGE, header, v),
  }),
  row({
    opcode: Opcode.SETUPMAPPING, name: 'SETUPMAPPING', in: L.fuse_setupmapping_in, names: 0, reply: true, replyKind: 'empty',
    decode: (header, v) => ({
      opcode: Opcode.SETUPMAPPING,
      header,
      fh: readU64(v.buf, v.body + SM.fh),
      foffset: readU64(v.buf, v.body + SM.foffset),
      len: readU64(v.buf, v.body + SM.len),
      flags: readU64(v.buf, v.body + SM.flags),
      moffset: readU64(v.buf, v.body + SM.moffset),
    }),
  }),
  row({
    opcode: Opcode.REMOVEMAPPING, name: 'REMOVEMAPPING', in: L.fuse_removemapping_in, names: 0, reply: true, replyKind: 'empty',
    decode: (header, v) => {
      const count = v.buf.readUInt32LE(v.body + L.fuse_removemapping_in.off.count);
      const one = L.fuse_removemapping_one.size;
      if (count > (v.end - v.tail) / one) return `REMOVEMAPPING count ${count} exceeds the body`;
      const mappings: RemovemappingOne[] = new Array(count);
      for (let i = 0, q = v.tail; i < count; i++, q += one) {
        mappings[i] = { moffset: readU64(v.buf, q + RMO.moffset), len: readU64(v.buf, q + RMO.len) };
      }
      return { opcode: Opcode.REMOVEMAPPING, header, mappings };
    },
  }),
  row({
    opcode: Opcode.SYNCFS, name: 'SYNCFS', in: L.fuse_syncfs_in, names: 0, reply: true, replyKind: 'empty',
    decode: (header) => ({ opcode: Opcode.SYNCFS, header }),
  }),
  row({
    opcode: Opcode.TMPFILE, name: 'TMPFILE', in: L.fuse_create_in, names: 1, reply: true, replyKind: 'create',
    decode: (header, v) => createRequest(Opcode.TMPFILE, header, v),
  }),
  row({
    opcode: Opcode.STATX, name: 'STATX', in: L.fuse_statx_in, names: 0, reply: true, replyKind: 'statx',
    decode: (header, v) => ({
      opcode: Opcode.STATX,
      header,
      getattrFlags: v.buf.readUInt32LE(v.body + STX.getattr_flags),
      fh: readU64(v.buf, v.body + STX.fh),
      sxFlags: v.buf.readUInt32LE(v.body + STX.sx_flags),
      sxMask: v.buf.readUInt32LE(v.body + STX.sx_mask),
    }),
  }),
  row({
    opcode: Opcode.COPY_FILE_RANGE_64, name: 'COPY_FILE_RANGE_64', in: L.fuse_copy_file_range_in, names: 0, reply: true, replyKind: 'copy-file-range-64',
    implausible: checkCopyFileRange,
    decode: (header, v) => copyFileRangeRequest(Opcode.COPY_FILE_RANGE_64, header, v),
  }),
  row({
    opcode: Opcode.CUSE_INIT, name: 'CUSE_INIT', in: L.cuse_init_in, names: 0, reply: true, replyKind: 'cuse-init',
    decode: (header, v) => ({
      opcode: Opcode.CUSE_INIT,
      header,
      major: v.buf.readUInt32LE(v.body + L.cuse_init_in.off.major),
      minor: v.buf.readUInt32LE(v.body + L.cuse_init_in.off.minor),
      flags: v.buf.readUInt32LE(v.body + L.cuse_init_in.off.flags),
    }),
  }),
] as OpcodeRow[];

/** All rows, in opcode order. */
export const OPCODE_TABLE: readonly OpcodeRow[] = Object.freeze(ROWS);

// Dense array for FUSE opcodes (1..53) so the hot path is one indexed load.
const BY_OPCODE: (OpcodeRow | undefined)[] = [];
let CUSE_ROW: OpcodeRow | undefined;
for (const r of ROWS) {
  if (r.opcode === Opcode.CUSE_INIT) CUSE_ROW = r;
  else BY_OPCODE[r.opcode] = r;
}

/** The row for an opcode, or undefined for opcodes the protocol does not define. */
export function opcodeRow(opcode: number): OpcodeRow | undefined {
  return opcode < BY_OPCODE.length ? BY_OPCODE[opcode] : opcode === Opcode.CUSE_INIT ? CUSE_ROW : undefined;
}

/** 'LOOKUP', 'CUSE_INIT', ... or 'OPCODE_<n>' for unknown numbers. */
export function opcodeName(opcode: number): string {
  return opcodeRow(opcode)?.name ?? `OPCODE_${opcode}`;
}
