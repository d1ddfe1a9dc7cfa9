// A ThreadedFilesystem served by several threads on real mounts: requests of concurrent
// processes spread over the threads, a RELEASE served by another thread than its OPEN finds the
// open (in the filesystem's shared state, and in the session's shared passthrough state: no
// backing id left, no EIO), and a module that cannot serve fails the mount with a clear error.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { MountError } from '../src/kernel/errors';
import { mount } from '../src/fs/mount';
import { mountHere, run, tempMountpoint } from './helpers/mounted';
import {
  COUNTER_INTS, C_CROSS_RELEASES, C_OPENS, C_PER_THREAD, C_RELEASES, C_UNKNOWN_RELEASES, type SharedFileData,
} from './fixtures/threads/shared-file';

const MODULE = path.join(__dirname, 'fixtures', 'threads', 'shared-file.ts');
const CONTENT = 'threaded\n'.repeat(1000);
const PROCESSES = 4;
const OPENS_EACH = 60;

async function served(t: Test, passthrough: boolean): Promise<void> {
  const backing = path.join(tempMountpoint(t).dir, 'backing');
  fs.writeFileSync(backing, CONTENT);
  const counters = new SharedArrayBuffer(COUNTER_INTS * 4);
  const data: SharedFileData = { backing, passthrough, counters };
  const m = await mountHere(t, { module: MODULE, data }, { threads: 2 });
  const file = path.join(m.mountpoint, 'f');
  // Each process reads the file OPENS_EACH times and prints a checksum line per read.
  const runs = await Promise.all(Array.from({ length: PROCESSES }, () =>
    run('sh', ['-c', `for i in $(seq ${OPENS_EACH}); do cksum < "$1" || echo FAILED; done`, 'sh', file])));
  const expected = (await run('cksum', [backing])).stdout.split(' ').slice(0, 2).join(' ');
  for (const r of runs) {
    t.equal(r.stderr, '', 'no read failed (EIO would show here)');
    const lines = r.stdout.trim().split('\n');
    t.equal(lines.length, OPENS_EACH, 'every read ran');
    t.ok(lines.every((l) => l === expected), 'every read saw the backing file');
  }
  const c = new Int32Array(counters);
  // RELEASE is sent after close(2) returns: wait until the last arrived.
  for (let i = 0; i < 100 && Atomics.load(c, C_RELEASES) < PROCESSES * OPENS_EACH; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(Atomics.load(c, C_OPENS), PROCESSES * OPENS_EACH, 'one OPEN per read');
  t.equal(Atomics.load(c, C_RELEASES), PROCESSES * OPENS_EACH, 'every open was released');
  t.equal(Atomics.load(c, C_UNKNOWN_RELEASES), 0, 'no RELEASE named an fh nobody opened');
  t.ok(Atomics.load(c, C_PER_THREAD) > 0 && Atomics.load(c, C_PER_THREAD + 1) > 0, 'both threads served requests');
  t.ok(Atomics.load(c, C_CROSS_RELEASES) > 0, 'some RELEASEs reached another thread than their OPEN');
  const stats = await m.stats();
  t.equal(stats.requests.OPEN, PROCESSES * OPENS_EACH, 'the summed statistics count every OPEN');
  if (passthrough) {
    t.ok(stats.backing.enabled, 'passthrough is on');
    t.ok(stats.backing.registered > 0, 'opens passed through');
    t.equal(stats.requests.READ, 0, 'no READ reached the server');
    t.equal(stats.backing.live, 0, 'no backing id is left once every open is released');
  } else {
    t.ok(stats.requests.READ > 0, 'reads went through the server');
  }
}

t.test('two threads serve concurrent opens and reads', (t) => served(t, false));
t.test('two threads with passthrough: one backing id per inode across threads', (t) => served(t, true));

t.test('a module that cannot serve fails the mount and leaves nothing mounted', async (t) => {
  const { mnt } = tempMountpoint(t);
  await t.rejects(mount({ module: MODULE, export: 'nope' }, mnt, { threads: 2 }), { name: 'MountError', message: /no function export 'nope'/ });
  await t.rejects(mount({ module: 'relative.js' }, mnt, { threads: 2 }), MountError);
  await t.rejects(mount({ module: MODULE }, mnt, { threads: 0 }), { message: /invalid threads 0/ });
  t.notOk(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mnt} `), 'nothing mounted');
});
