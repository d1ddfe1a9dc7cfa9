// The loopback's operations called directly, without a kernel: lookup counts,
// name checks, symlinks never followed, ownership of new nodes, directory
// offsets under change, locks between owners. The behaviour of a real mount is
// in loopback-mount.test.ts.
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Loopback, type LoopbackOptions } from '../src/fs/loopback';
import type { CreateContext, Dirent, Entry } from '../src/fs/api';
import { tempDir } from './helpers/tmp';

const { O_RDONLY, O_WRONLY, O_RDWR, O_EXCL, S_IFMT, S_IFDIR, S_IFREG, S_IFLNK } = fs.constants;
const F_RDLCK = 0;
const F_WRLCK = 1;
const F_UNLCK = 2;
const OFFSET_MAX = 2 ** 63;
const ROOT = 1;

function ctx(uid = 0, gid = 0, pid = process.pid): CreateContext {
  return { unique: 1, uid, gid, pid, umask: 0o022, signal: new AbortController().signal };
}

function setup(t: Test, options?: LoopbackOptions) {
  const src = tempDir(t, 'tsfuse-lbops-');
  const lb = new Loopback(src, options);
  t.teardown(() => lb.destroy()); // before tempDir's teardown removes src
  return { src, lb };
}

/** A DirentSink that takes at most `room` entries per call. */
function sink(room: number) {
  const got: Array<{ name: string; off: number; ino: number; type: number; entry: Entry | null }> = [];
  let left = room;
  const add = (d: Dirent, entry: Entry | null = null): boolean => {
    if (left === 0) return false;
    left--;
    got.push({ name: d.name.toString(), off: d.nextOffset, ino: d.ino, type: d.type, entry });
    return true;
  };
  return { got, add, refill: () => (left = room) };
}

t.test('lookup: one nodeid per inode, counted, forgotten', async (t) => {
  const { src, lb } = setup(t);
  fs.writeFileSync(path.join(src, 'a'), 'x');
  fs.linkSync(path.join(src, 'a'), path.join(src, 'b'));
  const a1 = await lb.lookup(ctx(), ROOT, 'a');
  const a2 = await lb.lookup(ctx(), ROOT, 'a');
  const b = await lb.lookup(ctx(), ROOT, 'b');
  t.equal(a1.nodeid, a2.nodeid);
  t.equal(a1.nodeid, b.nodeid, 'hard links are one node');
  t.not(a1.nodeid, ROOT);
  t.equal(a1.attr.ino, fs.statSync(path.join(src, 'a')).ino, 'the source inode number is shown');
  t.equal(a1.attr.nlink, 2);
  t.equal(lb.inodeCount, 2);
  lb.forget(a1.nodeid, 2);
  t.equal(lb.inodeCount, 2, 'one reference left');
  lb.forget(a1.nodeid, 1);
  t.equal(lb.inodeCount, 1, 'gone with the last reference');
  await t.rejects(() => lb.getattr(ctx(), a1.nodeid), { code: 'ESTALE' });
  const again = await lb.lookup(ctx(), ROOT, 'a');
  t.not(again.nodeid, a1.nodeid, 'nodeids are not reused');
  lb.forget(ROOT, 1000);
  t.ok(await lb.getattr(ctx(), ROOT), 'the root is never forgotten');
});

t.test('names that are not one component are refused', async (t) => {
  const { lb } = setup(t);
  for (const name of ['.', '..', 'a/b', '/', '', 'a\0b']) {
    await t.rejects(() => lb.lookup(ctx(), ROOT, name), { code: 'EINVAL' }, JSON.stringify(name));
  }
  await t.rejects(lb.mkdir(ctx(), ROOT, '..', 0o755), { code: 'EINVAL' });
  await t.rejects(lb.rename(ctx(), ROOT, 'a', ROOT, '../x', 0), { code: 'EINVAL' });
  await t.rejects(() => lb.lookup(ctx(), ROOT, 'x'.repeat(256)), { code: 'ENAMETOOLONG' });
  await t.rejects(() => lb.lookup(ctx(), ROOT, 'é'.repeat(128)), { code: 'ENAMETOOLONG' }, '256 bytes in UTF-8');
  t.equal((await lb.lookup(ctx(), ROOT, 'x'.repeat(255))).nodeid, 0, '255 bytes: a name, just missing');
});

