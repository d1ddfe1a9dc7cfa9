// Linux names are bytes, not text: a name that is not valid UTF-8 must reach
// the source byte for byte through the mount, and such a name in the source
// must be reachable through the mount by those bytes. Decoding it as UTF-8
// on the way turns 0xe9 into EF BF BD (U+FFFD) and loses the file.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mountLoopback } from './fixtures/loopback/harness';

/** "new" + 0xe9 (é in latin1): not valid UTF-8. */
const NAME = Buffer.from([0x6e, 0x65, 0x77, 0xe9]);
const RENAMED = Buffer.from([0x6f, 0x6c, 0x64, 0xff, 0xfe]);

const under = (dir: string, name: Buffer): Buffer => Buffer.concat([Buffer.from(dir + '/'), name]);
const namesIn = (dir: string): Buffer[] => fs.readdirSync(dir, { encoding: 'buffer' });
const has = (names: Buffer[], name: Buffer): boolean => names.some((n) => n.equals(name));

t.test('a non-UTF-8 name made through the mount is those bytes in the source', async (t) => {
  const m = await mountLoopback(t);
  const dir = path.join(m.mnt, 'd');
  fs.mkdirSync(dir);
  const srcDir = path.join(m.src, 'd');

  fs.writeFileSync(under(dir, NAME), 'hello');
  t.ok(has(namesIn(srcDir), NAME), 'exact bytes in the source');
  t.equal(namesIn(srcDir).length, 1, 'and nothing else');
  t.equal(fs.statSync(under(dir, NAME)).size, 5, 'stat through the mount');
  t.equal(fs.readFileSync(under(dir, NAME), 'utf8'), 'hello', 'read back through the mount');
  t.ok(has(namesIn(dir), NAME), 'listed by its bytes through the mount');

  fs.renameSync(under(dir, NAME), under(dir, RENAMED));
  t.same(namesIn(srcDir), [RENAMED], 'renamed to the exact new bytes');
  t.equal(fs.readFileSync(under(dir, RENAMED), 'utf8'), 'hello');

  fs.mkdirSync(under(dir, NAME));
  t.ok(fs.statSync(under(srcDir, NAME)).isDirectory(), 'mkdir by bytes');
  fs.rmdirSync(under(dir, NAME));
  fs.symlinkSync(RENAMED, under(dir, NAME));
  t.ok(fs.readlinkSync(under(srcDir, NAME), { encoding: 'buffer' }).equals(RENAMED), 'symlink name and target by bytes');
  fs.unlinkSync(under(dir, NAME));
  fs.linkSync(under(dir, RENAMED), under(dir, NAME));
  t.equal(fs.statSync(under(srcDir, NAME)).nlink, 2, 'link by bytes');
  fs.unlinkSync(under(dir, NAME));

  fs.unlinkSync(under(dir, RENAMED));
  t.same(namesIn(srcDir), [], 'unlinked');
  t.same(namesIn(dir), []);
});

t.test('a non-UTF-8 name in the source is reachable through the mount', async (t) => {
  const m = await mountLoopback(t);
  fs.writeFileSync(under(m.src, NAME), 'from source');
  // Looked up before any listing, which would have put the name in the dentry cache.
  t.equal(fs.statSync(under(m.mnt, NAME)).size, 11, 'stat by its bytes');
  t.equal(fs.readFileSync(under(m.mnt, NAME), 'utf8'), 'from source', 'opened by its bytes');
  t.ok(has(namesIn(m.mnt), NAME), 'listed by its bytes');
  t.throws(() => fs.statSync(path.join(m.mnt, 'new\ufffd')), { code: 'ENOENT' }, 'the U+FFFD spelling is another name');
  fs.unlinkSync(under(m.mnt, NAME));
  t.same(namesIn(m.src), [], 'unlinked in the source');
});
