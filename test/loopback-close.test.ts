// The loopback's O_PATH inode fds are closed on the threadpool (src/fs/loopback/close.ts): when
// such a close is the last reference to a deleted file it frees the file's data, which took the
// thread serving every request 1.3 ms per 10 MiB. Here: the close still happens — the deleted
// file's space comes back to its filesystem and no fd is left on it — for a file unlinked
// through a real mount (FORGET), and for one unlinked behind the loopback's back whose fd is
// evicted by the fd bound; meanwhile the mount keeps answering. The source is a tmpfs of its
// own, so its statfs counts only this test's files.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Loopback } from '../src/fs/loopback';
import { closesInFlight, closesSettled } from '../src/fs/loopback/close';
import type { CreateContext } from '../src/fs/api';
import { mountHere } from './helpers/mounted';
import { tempDir } from './helpers/tmp';

const SIZE = 16 * 1024 * 1024;
const ROOT = 1;

function ctx(): CreateContext {
  return { unique: 1, uid: 0, gid: 0, pid: process.pid, umask: 0o022, signal: new AbortController().signal };
}

/** An empty tmpfs of its own, detached and removed at teardown (with its directory). */
function tmpfs(t: Test): string {
  const src = path.join(tempDir(t, 'tsfuse-lbclose-'), 'src');
  fs.mkdirSync(src);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0755', 'tsfuse-lbclose', src]);
  if (mounted.status !== 0) throw new Error(`mount tmpfs: ${mounted.stderr}`);
  return src;
}

async function freeBytes(dir: string): Promise<number> {
  const s = await fs.promises.statfs(dir);
  return s.bfree * s.bsize;
}

/** Fds of this process on a deleted file called `name` in `dir`. */
function fdsOnDeleted(dir: string, name: string): string[] {
  const deleted = `${path.join(dir, name)} (deleted)`;
  return fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`) === deleted;
    } catch {
      return false; // the fd of readdir itself, or one closed meanwhile
    }
  });
}

/** Polls `done` every 20 ms, at most ~10 s (a bound for a loaded machine, not a timing check). */
async function eventually(done: () => Promise<boolean>, each: () => Promise<void> = async () => {}): Promise<boolean> {
  for (let i = 0; i < 500; i++) {
    await each();
    if (await done()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root (mounts FUSE and tmpfs)');
} else {
  t.test('a file unlinked through the mount: its inode fd is closed, its space freed', async (t) => {
    const src = tmpfs(t);
    const lb = new Loopback(src);
    const handle = await mountHere(t, lb);
    const mnt = handle.mountpoint;
    // The mount is served by this process: async calls only.
    await fs.promises.writeFile(path.join(mnt, 'small'), 'x');
    await fs.promises.writeFile(path.join(mnt, 'big'), Buffer.alloc(SIZE, 1));
    const known = lb.inodeFds;
    const freeBefore = await freeBytes(src);
    await fs.promises.unlink(path.join(mnt, 'big'));
    t.same(await fs.promises.readdir(src), ['small'], 'gone from the source');

    let asked = 0;
    const wrong: string[] = [];
    const freed = await eventually(
      async () => (await freeBytes(src)) - freeBefore >= SIZE,
      // The mount answers all along; a name it has not seen is a LOOKUP that reaches the server.
      async () => {
        asked++;
        const small = await fs.promises.stat(path.join(mnt, 'small'));
        if (small.size !== 1) wrong.push(`small has size ${small.size}`);
        const missing = await fs.promises.stat(path.join(mnt, `missing-${asked}`)).then(() => 'found', (err) => err.code);
        if (missing !== 'ENOENT') wrong.push(`missing-${asked}: ${missing}`);
      },
    );
    t.ok(freed, `the deleted file's ${SIZE} bytes came back (freed ${(await freeBytes(src)) - freeBefore})`);
    t.same(wrong, [], `the mount answered all along (${asked} rounds)`);
    t.equal(lb.inodeFds, known - 1, 'its inode and fd were forgotten');
    await closesSettled();
    t.equal(closesInFlight(), 0);
    t.same(fdsOnDeleted(src, 'big'), [], 'no fd left on the deleted file');
    t.equal((await fs.promises.readFile(path.join(mnt, 'small'), 'utf8')), 'x', 'the other file still served');
  });

  t.test('an fd evicted by the bound may be the last one on a deleted file: closed too', async (t) => {
    const src = tmpfs(t);
    const lb = new Loopback(src, { maxInodeFds: 2 });
    t.teardown(() => lb.destroy());
    fs.writeFileSync(path.join(src, 'big'), Buffer.alloc(SIZE, 1));
    fs.writeFileSync(path.join(src, 'other'), 'o');
    const big = await lb.lookup(ctx(), ROOT, 'big');
    // Unlinked behind the loopback's back: the kernel would still know it, and its fd holds it.
    fs.unlinkSync(path.join(src, 'big'));
    const freeBefore = await freeBytes(src);
    t.equal(fdsOnDeleted(src, 'big').length, 1, 'the inode fd holds the deleted file');
    // Root + big is the bound: looking up another file evicts big's fd.
    await lb.lookup(ctx(), ROOT, 'other');
    t.equal(lb.inodeFds, 2, 'bounded');
    t.equal(lb.inodeCount, 3, 'big is still known');
    await closesSettled();
    t.same(fdsOnDeleted(src, 'big'), [], 'its fd is closed');
    t.ok((await freeBytes(src)) - freeBefore >= SIZE, 'and its space freed');
    await t.rejects(() => lb.getattr(ctx(), big.nodeid), { code: 'ESTALE' }, 'nothing to reopen it by');
  });

  t.test('destroy() with closes in flight: every fd closed, none twice', async (t) => {
    const src = tmpfs(t);
    const lb = new Loopback(src);
    const names = Array.from({ length: 50 }, (_, i) => `f${i}`);
    for (const n of names) fs.writeFileSync(path.join(src, n), n);
    const nodes = [];
    for (const n of names) nodes.push((await lb.lookup(ctx(), ROOT, n)).nodeid);
    const before = fs.readdirSync('/proc/self/fd').length;
    // Half are forgotten (closes start on the threadpool), then the session ends at once.
    for (const nodeid of nodes.slice(0, 25)) lb.forget(nodeid, 1);
    t.equal(lb.inodeFds, 26, 'root + the 25 still known');
    lb.destroy();
    t.equal(lb.inodeFds, 0, 'destroy() closed the held ones');
    await closesSettled();
    t.equal(fs.readdirSync('/proc/self/fd').length, before - 51, 'all 51 fds closed');
  });
}
