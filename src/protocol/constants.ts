// Numbers of the FUSE ABI, protocol 7.45, with the names and values of the kernel's
// include/uapi/linux/fuse.h (Linux 6.18). Struct layouts live in layouts.ts,
// the per-opcode table in opcodes.ts, the INIT flag bits in init-flags.ts.

export const FUSE_KERNEL_VERSION = 7;
export const FUSE_KERNEL_MINOR_VERSION = 45;
/** The node ID of the root inode. */
export const FUSE_ROOT_ID = 1;
/** The read buffer is required to be at least 8k, but may be much larger. */
export const FUSE_MIN_READ_BUFFER = 8192;

/** fuse_opcode. Member names are the header's without the FUSE_ prefix (CUSE_INIT keeps its own). */
export enum Opcode {
  LOOKUP = 1,
  FORGET = 2, // no reply
  GETATTR = 3,
  SETATTR = 4,
  READLINK = 5,
  SYMLINK = 6,
  MKNOD = 8,
  MKDIR = 9,
  UNLINK = 10,
  RMDIR = 11,
  RENAME = 12,
  LINK = 13,
  OPEN = 14,
  READ = 15,
  WRITE = 16,
  STATFS = 17,
  RELEASE = 18,
  FSYNC = 20,
  SETXATTR = 21,
  GETXATTR = 22,
  LISTXATTR = 23,
  REMOVEXATTR = 24,
  FLUSH = 25,
  INIT = 26,
  OPENDIR = 27,
  READDIR = 28,
  RELEASEDIR = 29,
  FSYNCDIR = 30,
  GETLK = 31,
  SETLK = 32,
  SETLKW = 33,
  ACCESS = 34,
  CREATE = 35,
  INTERRUPT = 36, // no reply
  BMAP = 37,
  DESTROY = 38,
  IOCTL = 39,
  POLL = 40,
  NOTIFY_REPLY = 41, // no reply
  BATCH_FORGET = 42, // no reply
  FALLOCATE = 43,
  READDIRPLUS = 44,
  RENAME2 = 45,
  LSEEK = 46,
  COPY_FILE_RANGE = 47,
  SETUPMAPPING = 48,
  REMOVEMAPPING = 49,
  SYNCFS = 50,
  TMPFILE = 51,
  STATX = 52,
  COPY_FILE_RANGE_64 = 53,

  /* CUSE specific operations */
  CUSE_INIT = 4096,
}

/** Reserved opcodes: what INIT looks like when read with the wrong endianness. */
export const CUSE_INIT_BSWAP_RESERVED = 1048576; // CUSE_INIT << 8
export const FUSE_INIT_BSWAP_RESERVED = 436207616; // FUSE_INIT << 24

/** fuse_notify_code: the `error` field of a notification (an out_header with unique 0). */
export enum NotifyCode {
  POLL = 1,
  INVAL_INODE = 2,
  INVAL_ENTRY = 3,
  STORE = 4,
  RETRIEVE = 5,
  DELETE = 6,
  RESEND = 7,
  INC_EPOCH = 8,
  PRUNE = 9,
}
export const FUSE_NOTIFY_POLL = NotifyCode.POLL;
export const FUSE_NOTIFY_INVAL_INODE = NotifyCode.INVAL_INODE;
export const FUSE_NOTIFY_INVAL_ENTRY = NotifyCode.INVAL_ENTRY;
export const FUSE_NOTIFY_STORE = NotifyCode.STORE;
export const FUSE_NOTIFY_RETRIEVE = NotifyCode.RETRIEVE;
export const FUSE_NOTIFY_DELETE = NotifyCode.DELETE;
export const FUSE_NOTIFY_RESEND = NotifyCode.RESEND;
export const FUSE_NOTIFY_INC_EPOCH = NotifyCode.INC_EPOCH;
export const FUSE_NOTIFY_PRUNE = NotifyCode.PRUNE;

/** Bitmasks for fuse_setattr_in.valid. */
export const FATTR_MODE = 1 << 0;
export const FATTR_UID = 1 << 1;
export const FATTR_GID = 1 << 2;
export const FATTR_SIZE = 1 << 3;
export const FATTR_ATIME = 1 << 4;
export const FATTR_MTIME = 1 << 5;
export const FATTR_FH = 1 << 6;
export const FATTR_ATIME_NOW = 1 << 7;
export const FATTR_MTIME_NOW = 1 << 8;
export const FATTR_LOCKOWNER = 1 << 9;
export const FATTR_CTIME = 1 << 10;
export const FATTR_KILL_SUIDGID = 1 << 11;

/** Flags returned by the OPEN request (fuse_open_out.open_flags). */
export const FOPEN_DIRECT_IO = 1 << 0;
export const FOPEN_KEEP_CACHE = 1 << 1;
export const FOPEN_NONSEEKABLE = 1 << 2;
export const FOPEN_CACHE_DIR = 1 << 3;
export const FOPEN_STREAM = 1 << 4;
export const FOPEN_NOFLUSH = 1 << 5;
export const FOPEN_PARALLEL_DIRECT_WRITES = 1 << 6;
export const FOPEN_PASSTHROUGH = 1 << 7;

/** CUSE INIT request/reply flags. */
export const CUSE_UNRESTRICTED_IOCTL = 1 << 0;

/** Release flags (fuse_release_in.release_flags). */
export const FUSE_RELEASE_FLUSH = 1 << 0;
export const FUSE_RELEASE_FLOCK_UNLOCK = 1 << 1;

