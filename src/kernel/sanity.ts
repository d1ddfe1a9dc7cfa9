// Numbers a real kernel never sends, refused before they reach a filesystem.
//
// The codec reads u64 fields into JS numbers, exact below 2^53. Offsets and
// sizes past that (or past what one request can carry) only come from a
// corrupted or hostile peer; handed on, they reach Node's fs and Buffer as
// RangeErrors, which would be answered EIO and logged as handler bugs (found
// by the session fuzzer). Answering the errno the syscall itself would give
// keeps the filesystem's code free of these checks.
import { FATTR_SIZE, Opcode } from '../protocol/constants';
import { Errno } from '../protocol/errors';
import type { Request } from '../protocol/requests';

/**
 * The largest READ/READDIR/xattr buffer a kernel asks for is max_pages pages
 * (at most 256 × 4 KiB by default; the sysctl max_pages_limit caps it at 64K
 * pages on 6.x) — 16 MiB leaves room for every configuration we negotiate.
 */
export const MAX_REQUEST_BUFFER = 16 * 1024 * 1024;

/**
 * copy_file_range(2) copies at most MAX_RW_COUNT (2 GiB - 4 KiB) per call;
 * callers often pass SIZE_MAX to mean "to the end", so larger lengths are
 * clamped, not refused.
 */
const MAX_COPY_LENGTH = 0x7ffff000;

const exact = (n: number): boolean => n <= Number.MAX_SAFE_INTEGER;

/**
 * 0 when the request's numbers are plausible; otherwise the positive errno to
 * answer it with. May clamp a field in place (copy_file_range's length).
 */
export function implausible(req: Request): number {
  switch (req.opcode) {
    case Opcode.READ:
    case Opcode.READDIR:
    case Opcode.READDIRPLUS:
      return exact(req.offset) && req.size <= MAX_REQUEST_BUFFER ? 0 : Errno.EINVAL;
    case Opcode.GETXATTR:
    case Opcode.LISTXATTR:
      return req.size <= MAX_REQUEST_BUFFER ? 0 : Errno.EINVAL;
    case Opcode.WRITE:
      return exact(req.offset + req.size) ? 0 : Errno.EFBIG;
    case Opcode.SETATTR:
      return (req.valid & FATTR_SIZE) === 0 || exact(req.size) ? 0 : Errno.EFBIG;
    case Opcode.FALLOCATE:
      return exact(req.offset + req.length) ? 0 : Errno.EFBIG;
    case Opcode.LSEEK:
      return exact(req.offset) ? 0 : Errno.EINVAL;
    case Opcode.COPY_FILE_RANGE:
    case Opcode.COPY_FILE_RANGE_64:
      if (req.len > MAX_COPY_LENGTH) req.len = MAX_COPY_LENGTH;
      return exact(req.offIn + req.len) && exact(req.offOut + req.len) ? 0 : Errno.EFBIG;
    default:
      return 0;
  }
}
