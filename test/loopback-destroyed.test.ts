// After destroy() every fd is closed; a request that still arrives (only a forged one can) must
// get an errno, not recurse through InodeTable.fd until the stack overflows (a fuzz finding).
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Loopback } from '../src/fs/loopback';
import type { CreateContext } from '../src/fs/api';
import { tempDir } from './helpers/tmp';

const ctx: CreateContext = { unique: 1, uid: 0, gid: 0, pid: process.pid, umask: 0o022, signal: new AbortController().signal };

t.test('requests after destroy() are answered with an errno', async (t) => {
  const src = tempDir(t, 'tsfuse-destroyed-');
  fs.writeFileSync(path.join(src, 'f'), 'x');
  const lb = new Loopback(src);
  await lb.lookup(ctx, 1, 'f');
  lb.destroy();
  for (const [what, call] of [
    ['getattr of the root', () => lb.getattr(ctx, 1)],
    ['lookup in the root', () => lb.lookup(ctx, 1, 'f')],
    ['open of the file', () => lb.open(ctx, 2, 0)],
  ] as const) {
    const err = await Promise.resolve().then(call).then(() => null, (e: NodeJS.ErrnoException) => e);
    t.ok(err !== null && typeof err.code === 'string' && /^E[A-Z]+$/.test(err.code), `${what}: ${err?.code ?? 'no error'}`);
  }
});
