/**
 * --daemon: this process starts a copy of itself in a new session with an
 * extra pipe at fd 3, waits for one line on it — `ready READY-LINE` or
 * `error CODE MESSAGE` — and exits with the result. The copy runs the same
 * command line (so the same environment and config file resolve to the same
 * options) plus `--ready-fd=3`, which makes it serve instead of daemonizing
 * again.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { CliError } from './errors';
import { openLogFile, type Logger } from './log';

const READY_FD = 3;

export async function daemonize(opts: { args: readonly string[]; logFile: string | undefined; log: Logger }): Promise<number> {
  const out = opts.logFile === undefined ? 'ignore' : openLogFile(opts.logFile);
  const script = process.argv[1];
  const child = spawn(process.execPath, [...process.execArgv, script, ...opts.args, `--ready-fd=${READY_FD}`], {
    detached: true,
    stdio: ['ignore', out, out, 'pipe'],
  });
  if (typeof out === 'number') fs.closeSync(out);

  const exited = new Promise<string>((resolve) => {
    child.on('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exit status ${code}`));
    child.on('error', (err) => resolve(err.message));
  });
  // Ctrl-C while waiting: the user gave up on this mount, so the half-started daemon goes too.
  const abandon = (): void => {
    child.kill('SIGTERM');
  };
  process.on('SIGINT', abandon);
  process.on('SIGTERM', abandon);
  try {
    const line = await firstLine(child.stdio[READY_FD] as NodeJS.ReadableStream | null);
    if (line?.startsWith('ready ')) {
      child.unref();
      // The daemon's own ready line (it names the daemon's pid), so both modes say the same.
      opts.log.info(line.slice('ready '.length));
      return 0;
    }
    const m = /^error (\d+) (.*)$/.exec(line ?? '');
    if (m) throw new CliError(m[2], Number(m[1]));
    const how = await exited;
    const where = opts.logFile === undefined ? ' (run without --daemon, or add --log-file, to see why)' : ` (see ${opts.logFile})`;
    throw new CliError(`the daemon ended before the mount was ready: ${how}${where}`);
  } finally {
    process.off('SIGINT', abandon);
    process.off('SIGTERM', abandon);
  }
}

/** The first line written to `stream`, or undefined if it closed first. */
function firstLine(stream: NodeJS.ReadableStream | null): Promise<string | undefined> {
  return new Promise((resolve) => {
    if (stream === null) return resolve(undefined);
    let text = '';
    const finish = (line: string | undefined): void => {
      stream.removeAllListeners('data');
      (stream as unknown as { destroy(): void }).destroy();
      resolve(line);
    };
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      text += chunk;
      const nl = text.indexOf('\n');
      if (nl >= 0) finish(text.slice(0, nl));
    });
    stream.on('end', () => finish(undefined));
    stream.on('error', () => finish(undefined));
  });
}

/**
 * The daemon's end of the readiness pipe. It reports once: after close, fd 3
 * may be reused by a file the server opens, which must never receive a stray line.
 */
export class ReadinessPipe {
  private open = true;

  constructor(private readonly fd: number) {}

  /** The mount is up; the waiting parent prints `line` and exits 0. */
  ready(line: string): void {
    this.send(`ready ${line}`);
  }

  /** The mount failed; the parent prints this as its own error and exits with its code. */
  failed(err: unknown): void {
    const code = err instanceof CliError ? err.exitCode : 1;
    const message = (err instanceof Error ? err.message : String(err)).replace(/\n/g, ' ');
    this.send(`error ${code} ${message}`);
  }

  private send(line: string): void {
    if (!this.open) return;
    this.open = false;
    try {
      fs.writeSync(this.fd, line + '\n');
    } catch {
      // The parent is gone (EPIPE): nobody is waiting any more.
    }
    fs.closeSync(this.fd);
  }
}
