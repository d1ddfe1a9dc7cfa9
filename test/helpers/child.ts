// Child processes that tests talk to line by line (mount servers, lock holders), and the
// teardown that ends a mount server: one copy, used by every harness.
import type { ChildProcess } from 'node:child_process';
import type { Test } from 'tap';
import { detach } from './tmp';

/**
 * The child's stdout, one line per call. A call rejects, naming `what`, when the child exits
 * before the line comes (`detail()` may add, say, what it wrote to stderr).
 */
export function lineReader(child: ChildProcess, what: string, detail: () => string = () => ''): () => Promise<string> {
  const lines: string[] = [];
  const waiting: Array<{ resolve: (line: string) => void; reject: (err: Error) => void }> = [];
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    buffered += s;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const w = waiting.shift();
      if (w) w.resolve(line);
      else lines.push(line);
    }
  });
  const exited = (): Error => {
    const more = detail();
    return new Error(`${what} exited (${child.exitCode ?? child.signalCode})${more ? `: ${more}` : ''}`);
  };
  child.once('exit', () => {
    for (const w of waiting.splice(0)) w.reject(exited());
  });
  return () => new Promise((resolve, reject) => {
    const line = lines.shift();
    if (line !== undefined) resolve(line);
    else if (child.exitCode !== null || child.signalCode !== null) reject(exited());
    else waiting.push({ resolve, reject });
  });
}

/**
 * At teardown: detach `mnt`, close the server's stdin (which ends it), and SIGKILL it if it is
 * still there 5 s later; resolves once it has exited.
 */
export function stopServerAtTeardown(t: Test, server: ChildProcess, mnt: string): void {
  t.teardown(async () => {
    await detach(mnt);
    server.stdin?.end();
    if (server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      const timer = setTimeout(() => server.pid !== undefined && process.kill(server.pid, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  });
}
