// One interrupted request, as mount.test.ts and uring.test.ts check it: a LOOKUP whose handler
// waits for its AbortSignal, and a caller (stat) killed by SIGINT while it waits.
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import type { Test } from 'tap';
import { FuseError } from '../../src/fs/errors';
import type { MountHandle, MountOptions } from '../../src/fs/mount';
import { sampleFs } from './memfs';
import { mountHere } from './mounted';

/** Mounts the sample memfs with `options`, interrupts a hanging LOOKUP, checks that it ended; returns the mount. */
export async function interruptHangingLookup(t: Test, options: MountOptions = {}): Promise<MountHandle> {
  const mem = sampleFs();
  let aborted = false;
  mem.onLookup.set('hang', (ctx) => new Promise<void>((_, reject) => {
    ctx.signal.addEventListener('abort', () => {
      aborted = true;
      reject(new FuseError('EINTR'));
    });
  }));
  const m = await mountHere(t, mem, options);
  const child = spawn('stat', [path.join(m.mountpoint, 'hang')], { stdio: 'ignore' });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  while (!mem.lookups.includes('hang')) await new Promise((r) => setTimeout(r, 5));
  child.kill('SIGINT');
  t.equal(await exited, 'SIGINT', 'the caller was killed by its signal');
  t.ok(aborted, "the handler's AbortSignal fired");
  const stats = await m.stats();
  t.equal(stats.requests.INTERRUPT, 1, 'one INTERRUPT came');
  t.equal(stats.inFlight, 0, 'the interrupted request was answered');
  return m;
}
