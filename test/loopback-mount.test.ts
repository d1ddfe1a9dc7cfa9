// The loopback on a real mount: the behaviour suite (fixtures/loopback/
// scenarios.ts) run in the source directory and through the mount must give
// the same results; plus what only the mount can show (inode numbers).
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { behaviourSuite, mountLoopback } from './fixtures/loopback/harness';

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root (mounts FUSE, chowns, acts as other users)');
} else {
  // Three mounts, each running the whole suite (~35 s here); room for a slower machine.
  t.setTimeout(300_000);
  t.test('behaviour suite, passthrough off', (t) => behaviourSuite(t, { passthrough: 'off' }));

  // The other code paths: reads and writes on the threadpool, plain READDIR.
  t.test('behaviour suite, async I/O, no readdirplus', (t) => behaviourSuite(t, { asyncIo: true, readdirplus: false }));

  // Few fds: files the kernel still knows are closed and reopened by name all the time.
  t.test('behaviour suite, at most 8 inode fds', async (t) => {
    const m = await behaviourSuite(t, { maxInodeFds: 8 });
    const { loopback } = await m.stats();
    t.ok(loopback.inodes > loopback.inodeFds, `fds were closed early (${loopback.inodeFds} for ${loopback.inodes} inodes)`);
  });

  t.test('the mount shows the source inode numbers; hard links are one inode', async (t) => {
    const { src, mnt } = await mountLoopback(t);
    fs.writeFileSync(path.join(mnt, 'f'), 'x');
    fs.linkSync(path.join(mnt, 'f'), path.join(mnt, 'g'));
    fs.mkdirSync(path.join(mnt, 'd'));
    fs.symlinkSync('f', path.join(mnt, 'l'));
    fs.writeFileSync(path.join(src, 'made-in-src'), 'y');
    for (const name of ['f', 'g', 'd', 'l', 'made-in-src']) {
      t.equal(fs.lstatSync(path.join(mnt, name)).ino, fs.lstatSync(path.join(src, name)).ino, name);
    }
    t.equal(fs.statSync(mnt).ino, fs.statSync(src).ino, 'the root too');
    t.equal(fs.statSync(path.join(mnt, 'f')).ino, fs.statSync(path.join(mnt, 'g')).ino);
    t.equal(fs.statSync(path.join(mnt, 'g')).nlink, 2);
    const dev = fs.statSync(mnt).dev;
    t.ok(['f', 'g', 'd', 'l'].every((n) => fs.lstatSync(path.join(mnt, n)).dev === dev), 'one st_dev for the whole mount');
    const listed = fs.readdirSync(mnt, { withFileTypes: true }).map((d) => d.name).sort();
    t.same(listed, ['d', 'f', 'g', 'l', 'made-in-src']);
  });
}
