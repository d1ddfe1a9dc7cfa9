// Numbers a real kernel never sends, as the rows of opcodes.ts check them (OpcodeRow.implausible).
//
// The codec reads u64 fields into JS numbers, exact below 2^53. Offsets and sizes past that (or
// past what one request can carry) only come from a corrupted or hostile peer; handed on, they
// reach Node's fs and Buffer as RangeErrors, which would be answered EIO and logged as handler
// bugs (found by the session fuzzer, test/fuzz-session.test.ts). Answering the errno the syscall
// itself would give keeps the filesystem's code free of these checks.
import { FATTR_SIZE } from './constants';
import { Errno } from './errors';

/**
 * The largest READ/READDIR/xattr buffer a kernel asks for is max_pages pages (at most 256 × 4 KiB
 * by default; the sysctl max_pages_limit caps it at 64K pages on 6.x): 16 MiB leaves room for
 * every configuration we negotiate.
 */
export const MAX_REQUEST_BUFFER = 16 * 1024 * 1024;

/**
 * copy_file_range(2) copies at most MAX_RW_COUNT (2 GiB - 4 KiB) per call; callers often pass
 * SIZE_MAX to mean "to the end", so larger lengths are clamped, not refused.
 */
export const MAX_COPY_LENGTH = 0x7ffff000;

const exact = (n: number): boolean => n <= Number.MAX_SAFE_INTEGER;

/** READ, READDIR, READDIRPLUS: an exact offset and a buffer one request can carry. */
export const checkRead = (r: { offset: number; size: number }): number =>
  exact(r.offset) && r.size <= MAX_REQUEST_BUFFER ? 0 : Errno.EINVAL;

/** GETXATTR, LISTXATTR: a buffer one request can carry. */
export const checkBufferSize = (r: { size: number }): number => (r.size <= MAX_REQUEST_BUFFER ? 0 : Errno.EINVAL);

/** WRITE: its end is an exact number (EFBIG, as write(2) past the largest file). */
export const checkWrite = (r: { offset: number; size: number }): number => (exact(r.offset + r.size) ? 0 : Errno.EFBIG);

/** SETATTR: a new size is an exact number. */
export const checkSetattr = (r: { valid: number; size: number }): number =>
  (r.valid & FATTR_SIZE) === 0 || exact(r.size) ? 0 : Errno.EFBIG;

/** FALLOCATE: the range's end is an exact number. */
export const checkFallocate = (r: { offset: number; length: number }): number => (exact(r.offset + r.length) ? 0 : Errno.EFBIG);

/** LSEEK: an exact offset. */
export const checkLseek = (r: { offset: number }): number => (exact(r.offset) ? 0 : Errno.EINVAL);

/** COPY_FILE_RANGE(_64): the length clamped to MAX_COPY_LENGTH, both ends exact. */
export function checkCopyFileRange(r: { offIn: number; offOut: number; len: number }): number {
  if (r.len > MAX_COPY_LENGTH) r.len = MAX_COPY_LENGTH;
  return exact(r.offIn + r.len) && exact(r.offOut + r.len) ? 0 : Errno.EFBIG;
}
