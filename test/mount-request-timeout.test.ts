// requestTimeout (FUSE_REQUEST_TIMEOUT): a server that stops answering lets the kernel abort the
// connection, so its callers fail instead of waiting forever. Real mounts: a filesystem whose
// GETATTR of one file never answers.
import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FuseError, mount, type Filesystem } from '../src';
import { MountError } from '../src/kernel/errors';
import { mountHere, tempMountpoint } from './helpers/mounted';

const root = process.getuid?.() === 0;
const skip = (!root || !fs.existsSync('/dev/fuse')) && 'needs root and /dev/fuse';

const DIR = { ino: 1, size: 0, blocks: 0, atime: 0, mtime: 0, ctime: 0, atimensec: 0, mtimensec: 0, ctimensec: 0, mode: 0o40755, nlink: 2, uid: 0, gid: 0, rdev: 0, blksize: 4096, flags: 0 };
const FILE = { ...DIR, ino: 2, mode: 0o100644, nlink: 1 };

/**
 * Answers LOOKUP of "stuck" and GETATTR of the root; GETATTR of "stuck" waits until `release()`
 * (never, unless called), then fails with ENOENT.
 */
function stuckFilesystem(): Filesystem & { release(): void } {
  const waiting: Array<() => void> = [];
  return {
    release: () => {
      for (const wake of waiting.splice(0)) wake();
    },
    lookup: (_ctx, parent, name) => {
      if (parent === 1 && name === 'stuck') return { nodeid: 2, generation: 0, attr: FILE, entryTimeout: 0, attrTimeout: 0 };
      return { nodeid: 0, generation: 0, attr: DIR, entryTimeout: 0, attrTimeout: 0 };
    },
    getattr: (_ctx, nodeid) => {
      if (nodeid === 1) return { attr: DIR, attrTimeout: 0 };
      return new Promise<never>((_resolve, reject) => waiting.push(() => reject(new FuseError('ENOENT'))));
    },
  };
}

/**
 * stat(1) of `file` in a child process: its exit status, message and the seconds it took, or
 * `waiting` when it has not returned within `limitMs`. A process waiting for a FUSE reply the
 * server has already read cannot be killed (the kernel waits uninterruptibly), so the caller
 * must make the request end: by the timeout, or by answering it (`settled`).
 */
function statInChild(file: string, limitMs: number): { result: Promise<{ code: number | null; stderr: string; seconds: number } | 'waiting'>; settled: Promise<unknown> } {
  const start = process.hrtime.bigint();
  const child = spawn('stat', [file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const settled = new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr, seconds: Number(process.hrtime.bigint() - start) / 1e9 })));
  const limit = new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), limitMs).unref());
  return { result: Promise.race([settled as Promise<{ code: number | null; stderr: string; seconds: number }>, limit]), settled };
}

t.test('a request left unanswered past requestTimeout aborts the connection; the caller gets an error', { skip }, async (t) => {
  const fs_ = stuckFilesystem();
  t.teardown(() => fs_.release()); // should the kernel not abort, the test still ends
  const handle = await mountHere(t, fs_, { requestTimeout: 1 });
  t.equal(handle.negotiated?.requestTimeout, 1, 'INIT granted a timeout of 1 s');
  // The kernel checks for expired requests periodically (about every 15 s): a generous bound.
  const r = await statInChild(path.join(handle.mountpoint, 'stuck'), 90_000).result;
  if (r === 'waiting') {
    t.fail('stat was still waiting after 90 s');
    return;
  }
  t.pass(`stat returned by itself, after ${r.seconds.toFixed(1)} s`);
  t.not(r.code, 0, 'stat failed');
  t.match(r.stderr, /Software caused connection abort|Transport endpoint is not connected/, `the error says the connection went: ${r.stderr.trim()}`);
  await handle.closed; // the aborted connection ends the session
});

t.test('without requestTimeout the same request waits for the server', { skip }, async (t) => {
  const fs_ = stuckFilesystem();
  t.teardown(() => fs_.release());
  const handle = await mountHere(t, fs_);
  t.equal(handle.negotiated?.requestTimeout, 0, 'no timeout asked for');
  const stat = statInChild(path.join(handle.mountpoint, 'stuck'), 20_000);
  t.equal(await stat.result, 'waiting', 'stat was still waiting after 20 s, past the kernel\'s 15 s check');
  fs_.release();
  const r = (await stat.settled) as { code: number; stderr: string };
  t.match(r.stderr, /No such file or directory/, 'answered once the server answers');
});

t.test('an invalid requestTimeout is refused before anything is mounted', async (t) => {
  const { mnt } = tempMountpoint(t);
  for (const bad of [-1, 1.5, 65536]) {
    await t.rejects(mount(stuckFilesystem(), mnt, { requestTimeout: bad }), MountError, `requestTimeout ${bad}`);
  }
});