/** Getattr flags (fuse_getattr_in.getattr_flags). */
export const FUSE_GETATTR_FH = 1 << 0;

/** Lock flags (fuse_lk_in.lk_flags). */
export const FUSE_LK_FLOCK = 1 << 0;

/** WRITE flags (fuse_write_in.write_flags). */
export const FUSE_WRITE_CACHE = 1 << 0;
export const FUSE_WRITE_LOCKOWNER = 1 << 1;
export const FUSE_WRITE_KILL_SUIDGID = 1 << 2;
/** Obsolete alias; this flag implies killing suid/sgid only. */
export const FUSE_WRITE_KILL_PRIV = FUSE_WRITE_KILL_SUIDGID;

/** Read flags (fuse_read_in.read_flags). */
export const FUSE_READ_LOCKOWNER = 1 << 1;

/** Ioctl flags. */
export const FUSE_IOCTL_COMPAT = 1 << 0;
export const FUSE_IOCTL_UNRESTRICTED = 1 << 1;
export const FUSE_IOCTL_RETRY = 1 << 2;
export const FUSE_IOCTL_32BIT = 1 << 3;
export const FUSE_IOCTL_DIR = 1 << 4;
export const FUSE_IOCTL_COMPAT_X32 = 1 << 5;
/** Maximum of in_iovecs + out_iovecs. */
export const FUSE_IOCTL_MAX_IOV = 256;

/** Poll flags. */
export const FUSE_POLL_SCHEDULE_NOTIFY = 1 << 0;

/** Fsync flags. */
export const FUSE_FSYNC_FDATASYNC = 1 << 0;

/** fuse_attr flags. */
export const FUSE_ATTR_SUBMOUNT = 1 << 0;
export const FUSE_ATTR_DAX = 1 << 1;

/** Open flags (fuse_open_in.open_flags / fuse_create_in.open_flags). */
export const FUSE_OPEN_KILL_SUIDGID = 1 << 0;

/** setxattr flags (fuse_setxattr_in.setxattr_flags). */
export const FUSE_SETXATTR_ACL_KILL_SGID = 1 << 0;

/** notify_inval_entry flags. */
export const FUSE_EXPIRE_ONLY = 1 << 0;

/** fuse_ext_type: types 0..31 are reserved for fuse_secctx_header (its nr_secctx). */
export const FUSE_MAX_NR_SECCTX = 31;
export const FUSE_EXT_GROUPS = 32;

/** FUSE_SETUPMAPPING flags. */
export const FUSE_SETUPMAPPING_FLAG_WRITE = 1 << 0;
export const FUSE_SETUPMAPPING_FLAG_READ = 1 << 1;

/**
 * Set by the kernel in fuse_in_header.{uid,gid} when FUSE_ALLOW_IDMAP is enabled and the id
 * cannot be mapped.
 */
export const FUSE_INVALID_UIDGID = 0xffffffff;

/** Struct sizes that older protocol minors use (see decode.ts / init.ts for where they apply). */
export const FUSE_COMPAT_ENTRY_OUT_SIZE = 120;
export const FUSE_COMPAT_ATTR_OUT_SIZE = 96;
export const FUSE_COMPAT_MKNOD_IN_SIZE = 8;
export const FUSE_COMPAT_WRITE_IN_SIZE = 24;
export const FUSE_COMPAT_STATFS_SIZE = 48;
export const FUSE_COMPAT_SETXATTR_IN_SIZE = 8;
export const FUSE_COMPAT_INIT_OUT_SIZE = 8;
export const FUSE_COMPAT_22_INIT_OUT_SIZE = 24;
export const CUSE_INIT_INFO_MAX = 4096;

/**
 * FUSE_UNIQUE_RESEND is bit 63 of `unique` (set on requests the kernel resends after
 * FUSE_NOTIFY_RESEND). A JS number cannot hold bit 63 next to small values, so this codec maps
 * it to bit 52 (2**52) on decode and back to bit 63 on encode: `header.unique` passed unchanged
 * to any encoder produces the exact wire value. Real uniques grow by 2 per request and never
 * get near 2**52.
 */
export const UNIQUE_RESEND = 2 ** 52;
/** Whether a decoded `unique` carries FUSE_UNIQUE_RESEND. */
export function isResendUnique(unique: number): boolean {
  return unique >= UNIQUE_RESEND;
}

/**
 * OFFSET_MAX (0x7fffffffffffffff, "to end of file" in lock ranges) as a JS number: it rounds to
 * 2**63. Lock offsets at or above this value are written back as exactly OFFSET_MAX.
 */
export const OFFSET_MAX = 2 ** 63;

/** Linux page size on x86_64; max_pages and max_write are counted in these. */
export const PAGE_SIZE = 4096;
/** FUSE_DEFAULT_MAX_PAGES_PER_REQ (fs/fuse/fuse_i.h): max_pages when MAX_PAGES is not negotiated. */
export const FUSE_DEFAULT_MAX_PAGES_PER_REQ = 32;
/** The kernel's default fuse max_pages_limit module parameter (fs/fuse/inode.c); a 2 MiB max_write was clamped to 256 pages on Linux 6.18. */
export const FUSE_MAX_MAX_PAGES = 256;
/** FILESYSTEM_MAX_STACK_DEPTH (include/linux/fs.h): valid max_stack_depth for passthrough is 1..2. */
export const FILESYSTEM_MAX_STACK_DEPTH = 2;