t.test('a missing name is a negative entry, cached only when asked for', async (t) => {
  const { lb } = setup(t, { negativeTimeout: 5 });
  const e = await lb.lookup(ctx(), ROOT, 'missing');
  t.equal(e.nodeid, 0);
  t.equal(e.entryTimeout, 5);
  // Timeout 0: what the kernel makes of ENOENT (fs/fuse/dir.c), without an exception.
  const plain = await setup(t).lb.lookup(ctx(), ROOT, 'missing');
  t.equal(plain.nodeid, 0);
  t.equal(plain.entryTimeout, 0);
  await t.rejects(() => lb.lookup(ctx(), 12345, 'missing'), { code: 'ESTALE' }, 'other failures still throw');
});

t.test('symlinks are shown, never followed by the server', async (t) => {
  const { src, lb } = setup(t);
  const outside = tempDir(t, 'tsfuse-lbops-outside-');
  fs.writeFileSync(path.join(outside, 'secret'), 'outside');
  fs.symlinkSync(path.join(outside, 'secret'), path.join(src, 'link'));
  fs.symlinkSync(path.join(outside, 'planted'), path.join(src, 'dangling'));
  const link = await lb.lookup(ctx(), ROOT, 'link');
  t.equal(link.attr.mode & S_IFMT, S_IFLNK);
  t.equal((await lb.readlink(ctx(), link.nodeid)).toString(), path.join(outside, 'secret'));
  await t.rejects(() => lb.open(ctx(), link.nodeid, O_RDONLY), { code: 'ELOOP' });
  await t.rejects(lb.setattr(ctx(), link.nodeid, { size: 0 }), { code: 'EINVAL' });
  t.equal(fs.readFileSync(path.join(outside, 'secret'), 'utf8'), 'outside');
  // CREATE of a name that is a symlink to a missing file outside must not create it.
  await t.rejects(() => lb.create(ctx(), ROOT, 'dangling', 0o644, O_WRONLY), { code: 'ELOOP' });
  await t.rejects(() => lb.create(ctx(), ROOT, 'dangling', 0o644, O_WRONLY | O_EXCL), { code: 'EEXIST' });
  t.notOk(fs.existsSync(path.join(outside, 'planted')));
  // xattrs of a symlink are the symlink's: user.* is not allowed there, as with lsetxattr.
  await t.rejects(lb.setxattr(ctx(), link.nodeid, 'user.x', Buffer.from('1'), 0), { code: 'EPERM' });
  t.same(fs.readdirSync(outside), ['secret']);
});

t.test('a directory swapped for a symlink to / keeps resolving inside', async (t) => {
  const { src, lb } = setup(t);
  fs.mkdirSync(path.join(src, 'd'));
  fs.writeFileSync(path.join(src, 'd', 'f'), 'inside');
  const d = await lb.lookup(ctx(), ROOT, 'd');
  fs.renameSync(path.join(src, 'd'), path.join(src, 'd.moved'));
  fs.symlinkSync('/', path.join(src, 'd'));
  // The nodeid still means the directory, wherever it went.
  t.equal((await lb.lookup(ctx(), d.nodeid, 'etc')).nodeid, 0, 'no etc in it');
  const f = await lb.lookup(ctx(), d.nodeid, 'f');
  const h = await lb.open(ctx(), f.nodeid, O_RDONLY);
  t.equal((await lb.read(ctx(), f.nodeid, h.fh, 0, 100)).toString(), 'inside');
  await lb.release(ctx(), f.nodeid, h.fh, O_RDONLY);
  // The name, looked up again, is the symlink, which the kernel would follow on the caller's side.
  const now = await lb.lookup(ctx(), ROOT, 'd');
  t.equal(now.attr.mode & S_IFMT, S_IFLNK);
  await t.rejects(() => lb.lookup(ctx(), now.nodeid, 'etc'), { code: 'ENOTDIR' });
  const o = await lb.opendir(ctx(), d.nodeid, O_RDONLY).catch((e) => e);
  const s = sink(100);
  await lb.readdir(ctx(), d.nodeid, o.fh, 0, s);
  t.same(s.got.map((e) => e.name), ['.', '..', 'f']);
  await t.rejects(lb.opendir(ctx(), now.nodeid, O_RDONLY), { code: 'ENOTDIR' });
});

