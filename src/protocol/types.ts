// Typed values that travel in requests and replies. Field names are the camelCase of the
// header's struct fields. 64-bit integers are JS numbers (exact below 2**53; see wire.ts) except
// genuinely opaque ones (lock owners, poll kh, ioctl arg), which are bigint.

/** fuse_in_header. `unique` maps FUSE_UNIQUE_RESEND to 2**52 (see constants.ts UNIQUE_RESEND). */
export interface InHeader {
  len: number;
  opcode: number;
  unique: number;
  nodeid: number;
  uid: number;
  gid: number;
  pid: number;
  /** Length of the extensions after the body, in 8-byte units. */
  totalExtlen: number;
}

/** fuse_attr. Times are seconds since the epoch (signed) plus nanoseconds. */
export interface Attr {
  ino: number;
  size: number;
  blocks: number;
  atime: number;
  mtime: number;
  ctime: number;
  atimensec: number;
  mtimensec: number;
  ctimensec: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  blksize: number;
  /** FUSE_ATTR_SUBMOUNT | FUSE_ATTR_DAX. */
  flags: number;
}

/**
 * fuse_entry_out. Timeouts are given as on the wire, whole seconds plus nanoseconds; use
 * `splitTimeout(seconds)` to get both from a float. A nodeid of 0 is a negative entry
 * (cached ENOENT for entryValid).
 */
export interface EntryOut {
  nodeid: number;
  generation: number;
  entryValid: number;
  entryValidNsec: number;
  attrValid: number;
  attrValidNsec: number;
  attr: Attr;
}

/** fuse_attr_out without its padding. */
export interface AttrOut {
  attrValid: number;
  attrValidNsec: number;
  attr: Attr;
}

/** fuse_open_out. `backingId` is the id from FUSE_DEV_IOC_BACKING_OPEN when openFlags has FOPEN_PASSTHROUGH. */
export interface OpenOut {
  fh: number;
  openFlags: number;
  backingId?: number;
}

/** fuse_kstatfs. */
export interface Kstatfs {
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  bsize: number;
  namelen: number;
  frsize: number;
}

/** fuse_file_lock. `end` = OFFSET_MAX (2**63) means "to end of file". */
export interface FileLock {
  start: number;
  end: number;
  /** F_RDLCK 0, F_WRLCK 1, F_UNLCK 2. */
  type: number;
  /** tgid of the lock holder. */
  pid: number;
}

/** fuse_sx_time. */
export interface SxTime {
  tvSec: number;
  tvNsec: number;
}

/** fuse_statx (bit-for-bit the statx(2) struct). */
export interface Statx {
  mask: number;
  blksize: number;
  attributes: number;
  nlink: number;
  uid: number;
  gid: number;
  mode: number;
  ino: number;
  size: number;
  blocks: number;
  attributesMask: number;
  atime: SxTime;
  btime: SxTime;
  ctime: SxTime;
  mtime: SxTime;
  rdevMajor: number;
  rdevMinor: number;
  devMajor: number;
  devMinor: number;
}

/** fuse_statx_out without padding. */
export interface StatxOut {
  attrValid: number;
  attrValidNsec: number;
  flags: number;
  stat: Statx;
}

/** fuse_ioctl_iovec. */
export interface IoctlIovec {
  base: bigint;
  len: number;
}

/** fuse_ioctl_out plus what follows it. */
export interface IoctlOut {
  result: number;
  flags?: number;
  /** With FUSE_IOCTL_RETRY: the iovecs to retry with. */
  inIovs?: IoctlIovec[];
  outIovs?: IoctlIovec[];
  /** The output data (without FUSE_IOCTL_RETRY). */
  data?: Buffer;
}

/** cuse_init_out plus the device info strings ("DEVNAME=...", NUL separated on the wire). */
export interface CuseInitOut {
  major: number;
  minor: number;
  flags: number;
  maxRead: number;
  maxWrite: number;
  devMajor: number;
  devMinor: number;
  info: string[];
}

/** Splits a timeout in seconds (float, >= 0) into the [seconds, nanoseconds] the wire wants. */
export function splitTimeout(seconds: number): [number, number] {
  if (!(seconds > 0)) return [0, 0];
  const s = Math.floor(seconds);
  const ns = Math.min(999999999, Math.round((seconds - s) * 1e9));
  return [s, ns];
}
