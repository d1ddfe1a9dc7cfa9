// The threaded loopback's inode table in shared memory (src/fs/loopback/shared-inodes.ts), on
// real files: one nodeid per (dev, ino) while the kernel holds references, a new nodeid when a
// slot is used again (never an old one), the hash still finding every inode after deletions
// from the middle of probe runs, a second view (another thread's) resolving the same nodeids,
// and every fd closed by FORGET or clear().
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import * as sys from '../src/sys/index';
import { O_NODE } from '../src/fs/loopback/inodes';
import { SharedInodeTable } from '../src/fs/loopback/shared-inodes';
import { closesSettled } from '../src/fs/loopback/close';
import { tempDir } from './helpers/tmp';

const CAPACITY = 64;

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

t.test('random LOOKUPs and FORGETs against a model, in a table small enough to reuse every slot', async (t) => {
  const dir = tempDir(t, 'tsfuse-shared-inodes-');
  const files = Array.from({ length: 200 }, (_, i) => path.join(dir, `f${i}`));
  for (const f of files) fs.writeFileSync(f, '');
  const fds0 = openFds();
  const root = sys.openat(sys.AT_FDCWD, dir, sys.O_PATH | sys.O_DIRECTORY);
  const table = new SharedInodeTable(CAPACITY, root);
  const other = new SharedInodeTable(table.buffer); // as another thread sees it
  // file index → [nodeid, nlookup] while known
  const model = new Map<number, [number, number]>();
  const issued = new Set<number>([1]);
  let x = 7;
  // The high bits: an LCG's low bits cycle with short periods.
  const rnd = (n: number): number => ((x = (x * 1103515245 + 12345) >>> 0) >>> 16) % n;
  let wrong = 0;
  for (let step = 0; step < 5000; step++) {
    const i = rnd(files.length);
    const known = model.get(i);
    if (known === undefined && model.size < 50) {
      const { inode } = table.remember(sys.openat(sys.AT_FDCWD, files[i], O_NODE), undefined, '');
      if (issued.has(inode.nodeid)) wrong++; // a nodeid handed out again
      issued.add(inode.nodeid);
      model.set(i, [inode.nodeid, 1]);
    } else if (known !== undefined && rnd(2) === 0) {
      const { inode } = table.remember(sys.openat(sys.AT_FDCWD, files[i], O_NODE), undefined, '');
      if (inode.nodeid !== known[0]) wrong++;
      known[1]++;
    } else if (known !== undefined) {
      const n = 1 + rnd(known[1]);
      other.forget(known[0], n); // FORGET on another thread than the LOOKUP
      if ((known[1] -= n) === 0) model.delete(i);
    }
  }
  t.equal(wrong, 0, 'a known file keeps its nodeid, a new lookup never gets an old one');
  t.ok(issued.size > CAPACITY, `slots were used again (${issued.size} nodeids from ${CAPACITY} slots)`);
  t.equal(table.size, model.size + 1, 'the table counts what the model holds (and the root)');
  let found = 0;
  for (let i = 0; i < files.length; i++) {
    const inode = table.find(sys.fstatat(sys.AT_FDCWD, files[i], sys.AT_SYMLINK_NOFOLLOW));
    const known = model.get(i);
    if ((inode?.nodeid ?? 0) === (known?.[0] ?? 0)) found++;
  }
  t.equal(found, files.length, 'find() agrees with the model for every file, known or not');
  for (const [i, [nodeid]] of model) {
    const seen = other.get(nodeid);
    t.equal(seen.ino, fs.lstatSync(files[i]).ino, `another view resolves nodeid ${nodeid}`);
    break;
  }
  const forgotten = [...issued].find((n) => ![...model.values()].some(([id]) => id === n) && n !== 1)!;
  t.throws(() => other.get(forgotten), { code: 'ESTALE' }, 'a forgotten nodeid is ESTALE, not another file');
  table.clear();
  other.clear(); // every thread's destroy() runs it: the fds are closed once
  await closesSettled();
  t.equal(openFds(), fds0, 'every fd closed, the root too');
});
