import { constants } from 'node:os';

/** An errno name Linux knows, e.g. 'ENOENT'. */
export type ErrnoName = keyof typeof constants.errno;

/**
 * The error a filesystem throws to answer a request with an errno.
 * `code` carries the name, as Node's own fs errors do, so a handler can let
 * either kind propagate and the session answers with the same errno.
 */
export class FuseError extends Error {
  readonly code: ErrnoName;
  /** Positive errno number (the wire carries its negation). */
  readonly errno: number;

  constructor(code: ErrnoName, message?: string) {
    super(message ?? code);
    this.name = 'FuseError';
    this.code = code;
    this.errno = constants.errno[code];
  }
}

/**
 * The positive errno a thrown value stands for, or undefined when it is not
 * an errno error (a bug in the handler, answered with EIO).
 */
export function errnoOf(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && Object.prototype.hasOwnProperty.call(constants.errno, code)) {
    return constants.errno[code as ErrnoName];
  }
  return undefined;
}
