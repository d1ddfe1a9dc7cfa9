// The typed requests decodeRequest() produces: a discriminated union on `opcode`.
//
// Names (nameBytes, newNameBytes, targetBytes) are copies that the request owns: a handler may
// read them after an await. The other buffers in a request (data, value, extensions) are views
// into the buffer that was decoded: finish with them (or copy them) before that buffer is reused
// for the next read from /dev/fuse (the session keeps it for WRITE, SETXATTR and IOCTL until
// they are answered).
import { Opcode } from './constants';
import type { FileLock, InHeader } from './types';

/** A file name from the body: `name` is the UTF-8 decoding, `nameBytes` the exact bytes (Linux names are bytes). */
export interface NameArg {
  name: string;
  nameBytes: Buffer;
}

/** Raw extensions (security context, supplementary groups) after the body; see parseExtensions(). */
export interface ExtArg {
  extensions: Buffer | undefined;
}

export interface ForgetOne {
  nodeid: number;
  nlookup: number;
}

export interface RemovemappingOne {
  moffset: number;
  len: number;
}

export interface ReadArgs {
  fh: number;
  offset: number;
  size: number;
  readFlags: number;
  /** Valid when readFlags has FUSE_READ_LOCKOWNER. */
  lockOwner: bigint;
  /** The open(2) flags of the file. */
  flags: number;
}

export interface ReleaseArgs {
  fh: number;
  flags: number;
  releaseFlags: number;
  lockOwner: bigint;
}

export interface FsyncArgs {
  fh: number;
  fsyncFlags: number;
}

export interface LkArgs {
  fh: number;
  owner: bigint;
  lk: FileLock;
  lkFlags: number;
}

export interface CreateArgs extends NameArg, ExtArg {
  flags: number;
  mode: number;
  umask: number;
  openFlags: number;
}

export interface CopyFileRangeArgs {
  fhIn: number;
  offIn: number;
  nodeidOut: number;
  fhOut: number;
  offOut: number;
  len: number;
  flags: number;
}

