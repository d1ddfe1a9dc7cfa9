// INIT request/reply flags: name -> bit number, as in include/uapi/linux/fuse.h. Bits 0..31 travel
// in fuse_init_in/out.flags; the header numbers the rest 32..63 ("bits 32..63 get shifted down 32
// bits into the flags2 field"), and they travel in flags2, which the kernel only sends and only
// reads when FUSE_INIT_EXT (bit 30) is set in flags.

export const INIT_FLAG_BITS = {
  FUSE_ASYNC_READ: 0,
  FUSE_POSIX_LOCKS: 1,
  FUSE_FILE_OPS: 2,
  FUSE_ATOMIC_O_TRUNC: 3,
  FUSE_EXPORT_SUPPORT: 4,
  FUSE_BIG_WRITES: 5,
  FUSE_DONT_MASK: 6,
  FUSE_SPLICE_WRITE: 7,
  FUSE_SPLICE_MOVE: 8,
  FUSE_SPLICE_READ: 9,
  FUSE_FLOCK_LOCKS: 10,
  FUSE_HAS_IOCTL_DIR: 11,
  FUSE_AUTO_INVAL_DATA: 12,
  FUSE_DO_READDIRPLUS: 13,
  FUSE_READDIRPLUS_AUTO: 14,
  FUSE_ASYNC_DIO: 15,
  FUSE_WRITEBACK_CACHE: 16,
  FUSE_NO_OPEN_SUPPORT: 17,
  FUSE_PARALLEL_DIROPS: 18,
  FUSE_HANDLE_KILLPRIV: 19,
  FUSE_POSIX_ACL: 20,
  FUSE_ABORT_ERROR: 21,
  FUSE_MAX_PAGES: 22,
  FUSE_CACHE_SYMLINKS: 23,
  FUSE_NO_OPENDIR_SUPPORT: 24,
  FUSE_EXPLICIT_INVAL_DATA: 25,
  FUSE_MAP_ALIGNMENT: 26,
  FUSE_SUBMOUNTS: 27,
  FUSE_HANDLE_KILLPRIV_V2: 28,
  FUSE_SETXATTR_EXT: 29,
  FUSE_INIT_EXT: 30,
  FUSE_INIT_RESERVED: 31,
  // flags2
  FUSE_SECURITY_CTX: 32,
  FUSE_HAS_INODE_DAX: 33,
  FUSE_CREATE_SUPP_GROUP: 34,
  FUSE_HAS_EXPIRE_ONLY: 35,
  FUSE_DIRECT_IO_ALLOW_MMAP: 36, // FUSE_DIRECT_IO_RELAX is an obsolete alias
  FUSE_PASSTHROUGH: 37,
  FUSE_NO_EXPORT_SUPPORT: 38,
  FUSE_HAS_RESEND: 39,
  FUSE_ALLOW_IDMAP: 40,
  FUSE_OVER_IO_URING: 41,
  FUSE_REQUEST_TIMEOUT: 42,
} as const;

export type InitFlagName = keyof typeof INIT_FLAG_BITS;

const NAMES_BY_BIT: (InitFlagName | undefined)[] = [];
for (const [name, bit] of Object.entries(INIT_FLAG_BITS)) NAMES_BY_BIT[bit] = name as InitFlagName;

/** The two 32-bit words of a flag set. */
export interface InitFlagWords {
  flags: number;
  flags2: number;
}

/** Which word and mask a named flag occupies. */
export function initFlagMask(name: InitFlagName): { word: 'flags' | 'flags2'; mask: number } {
  const bit = INIT_FLAG_BITS[name];
  return bit < 32 ? { word: 'flags', mask: (1 << bit) >>> 0 } : { word: 'flags2', mask: (1 << (bit - 32)) >>> 0 };
}

/** Whether `name` is set in the pair of words. */
export function hasInitFlag(words: InitFlagWords, name: InitFlagName): boolean {
  const { word, mask } = initFlagMask(name);
  return (words[word] & mask) !== 0;
}

/** Names -> the two words. Unknown names throw (a typo must not silently drop a feature). */
export function encodeInitFlags(names: Iterable<string>): InitFlagWords {
  let flags = 0;
  let flags2 = 0;
  for (const name of names) {
    if (!isInitFlagName(name)) throw new TypeError(`unknown FUSE INIT flag: ${name}`);
    const bit = INIT_FLAG_BITS[name];
    if (bit < 32) flags |= 1 << bit;
    else flags2 |= 1 << (bit - 32);
  }
  return { flags: flags >>> 0, flags2: flags2 >>> 0 };
}

export function isInitFlagName(name: string): name is InitFlagName {
  return Object.prototype.hasOwnProperty.call(INIT_FLAG_BITS, name);
}

/**
 * Names of every bit set in both words, low bit first; bits the header does not name come out
 * as 'bit N' (N counted 0..63 like the header). flags2 is taken as given: a caller decoding an
 * INIT request should pass 0 when FUSE_INIT_EXT is not set in flags.
 */
export function decodeInitFlags(flags: number, flags2: number): string[] {
  const out: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    const word = bit < 32 ? flags : flags2;
    if ((word >>> (bit & 31)) & 1) out.push(NAMES_BY_BIT[bit] ?? `bit ${bit}`);
  }
  return out;
}