t.test('new nodes belong to the caller, with the mode asked for', async (t) => {
  const { src, lb } = setup(t);
  const c = ctx(1234, 2345);
  const file = await lb.create(c, ROOT, 'file', S_IFREG | 0o640, O_WRONLY);
  await lb.release(c, file.nodeid, file.open.fh, O_WRONLY);
  const dir = await lb.mkdir(c, ROOT, 'dir', 0o775);
  const fifo = await lb.mknod(c, ROOT, 'fifo', fs.constants.S_IFIFO | 0o600, 0);
  const link = await lb.symlink(c, ROOT, 'link', 'file');
  for (const [name, e, mode] of [['file', file, 0o640], ['dir', dir, 0o775], ['fifo', fifo, 0o600]] as const) {
    const st = fs.lstatSync(path.join(src, name));
    t.equal(st.uid, 1234, `${name} uid`);
    t.equal(st.gid, 2345, `${name} gid`);
    t.equal(st.mode & 0o7777, mode, `${name} mode`);
    t.equal(e.attr.uid, 1234, `${name} reply uid`);
    t.equal(e.attr.mode & 0o7777, mode, `${name} reply mode`);
  }
  t.equal(fs.lstatSync(path.join(src, 'link')).uid, 1234, 'symlink owner');
  t.equal(link.attr.gid, 2345);
  // A umask the server process has must not apply a second time.
  const mode = await lb.create(c, ROOT, 'open', S_IFREG | 0o666, O_RDWR);
  t.equal(fs.statSync(path.join(src, 'open')).mode & 0o777, 0o666);
  await lb.release(c, mode.nodeid, mode.open.fh, O_RDWR);
  // setuid asked for survives the chown (which clears it).
  const suid = await lb.create(c, ROOT, 'suid', S_IFREG | 0o4755, O_WRONLY);
  t.equal(fs.statSync(path.join(src, 'suid')).mode & 0o7777, 0o4755);
  await lb.release(c, suid.nodeid, suid.open.fh, O_WRONLY);
  // In a set-group-ID directory the group is the directory's, and subdirectories inherit the bit.
  fs.mkdirSync(path.join(src, 'sgid'));
  fs.chownSync(path.join(src, 'sgid'), 0, 777);
  fs.chmodSync(path.join(src, 'sgid'), 0o2777);
  const sgid = await lb.lookup(c, ROOT, 'sgid');
  const sub = await lb.mkdir(c, sgid.nodeid, 'sub', 0o755);
  t.equal(sub.attr.gid, 777);
  t.equal(sub.attr.uid, 1234);
  t.equal(sub.attr.mode & 0o7777, 0o2755);
  const inner = await lb.create(c, sgid.nodeid, 'f', S_IFREG | 0o644, O_WRONLY);
  t.equal(inner.attr.gid, 777);
  await lb.release(c, inner.nodeid, inner.open.fh, O_WRONLY);
  // An existing file opened with O_CREAT (no O_EXCL) keeps its owner.
  fs.writeFileSync(path.join(src, 'old'), 'x');
  const old = await lb.create(c, ROOT, 'old', S_IFREG | 0o600, O_RDWR);
  t.equal(fs.statSync(path.join(src, 'old')).uid, 0);
  await lb.release(c, old.nodeid, old.open.fh, O_RDWR);
  await t.rejects(() => lb.create(c, ROOT, 'old', S_IFREG | 0o600, O_RDWR | O_EXCL), { code: 'EEXIST' });
});

t.test('CREATE of a name that already is something other than a file', async (t) => {
  const { src, lb } = setup(t);
  // The kernel sends CREATE for names it believes absent; one made meanwhile in SRC must not be
  // opened with the caller's flags: a fifo would block the serving thread (this test would hang).
  execFileSync('mkfifo', [path.join(src, 'fifo')]);
  fs.mkdirSync(path.join(src, 'dir'));
  const [inodes, fds] = [lb.inodeCount, lb.inodeFds];
  await t.rejects(() => lb.create(ctx(), ROOT, 'fifo', S_IFREG | 0o644, O_WRONLY), { code: 'ENXIO' });
  await t.rejects(() => lb.create(ctx(), ROOT, 'dir', S_IFREG | 0o644, O_WRONLY), { code: 'EISDIR' });
  t.equal(lb.inodeCount, inodes, 'no lookup reference left behind');
  t.equal(lb.inodeFds, fds, 'no fd left behind');
});