/** The body of each request, by opcode. */
export interface RequestBodies {
  [Opcode.LOOKUP]: NameArg;
  [Opcode.FORGET]: { nlookup: number };
  [Opcode.GETATTR]: { getattrFlags: number; fh: number };
  [Opcode.SETATTR]: {
    valid: number;
    fh: number;
    size: number;
    lockOwner: bigint;
    atime: number;
    mtime: number;
    ctime: number;
    atimensec: number;
    mtimensec: number;
    ctimensec: number;
    mode: number;
    uid: number;
    gid: number;
  };
  [Opcode.READLINK]: {};
  /** `name` is the new link's name in the parent, `target` what it points to. */
  [Opcode.SYMLINK]: NameArg & ExtArg & { target: string; targetBytes: Buffer };
  [Opcode.MKNOD]: NameArg & ExtArg & { mode: number; rdev: number; umask: number };
  [Opcode.MKDIR]: NameArg & ExtArg & { mode: number; umask: number };
  [Opcode.UNLINK]: NameArg;
  [Opcode.RMDIR]: NameArg;
  /** `name` in header.nodeid moves to `newName` in `newdir`. */
  [Opcode.RENAME]: NameArg & { newdir: number; newName: string; newNameBytes: Buffer };
  /** Links inode `oldnodeid` as `name` in header.nodeid. */
  [Opcode.LINK]: NameArg & { oldnodeid: number };
  [Opcode.OPEN]: { flags: number; openFlags: number };
  [Opcode.READ]: ReadArgs;
  /** `data` is a view of exactly `size` bytes. */
  [Opcode.WRITE]: {
    fh: number;
    offset: number;
    size: number;
    writeFlags: number;
    lockOwner: bigint;
    flags: number;
    data: Buffer;
  };
  [Opcode.STATFS]: {};
  [Opcode.RELEASE]: ReleaseArgs;
  [Opcode.FSYNC]: FsyncArgs;
  /** setxattrFlags is 0 unless FUSE_SETXATTR_EXT was negotiated (DecodeContext.setxattrExt). */
  [Opcode.SETXATTR]: NameArg & { size: number; flags: number; setxattrFlags: number; value: Buffer };
  /** size 0 asks for the value's size (answer with encodeXattrSizeReply). */
  [Opcode.GETXATTR]: NameArg & { size: number };
  [Opcode.LISTXATTR]: { size: number };
  [Opcode.REMOVEXATTR]: NameArg;
  [Opcode.FLUSH]: { fh: number; lockOwner: bigint };
  /** flags2 is 0 unless FUSE_INIT_EXT is set in flags. */
  [Opcode.INIT]: { major: number; minor: number; maxReadahead: number; flags: number; flags2: number };
  [Opcode.OPENDIR]: { flags: number; openFlags: number };
  [Opcode.READDIR]: ReadArgs;
  [Opcode.RELEASEDIR]: ReleaseArgs;
  [Opcode.FSYNCDIR]: FsyncArgs;
  [Opcode.GETLK]: LkArgs;
  [Opcode.SETLK]: LkArgs;
  [Opcode.SETLKW]: LkArgs;
  [Opcode.ACCESS]: { mask: number };
  [Opcode.CREATE]: CreateArgs;
  /** `unique` is the request to interrupt (header.unique is the INTERRUPT's own). */
  [Opcode.INTERRUPT]: { unique: number };
  [Opcode.BMAP]: { block: number; blocksize: number };
  [Opcode.DESTROY]: {};
  /** `data` is the input of `inSize` bytes. */
  [Opcode.IOCTL]: {
    fh: number;
    flags: number;
    cmd: number;
    arg: bigint;
    inSize: number;
    outSize: number;
    data: Buffer;
  };
  [Opcode.POLL]: { fh: number; kh: bigint; flags: number; events: number };
  /** The kernel's answer to a RETRIEVE notification: header.unique is its notify_unique. */
  [Opcode.NOTIFY_REPLY]: { offset: number; size: number; data: Buffer };
  [Opcode.BATCH_FORGET]: { forgets: ForgetOne[] };
  [Opcode.FALLOCATE]: { fh: number; offset: number; length: number; mode: number };
  [Opcode.READDIRPLUS]: ReadArgs;
  [Opcode.RENAME2]: NameArg & { newdir: number; flags: number; newName: string; newNameBytes: Buffer };
  [Opcode.LSEEK]: { fh: number; offset: number; whence: number };
  [Opcode.COPY_FILE_RANGE]: CopyFileRangeArgs;
  [Opcode.SETUPMAPPING]: { fh: number; foffset: number; len: number; flags: number; moffset: number };
  [Opcode.REMOVEMAPPING]: { mappings: RemovemappingOne[] };
  [Opcode.SYNCFS]: {};
  /** The kernel sends the name "/" for an O_TMPFILE open; it has no meaning. */
  [Opcode.TMPFILE]: CreateArgs;
  [Opcode.STATX]: { getattrFlags: number; fh: number; sxFlags: number; sxMask: number };
  [Opcode.COPY_FILE_RANGE_64]: CopyFileRangeArgs;
  [Opcode.CUSE_INIT]: { major: number; minor: number; flags: number };
}

export type KnownOpcode = keyof RequestBodies & Opcode;

export type RequestOf<O extends KnownOpcode> = { opcode: O; header: InHeader } & RequestBodies[O];

/** Every decoded request. Narrow with `switch (req.opcode)`. */
export type Request = { [O in KnownOpcode]: RequestOf<O> }[KnownOpcode];

