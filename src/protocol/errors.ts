// Linux errno numbers (x86_64 uses asm-generic/errno-base.h and errno.h). Written out rather
// than taken from os.constants.errno, which lacks many (ENOTBLK, EREMOTEIO, ENOMEDIUM, ...) and
// would tie replies to the platform running the tests. test/protocol-errors.test.ts checks every
// name Node knows against this table.

export const Errno = {
  EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, EIO: 5, ENXIO: 6, E2BIG: 7, ENOEXEC: 8, EBADF: 9,
  ECHILD: 10, EAGAIN: 11, ENOMEM: 12, EACCES: 13, EFAULT: 14, ENOTBLK: 15, EBUSY: 16, EEXIST: 17,
  EXDEV: 18, ENODEV: 19, ENOTDIR: 20, EISDIR: 21, EINVAL: 22, ENFILE: 23, EMFILE: 24, ENOTTY: 25,
  ETXTBSY: 26, EFBIG: 27, ENOSPC: 28, ESPIPE: 29, EROFS: 30, EMLINK: 31, EPIPE: 32, EDOM: 33,
  ERANGE: 34, EDEADLK: 35, ENAMETOOLONG: 36, ENOLCK: 37, ENOSYS: 38, ENOTEMPTY: 39, ELOOP: 40,
  ENOMSG: 42, EIDRM: 43, ECHRNG: 44, EL2NSYNC: 45, EL3HLT: 46, EL3RST: 47, ELNRNG: 48,
  EUNATCH: 49, ENOCSI: 50, EL2HLT: 51, EBADE: 52, EBADR: 53, EXFULL: 54, ENOANO: 55,
  EBADRQC: 56, EBADSLT: 57, EBFONT: 59, ENOSTR: 60, ENODATA: 61, ETIME: 62, ENOSR: 63,
  ENONET: 64, ENOPKG: 65, EREMOTE: 66, ENOLINK: 67, EADV: 68, ESRMNT: 69, ECOMM: 70, EPROTO: 71,
  EMULTIHOP: 72, EDOTDOT: 73, EBADMSG: 74, EOVERFLOW: 75, ENOTUNIQ: 76, EBADFD: 77,
  EREMCHG: 78, ELIBACC: 79, ELIBBAD: 80, ELIBSCN: 81, ELIBMAX: 82, ELIBEXEC: 83, EILSEQ: 84,
  ERESTART: 85, ESTRPIPE: 86, EUSERS: 87, ENOTSOCK: 88, EDESTADDRREQ: 89, EMSGSIZE: 90,
  EPROTOTYPE: 91, ENOPROTOOPT: 92, EPROTONOSUPPORT: 93, ESOCKTNOSUPPORT: 94, EOPNOTSUPP: 95,
  EPFNOSUPPORT: 96, EAFNOSUPPORT: 97, EADDRINUSE: 98, EADDRNOTAVAIL: 99, ENETDOWN: 100,
  ENETUNREACH: 101, ENETRESET: 102, ECONNABORTED: 103, ECONNRESET: 104, ENOBUFS: 105,
  EISCONN: 106, ENOTCONN: 107, ESHUTDOWN: 108, ETOOMANYREFS: 109, ETIMEDOUT: 110,
  ECONNREFUSED: 111, EHOSTDOWN: 112, EHOSTUNREACH: 113, EALREADY: 114, EINPROGRESS: 115,
  ESTALE: 116, EUCLEAN: 117, ENOTNAM: 118, ENAVAIL: 119, EISNAM: 120, EREMOTEIO: 121,
  EDQUOT: 122, ENOMEDIUM: 123, EMEDIUMTYPE: 124, ECANCELED: 125, ENOKEY: 126, EKEYEXPIRED: 127,
  EKEYREVOKED: 128, EKEYREJECTED: 129, EOWNERDEAD: 130, ENOTRECOVERABLE: 131, ERFKILL: 132,
  EHWPOISON: 133,
  // Aliases with the same numbers.
  EWOULDBLOCK: 11, EDEADLOCK: 35, ENOTSUP: 95,
} as const;

export type ErrnoName = keyof typeof Errno;

const ALIASES = new Set(['EWOULDBLOCK', 'EDEADLOCK', 'ENOTSUP']);
const NAME_BY_NUMBER = new Map<number, ErrnoName>();
for (const [name, n] of Object.entries(Errno)) {
  if (!ALIASES.has(name)) NAME_BY_NUMBER.set(n, name as ErrnoName);
}

/** 'ENOENT' -> 2; undefined for names Linux does not have. */
export function errnoNumber(name: string): number | undefined {
  return Object.prototype.hasOwnProperty.call(Errno, name) ? Errno[name as ErrnoName] : undefined;
}

/** 2 -> 'ENOENT' (negative numbers accepted); undefined for numbers Linux does not define. */
export function errnoName(num: number): ErrnoName | undefined {
  return NAME_BY_NUMBER.get(Math.abs(num));
}

/**
 * The positive errno a thrown value stands for, or undefined when it is none: its `.code` as an
 * errno name ('ENOENT', as Node's fs and our addon throw) or as digits ('1', as ioctl-napi
 * throws), else a numeric `.errno` (Node's is negative). The one reading of errors every layer
 * uses: the session's replies, the kernel layer's errors, the CLI's messages.
 */
export function errnoOfError(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    const n = /^\d+$/.test(code) ? known(Number(code)) : errnoNumber(code);
    if (n !== undefined) return n;
  }
  // A numeric `.code` is no errno: DOMException's are its legacy codes (AbortError's is 20).
  const errno = (err as { errno?: unknown }).errno;
  return typeof errno === 'number' ? known(errno) : undefined;
}

/** |n| when it is a known errno, else undefined. */
function known(n: number): number | undefined {
  return Number.isInteger(n) && n !== 0 && NAME_BY_NUMBER.has(Math.abs(n)) ? Math.abs(n) : undefined;
}

/** The errno to answer for a thrown error (errnoOfError), else `fallback` (EIO). */
export function errnoFromError(err: unknown, fallback: number = Errno.EIO): number {
  return errnoOfError(err) ?? fallback;
}