t.test('O_RDONLY|O_TRUNC truncates a big file too', async (t) => {
  const { src, lb } = setup(t);
  // The truncation waits for commit(), and the open's own fd is read-only: another one is needed.
  fs.writeFileSync(path.join(src, 'big'), Buffer.alloc(3 << 20, 1));
  const f = await lb.lookup(ctx(), ROOT, 'big');
  const h = await lb.open(ctx(), f.nodeid, O_RDONLY | fs.constants.O_TRUNC);
  t.equal(fs.statSync(path.join(src, 'big')).size, 3 << 20, 'not before the session accepted the open');
  await h.commit?.();
  t.equal(fs.statSync(path.join(src, 'big')).size, 0);
  await lb.release(ctx(), f.nodeid, h.fh, O_RDONLY);
});

t.test('an open still truncating when the filesystem is destroyed keeps no fd', async (t) => {
  const { src, lb } = setup(t);
  fs.writeFileSync(path.join(src, 'big'), Buffer.alloc(3 << 20, 1));
  const f = await lb.lookup(ctx(), ROOT, 'big');
  const fdsBefore = fs.readdirSync('/proc/self/fd').length;
  const inodeFds = lb.inodeFds; // closed by destroy()
  // Past INLINE_TRUNCATE_BYTES the truncation runs on the threadpool: destroy() comes first.
  const h = await lb.open(ctx(), f.nodeid, O_WRONLY | fs.constants.O_TRUNC);
  const committing = h.commit!();
  lb.destroy();
  await t.rejects(committing, { code: 'EIO' });
  t.equal(fs.readdirSync('/proc/self/fd').length, fdsBefore - inodeFds, 'the opened fd is closed too');
  t.equal(fs.statSync(path.join(src, 'big')).size, 0, 'the truncation itself happened');
});

t.test('tmpfile, then linked in', async (t) => {
  const { src, lb } = setup(t);
  const tmp = await lb.tmpfile(ctx(1000, 1000), ROOT, S_IFREG | 0o600, O_RDWR);
  t.equal(tmp.attr.nlink, 0);
  t.equal(tmp.attr.uid, 1000);
  t.equal(await lb.write(ctx(), tmp.nodeid, tmp.open.fh, 0, Buffer.from('tmp'), 0), 3);
  const linked = await lb.link(ctx(), tmp.nodeid, ROOT, 'named');
  t.equal(linked.nodeid, tmp.nodeid);
  t.equal(linked.attr.nlink, 1);
  await lb.release(ctx(), tmp.nodeid, tmp.open.fh, O_RDWR);
  t.equal(fs.readFileSync(path.join(src, 'named'), 'utf8'), 'tmp');
});

t.test('fds are bounded: files reopened by name, never a different file', async (t) => {
  const { src, lb } = setup(t, { maxInodeFds: 3 });
  const names = Array.from({ length: 10 }, (_, i) => `f${i}`);
  for (const n of names) fs.writeFileSync(path.join(src, n), n);
  fs.writeFileSync(path.join(src, 'linked'), 'l');
  fs.linkSync(path.join(src, 'linked'), path.join(src, 'other-name'));
  const linked = await lb.lookup(ctx(), ROOT, 'linked');
  const nodes = new Map<string, number>();
  for (const n of names) nodes.set(n, (await lb.lookup(ctx(), ROOT, n)).nodeid);
  t.equal(lb.inodeCount, 12);
  t.ok(lb.inodeFds <= 3, `${lb.inodeFds} fds for 12 inodes`);
  for (const n of names) t.equal((await lb.getattr(ctx(), nodes.get(n)!)).attr.size, 2, `${n} reopened`);
  t.ok(lb.inodeFds <= 3, 'still bounded');
  // A hard-linked file keeps its fd: its recorded name may go.
  fs.unlinkSync(path.join(src, 'linked'));
  t.equal((await lb.getattr(ctx(), linked.nodeid)).attr.nlink, 1);
  // Renamed through the loopback: the recorded name follows.
  await lb.rename(ctx(), ROOT, 'f0', ROOT, 'renamed', 0);
  for (const n of names.slice(1)) await lb.getattr(ctx(), nodes.get(n)!);
  t.equal((await lb.getattr(ctx(), nodes.get('f0')!)).attr.size, 2, 'found under its new name');
  // Replaced behind our back (even by a symlink out of the tree): ESTALE, never the other file.
  for (const n of names.slice(2)) await lb.getattr(ctx(), nodes.get(n)!);
  fs.rmSync(path.join(src, 'f1'));
  fs.symlinkSync('/etc/passwd', path.join(src, 'f1'));
  fs.renameSync(path.join(src, 'f2'), path.join(src, 'f2-elsewhere'));
  for (const n of names.slice(3)) await lb.getattr(ctx(), nodes.get(n)!);
  await t.rejects(() => lb.getattr(ctx(), nodes.get('f1')!), { code: 'ESTALE' });
  await t.rejects(() => lb.open(ctx(), nodes.get('f1')!, O_RDONLY), { code: 'ESTALE' });
  await t.rejects(() => lb.getattr(ctx(), nodes.get('f2')!), { code: 'ESTALE' });
  // Seen again under its new name, it is the same node, reachable again.
  t.equal((await lb.lookup(ctx(), ROOT, 'f2-elsewhere')).nodeid, nodes.get('f2'));
  t.equal((await lb.getattr(ctx(), nodes.get('f2')!)).attr.size, 2);
  // An open file keeps its fd, even when its name goes.
  const h = await lb.open(ctx(), nodes.get('f3')!, O_RDWR);
  await lb.unlink(ctx(), ROOT, 'f3');
  for (const n of names.slice(4)) await lb.getattr(ctx(), nodes.get(n)!);
  t.equal((await lb.setattr(ctx(), nodes.get('f3')!, { mode: 0o600 })).attr.nlink, 0);
  await lb.release(ctx(), nodes.get('f3')!, h.fh, O_RDWR);
});

