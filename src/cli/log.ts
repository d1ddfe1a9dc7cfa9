import * as fs from 'node:fs';
import { openForAppend } from './paths';

/**
 * Where the CLI's own lines go: stdout/stderr, or one file for both
 * (--log-file). Writes are synchronous so nothing is lost when the process
 * exits right after a line.
 */
export class Logger {
  private constructor(
    private readonly outFd: number,
    private readonly errFd: number,
    private readonly ownsFd: boolean,
  ) {}

  static console(): Logger {
    return new Logger(1, 2, false);
  }

  /** Appends to `file`; the caller closes it. */
  static file(file: string): Logger {
    const fd = openLogFile(file);
    return new Logger(fd, fd, true);
  }

  info(line: string): void {
    this.write(this.outFd, line);
  }

  error(line: string): void {
    this.write(this.errFd, line);
  }

  close(): void {
    if (this.ownsFd) fs.closeSync(this.outFd);
  }

  private write(fd: number, line: string): void {
    try {
      fs.writeSync(fd, line.endsWith('\n') ? line : line + '\n');
    } catch {
      // A closed stdout (EPIPE, or /dev/null gone) must not take the mount down with it.
    }
  }
}

/** Opens --log-file for appending; a path the user got wrong is a one-line error. */
export function openLogFile(file: string): number {
  return openForAppend('--log-file', file);
}
