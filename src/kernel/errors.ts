import { Errno, errnoName, errnoOfError } from '../protocol/errors';
import type { ErrnoName } from '../protocol/errors';

/**
 * Mounting, unmounting or opening /dev/fuse failed. `code` is the errno name that best says
 * why ('EPERM' not root, 'ENOENT' no mountpoint or no /dev/fuse, 'ENOTCONN' dead FUSE mount,
 * 'EBUSY' busy at unmount or already a FUSE mount at mount …), so callers can branch on it the way they do on Node's fs errors;
 * the message says what to do about it.
 */
export class MountError extends Error {
  readonly code: ErrnoName;
  /** Positive errno number. */
  readonly errno: number;
  /** The path the operation was about (the mountpoint, or /dev/fuse). */
  readonly path: string;

  constructor(code: ErrnoName, path: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MountError';
    this.code = code;
    this.errno = Errno[code];
    this.path = path;
  }
}

/** The errno name of a Node fs error, ioctl-napi error (numeric string code) or errno number. */
export function errnoCodeOf(err: unknown): ErrnoName | undefined {
  if (typeof err === 'number') return errnoName(err);
  const n = errnoOfError(err);
  return n === undefined ? undefined : errnoName(n);
}

/** An Error carrying `code` (errno name) and `errno`, the shape Node's fs errors have. */
export function errnoError(code: ErrnoName, message: string): Error & { code: ErrnoName; errno: number } {
  return Object.assign(new Error(`${code}: ${message}`), { code, errno: Errno[code] });
}