t.test('setattr: times with now/omit, size, mode, owner', async (t) => {
  const { src, lb } = setup(t);
  const p = path.join(src, 'f');
  fs.writeFileSync(p, 'hello world');
  const f = await lb.lookup(ctx(), ROOT, 'f');
  let r = await lb.setattr(ctx(), f.nodeid, { atime: { sec: 1000, nsec: 5 }, mtime: { sec: 2000, nsec: 7 } });
  t.same([r.attr.atime, r.attr.atimensec, r.attr.mtime, r.attr.mtimensec], [1000, 5, 2000, 7]);
  r = await lb.setattr(ctx(), f.nodeid, { mtime: 'now' });
  t.equal(r.attr.atime, 1000, 'atime omitted');
  t.ok(r.attr.mtime > 2000, 'mtime now');
  r = await lb.setattr(ctx(), f.nodeid, { size: 5, mode: 0o600, uid: 42, gid: 43 });
  t.equal(fs.readFileSync(p, 'utf8'), 'hello');
  t.same([r.attr.size, r.attr.mode & 0o7777, r.attr.uid, r.attr.gid], [5, 0o600, 42, 43]);
  const h = await lb.open(ctx(), f.nodeid, O_RDWR);
  r = await lb.setattr(ctx(), f.nodeid, { size: 2, fh: h.fh });
  t.equal(r.attr.size, 2);
  await lb.release(ctx(), f.nodeid, h.fh, O_RDWR);
  fs.chmodSync(p, 0o6755);
  r = await lb.setattr(ctx(), f.nodeid, { size: 0, killSuidgid: true });
  t.equal(r.attr.mode & 0o7777, 0o755, 'setuid and setgid cleared');
});

t.test('readdir offsets stay valid while the directory changes', async (t) => {
  const { src, lb } = setup(t);
  const names = Array.from({ length: 50 }, (_, i) => `f${String(i).padStart(2, '0')}`);
  for (const n of names) fs.writeFileSync(path.join(src, n), '');
  const o = await lb.opendir(ctx(), ROOT, O_RDONLY);
  const s = sink(7);
  let offset = 0;
  let round = 0;
  for (;;) {
    const before = s.got.length;
    await lb.readdir(ctx(), ROOT, o.fh, offset, s);
    if (s.got.length === before) break;
    offset = s.got[s.got.length - 1].off;
    s.refill();
    // Between calls: remove a name not yet listed, add new ones.
    fs.rmSync(path.join(src, names[49 - round]));
    fs.writeFileSync(path.join(src, `new${round++}`), '');
  }
  const listed = s.got.map((e) => e.name);
  t.equal(new Set(listed).size, listed.length, 'no name twice');
  const kept = names.slice(0, 50 - round);
  t.ok(kept.every((n) => listed.includes(n)), 'every name present throughout is listed');
  t.ok(listed.every((n) => n === '.' || n === '..' || names.includes(n)), 'names added later are not');
  const ino = fs.statSync(path.join(src, 'f00')).ino;
  t.equal(s.got.find((e) => e.name === 'f00')?.ino, ino);
  t.equal(s.got.find((e) => e.name === 'f00')?.type, S_IFREG);
  // Offset 0 starts over and sees the directory as it is now.
  const again = sink(1000);
  await lb.readdir(ctx(), ROOT, o.fh, 0, again);
  t.ok(again.got.some((e) => e.name === 'new0'));
  await lb.releasedir(ctx(), ROOT, o.fh);
});

