/**
 * Errors the user can cause. main() prints their message as one line and
 * exits with their code; anything else is a bug and gets a stack trace.
 */
export class CliError extends Error {
  constructor(
    message: string,
    /** 2 for a bad command line, environment or config file; 1 for everything else. */
    readonly exitCode: number = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A bad command line, TSFUSE_* variable or config file entry: exit 2, like yargs' own errors. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}