export type LookupRequest = RequestOf<Opcode.LOOKUP>;
export type ForgetRequest = RequestOf<Opcode.FORGET>;
export type GetattrRequest = RequestOf<Opcode.GETATTR>;
export type SetattrRequest = RequestOf<Opcode.SETATTR>;
export type ReadlinkRequest = RequestOf<Opcode.READLINK>;
export type SymlinkRequest = RequestOf<Opcode.SYMLINK>;
export type MknodRequest = RequestOf<Opcode.MKNOD>;
export type MkdirRequest = RequestOf<Opcode.MKDIR>;
export type UnlinkRequest = RequestOf<Opcode.UNLINK>;
export type RmdirRequest = RequestOf<Opcode.RMDIR>;
export type RenameRequest = RequestOf<Opcode.RENAME>;
export type LinkRequest = RequestOf<Opcode.LINK>;
export type OpenRequest = RequestOf<Opcode.OPEN>;
export type ReadRequest = RequestOf<Opcode.READ>;
export type WriteRequest = RequestOf<Opcode.WRITE>;
export type StatfsRequest = RequestOf<Opcode.STATFS>;
export type ReleaseRequest = RequestOf<Opcode.RELEASE>;
export type FsyncRequest = RequestOf<Opcode.FSYNC>;
export type SetxattrRequest = RequestOf<Opcode.SETXATTR>;
export type GetxattrRequest = RequestOf<Opcode.GETXATTR>;
export type ListxattrRequest = RequestOf<Opcode.LISTXATTR>;
export type RemovexattrRequest = RequestOf<Opcode.REMOVEXATTR>;
export type FlushRequest = RequestOf<Opcode.FLUSH>;
export type InitRequest = RequestOf<Opcode.INIT>;
export type OpendirRequest = RequestOf<Opcode.OPENDIR>;
export type ReaddirRequest = RequestOf<Opcode.READDIR>;
export type ReleasedirRequest = RequestOf<Opcode.RELEASEDIR>;
export type FsyncdirRequest = RequestOf<Opcode.FSYNCDIR>;
export type GetlkRequest = RequestOf<Opcode.GETLK>;
export type SetlkRequest = RequestOf<Opcode.SETLK>;
export type SetlkwRequest = RequestOf<Opcode.SETLKW>;
export type AccessRequest = RequestOf<Opcode.ACCESS>;
export type CreateRequest = RequestOf<Opcode.CREATE>;
export type InterruptRequest = RequestOf<Opcode.INTERRUPT>;
export type BmapRequest = RequestOf<Opcode.BMAP>;
export type DestroyRequest = RequestOf<Opcode.DESTROY>;
export type IoctlRequest = RequestOf<Opcode.IOCTL>;
export type PollRequest = RequestOf<Opcode.POLL>;
export type NotifyReplyRequest = RequestOf<Opcode.NOTIFY_REPLY>;
export type BatchForgetRequest = RequestOf<Opcode.BATCH_FORGET>;
export type FallocateRequest = RequestOf<Opcode.FALLOCATE>;
export type ReaddirplusRequest = RequestOf<Opcode.READDIRPLUS>;
export type Rename2Request = RequestOf<Opcode.RENAME2>;
export type LseekRequest = RequestOf<Opcode.LSEEK>;
export type CopyFileRangeRequest = RequestOf<Opcode.COPY_FILE_RANGE>;
export type SetupmappingRequest = RequestOf<Opcode.SETUPMAPPING>;
export type RemovemappingRequest = RequestOf<Opcode.REMOVEMAPPING>;
export type SyncfsRequest = RequestOf<Opcode.SYNCFS>;
export type TmpfileRequest = RequestOf<Opcode.TMPFILE>;
export type StatxRequest = RequestOf<Opcode.STATX>;
export type CopyFileRange64Request = RequestOf<Opcode.COPY_FILE_RANGE_64>;
export type CuseInitRequest = RequestOf<Opcode.CUSE_INIT>;

/**
 * What decodeRequest returns instead of throwing. `unique` and `opcode` are present when the
 * header was long enough to read them, so the session can answer with `errno` (EINVAL for
 * malformed input, ENOSYS for an opcode this codec does not know).
 */
export interface DecodeError {
  kind: 'decode-error';
  unique?: number;
  opcode?: number;
  errno: 'EINVAL' | 'ENOSYS';
  message: string;
}

export function isDecodeError(x: Request | DecodeError): x is DecodeError {
  return (x as DecodeError).kind === 'decode-error';
}

/**
 * What the decoder must know about the negotiated connection, because a few bodies changed
 * size over protocol versions without saying so on the wire.
 */
export interface DecodeContext {
  /** Negotiated minor version (default FUSE_KERNEL_MINOR_VERSION, 45). */
  minor: number;
  /** FUSE_SETXATTR_EXT negotiated: fuse_setxattr_in is 16 bytes instead of 8. Default false. */
  setxattrExt: boolean;
}