t.test('readdirplus: a lookup reference per entry that fit', async (t) => {
  const { src, lb } = setup(t);
  for (const n of ['a', 'b', 'c']) fs.writeFileSync(path.join(src, n), '');
  fs.mkdirSync(path.join(src, 'd'));
  const o = await lb.opendir(ctx(), ROOT, O_RDONLY);
  const s = sink(4);
  await lb.readdirplus(ctx(), ROOT, o.fh, 0, { add: (d, e) => s.add(d, e) });
  // Listings keep the backing filesystem's order: which two names fit is not known.
  t.same(s.got.map((e) => e.name).slice(0, 2), ['.', '..']);
  t.equal(s.got.length, 4);
  t.equal(s.got[0].entry, null);
  t.equal(s.got[0].type, S_IFDIR);
  t.equal(lb.inodeCount, 3, 'root + the two that fit; the one that did not was looked up and forgotten');
  const first = s.got[2];
  t.equal((await lb.lookup(ctx(), ROOT, first.name)).nodeid, first.entry!.nodeid);
  lb.forget(first.entry!.nodeid, 2);
  t.equal(lb.inodeCount, 2);
});

t.test('POSIX locks: per owner, dropped at flush; flock per open', async (t) => {
  const { src, lb } = setup(t);
  fs.writeFileSync(path.join(src, 'f'), 'data');
  const f = await lb.lookup(ctx(), ROOT, 'f');
  const h1 = await lb.open(ctx(), f.nodeid, O_RDWR);
  const h2 = await lb.open(ctx(), f.nodeid, O_RDWR);
  const A = 11n;
  const B = 22n;
  await lb.setlk(ctx(), f.nodeid, h1.fh, A, { start: 0, end: 9, type: F_WRLCK, pid: 100 }, false);
  // The same owner through another open: no conflict (POSIX locks are the process's).
  await lb.setlk(ctx(), f.nodeid, h2.fh, A, { start: 5, end: 20, type: F_WRLCK, pid: 100 }, false);
  await t.rejects(lb.setlk(ctx(), f.nodeid, h2.fh, B, { start: 0, end: 0, type: F_RDLCK, pid: 200 }, false), { code: 'EAGAIN' });
  const seen = await lb.getlk(ctx(), f.nodeid, h2.fh, B, { start: 0, end: OFFSET_MAX, type: F_WRLCK, pid: 200 });
  t.equal(seen.type, F_WRLCK);
  t.equal(seen.pid, 100, 'the holder is named by its pid');
  t.equal(seen.start, 0);
  t.equal(seen.end, 20, 'the two ranges merged');
  // A waiting lock is granted once the holder closes a file (FLUSH drops its locks).
  const waiting = lb.setlk(ctx(), f.nodeid, h2.fh, B, { start: 0, end: OFFSET_MAX, type: F_WRLCK, pid: 200 }, true);
  let granted = false;
  void waiting.then(() => (granted = true), () => undefined);
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(granted, 'the wait blocks while the holder keeps its lock');
  await lb.flush(ctx(), f.nodeid, h1.fh, A);
  await waiting;
  t.ok(granted, 'granted once the holder flushed');
  const none = await lb.getlk(ctx(), f.nodeid, h1.fh, B, { start: 0, end: OFFSET_MAX, type: F_WRLCK, pid: 200 });
  t.equal(none.type, F_UNLCK, 'its own lock does not conflict');
  // An interrupted wait ends with EINTR.
  const ac = new AbortController();
  const interrupted = lb.setlk({ ...ctx(), signal: ac.signal }, f.nodeid, h1.fh, A, { start: 0, end: 0, type: F_WRLCK, pid: 100 }, true);
  setTimeout(() => ac.abort(), 50);
  await t.rejects(interrupted, { code: 'EINTR' });
  // flock: per open file; LOCK_NB conflicts report EAGAIN.
  await lb.flock(ctx(), f.nodeid, h1.fh, A, 2 | 4);
  await t.rejects(lb.flock(ctx(), f.nodeid, h2.fh, A, 2 | 4), { code: 'EAGAIN' });
  await lb.release(ctx(), f.nodeid, h1.fh, O_RDWR);
  await lb.flock(ctx(), f.nodeid, h2.fh, A, 2 | 4);
  await lb.release(ctx(), f.nodeid, h2.fh, O_RDWR);
});

