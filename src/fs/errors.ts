import { errnoNumber, errnoOfError, type ErrnoName } from '../protocol/errors';

export type { ErrnoName };

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
    this.errno = errnoNumber(code) as number;
  }
}

/**
 * The positive errno a thrown value stands for, or undefined when it is not
 * an errno error (a bug in the handler, answered with EIO). The same mapping
 * the session uses (src/protocol/errors.ts).
 */
export function errnoOf(err: unknown): number | undefined {
  return errnoOfError(err);
}