t.test('passthrough: by access mode, only when the kernel granted it', async (t) => {
  const { src, lb } = setup(t, { passthrough: 'ro' });
  t.equal(lb.features.passthrough, true);
  fs.writeFileSync(path.join(src, 'f'), 'data');
  const f = await lb.lookup(ctx(), ROOT, 'f');
  const before = await lb.open(ctx(), f.nodeid, O_RDONLY);
  t.equal(before.backingFd, undefined, 'not granted yet');
  lb.init({ protoMajor: 7, protoMinor: 45, flags: new Set(['FUSE_PASSTHROUGH']), maxWrite: 1 << 20, maxReadahead: 1 << 17, passthrough: true, checkBacking: () => {} });
  const ro = await lb.open(ctx(), f.nodeid, O_RDONLY);
  const rw = await lb.open(ctx(), f.nodeid, O_RDWR);
  t.type(ro.backingFd, 'number');
  t.equal(rw.backingFd, undefined);
  for (const h of [before, ro, rw]) await lb.release(ctx(), f.nodeid, h.fh, 0);
});

t.test('writeback cache asked for with passthrough: used only where INIT grants it', async (t) => {
  const conn = (flags: string[]) => ({
    protoMajor: 7, protoMinor: 45, flags: new Set(flags), maxWrite: 1 << 20, maxReadahead: 1 << 17,
    passthrough: flags.includes('FUSE_PASSTHROUGH'), checkBacking: () => {},
  });
  for (const [granted, widened] of [[['FUSE_PASSTHROUGH'], false], [['FUSE_WRITEBACK_CACHE'], true]] as const) {
    const { src, lb } = setup(t, { passthrough: 'rw', writebackCache: true });
    t.equal(lb.features.passthrough, true);
    t.equal(lb.features.writebackCache, true, 'both wishes go to INIT, which picks (negotiateInit)');
    lb.init(conn([...granted]));
    fs.writeFileSync(path.join(src, 'f'), 'data');
    const f = await lb.lookup(ctx(), ROOT, 'f');
    const h = await lb.open(ctx(), f.nodeid, O_WRONLY);
    // Writeback makes the kernel read around partial writes: only then is a write-only open widened.
    if (widened) t.equal((await lb.read(ctx(), f.nodeid, h.fh, 0, 4)).toString(), 'data', `${granted}: opened read-write`);
    else await t.rejects(() => lb.read(ctx(), f.nodeid, h.fh, 0, 4), { code: 'EBADF' }, `${granted}: write-only as asked`);
    await lb.release(ctx(), f.nodeid, h.fh, O_WRONLY);
  }
});

t.test('writeback cache: write-only opens can read, SEEK_DATA left to the kernel', async (t) => {
  const { src, lb } = setup(t, { writebackCache: true });
  t.equal(lb.features.writebackCache, true);
  lb.init({ protoMajor: 7, protoMinor: 45, flags: new Set(['FUSE_WRITEBACK_CACHE']), maxWrite: 1 << 20, maxReadahead: 1 << 17, passthrough: false });
  fs.writeFileSync(path.join(src, 'f'), 'data');
  const f = await lb.lookup(ctx(), ROOT, 'f');
  const h = await lb.open(ctx(), f.nodeid, O_WRONLY | fs.constants.O_APPEND);
  t.equal((await lb.read(ctx(), f.nodeid, h.fh, 0, 10)).toString(), 'data', 'opened read-write');
  await lb.write(ctx(), f.nodeid, h.fh, 1, Buffer.from('X'), 0);
  t.equal(fs.readFileSync(path.join(src, 'f'), 'utf8'), 'dXta', 'the kernel places appends itself');
  await t.rejects(lb.lseek(ctx(), f.nodeid, h.fh, 0, 3), { code: 'ENOSYS' });
  await lb.release(ctx(), f.nodeid, h.fh, O_WRONLY);
});
