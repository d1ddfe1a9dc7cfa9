// Real mounts of the in-memory test filesystem, used through ordinary fs calls and child
// processes. The mounts served by this process are used only asynchronously (a synchronous call
// would block the loop that has to answer it); the ones served by a child may be killed.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FuseError } from '../src/fs/errors';
import { mount } from '../src/fs/mount';
import { MountError } from '../src/kernel/errors';
import { sampleFs, MemFs } from './helpers/memfs';
import { fuseMountsUnder, mountHere, mountInChild, run, tempMountpoint, watchdog } from './helpers/mounted';
import { interruptHangingLookup } from './helpers/interrupted';

t.test('contents, attributes and a symlink, through cat, stat, ls -l, dd and fs', async (t) => {
  const m = await mountHere(t, sampleFs());
  const p = (name: string): string => path.join(m.mountpoint, name);
  t.equal((await run('cat', [p('hello.txt'), p('dir/inner.txt')])).stdout, 'hello, world\ninside\n');
  t.equal((await run('cat', [p('link')])).stdout, 'hello, world\n', 'the symlink is followed');
  t.equal((await run('readlink', [p('link')])).stdout, 'hello.txt\n');
  t.equal((await run('stat', ['-c', '%s %a %F %h', p('hello.txt')])).stdout, '13 644 regular file 1\n');
  t.equal((await run('stat', ['-c', '%a %F', p('dir')])).stdout, '755 directory\n');
  const ls = (await run('ls', ['-l', m.mountpoint])).stdout;
  t.match(ls, /^drwxr-xr-x .* dir$/m);
  t.match(ls, /^-rw-r--r-- .* 13 .* hello\.txt$/m);
  t.match(ls, /^lrwxrwxrwx .* link -> hello\.txt$/m);
  const dd = await run('dd', [`if=${p('hello.txt')}`, 'bs=5', 'skip=1', 'count=1', 'status=none']);
  t.equal(dd.stdout, ', wor', 'dd reads at an offset');

  t.equal(await fs.promises.readFile(p('hello.txt'), 'utf8'), 'hello, world\n');
  t.same((await fs.promises.readdir(m.mountpoint)).sort(), ['dir', 'hello.txt', 'link']);
  const st = await fs.promises.lstat(p('link'));
  t.ok(st.isSymbolicLink());
  await fs.promises.writeFile(p('dir/new.txt'), 'written through the mount');
  t.equal((await run('cat', [p('dir/new.txt')])).stdout, 'written through the mount');
  const s = (await m.stats());
  t.ok(s.requests.LOOKUP > 0 && s.requests.READ > 0 && s.requests.WRITE > 0, 'the counters saw the traffic');
});

t.test('ENOENT', async (t) => {
  const m = await mountHere(t, sampleFs());
  await t.rejects(fs.promises.stat(path.join(m.mountpoint, 'missing')), { code: 'ENOENT' });
  const r = await run('stat', [path.join(m.mountpoint, 'dir/missing')]);
  t.not(r.code, 0);
  t.match(r.stderr, /No such file or directory/);
  t.ok((await m.stats()).errors.LOOKUP >= 2);
});

t.test('readdir with many entries: more than one READDIR page', async (t) => {
  const mem = new MemFs();
  const dir = mem.mkdirp(1, 'big');
  const names: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const name = `entry-with-a-longish-name-${String(i).padStart(5, '0')}`;
    names.push(name);
    mem.addFile(dir, name, '');
  }
  const m = await mountHere(t, mem);
  const listed = await fs.promises.readdir(path.join(m.mountpoint, 'big'));
  t.same(listed.sort(), names, 'every entry, once');
  const ls = await run('ls', ['-1', path.join(m.mountpoint, 'big')]);
  t.equal(ls.stdout.split('\n').filter(Boolean).length, 3000, 'ls sees them all');
  t.ok((await m.stats()).requests.READDIR > 2, `${(await m.stats()).requests.READDIR} READDIR requests`);
});

t.test('a handler that throws: EIO to the caller, one log line, and the server goes on', async (t) => {
  const mem = sampleFs();
  mem.onLookup.set('buggy', () => {
    throw new TypeError('this handler has a bug');
  });
  const logs: string[] = [];
  const m = await mountHere(t, mem, { log: (l) => logs.push(l) });
  const r = await run('stat', [path.join(m.mountpoint, 'buggy')]);
  t.not(r.code, 0);
  t.match(r.stderr, /Input\/output error/);
  t.equal(logs.length, 1);
  t.match(logs[0], /LOOKUP.*TypeError: this handler has a bug/);
  t.equal((await run('cat', [path.join(m.mountpoint, 'hello.txt')])).stdout, 'hello, world\n', 'still serving');
});

t.test('an async handler taking 200 ms does not hold up other requests', async (t) => {
  const mem = sampleFs();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  mem.onLookup.set('slow', async () => {
    await new Promise((r) => setTimeout(r, 200));
    // Held until the fast request has been answered: a loop that served requests one at a time
    // would never get there, and the test would time out.
    await gate;
    throw new FuseError('ENOENT');
  });
  const m = await mountHere(t, mem);
  const order: string[] = [];
  const slow = fs.promises.stat(path.join(m.mountpoint, 'slow')).catch((e: NodeJS.ErrnoException) => order.push(`slow ${e.code}`));
  while (!mem.lookups.includes('slow')) await new Promise((r) => setTimeout(r, 5));
  const fast = await run('cat', [path.join(m.mountpoint, 'hello.txt')]);
  order.push(`fast ${fast.stdout.trim()}`);
  release();
  await slow;
  t.same(order, ['fast hello, world', 'slow ENOENT']);
});

t.test('an interrupted request: the handler sees its signal abort, the caller goes', async (t) => {
  await interruptHangingLookup(t);
});

t.test('unmount while a file is open: busy, then lazy; the open file is still served', async (t) => {
  // With flush(): closing a copy of the open file sends FLUSH, also the copy a spawned umount(8)
  // inherits and closes at exec, which this process must be free to answer.
  const mem = sampleFs();
  let flushes = 0;
  Object.assign(mem, { flush: async () => void flushes++ });
  const m = await mountHere(t, mem);
  watchdog(t, m.mountpoint);
  const file = await fs.promises.open(path.join(m.mountpoint, 'hello.txt'), 'r');
  let closed = false;
  void m.closed.then(() => (closed = true));
  await t.rejects(m.unmount(), { name: 'MountError', code: 'EBUSY', message: /busy.*lazy/ });
  await m.unmount({ lazy: true });
  t.same(fuseMountsUnder(m.mountpoint), [], 'detached');
  const { bytesRead, buffer } = await file.read(Buffer.alloc(64), 0, 64, 0);
  t.equal(buffer.toString('utf8', 0, bytesRead), 'hello, world\n', 'read through the detached mount');
  t.notOk(closed, 'the session lives while the file is open');
  await file.close();
  await m.closed;
  t.ok(closed, 'the session ended with the last close');
  t.ok(flushes >= 1, `FLUSH answered ${flushes} times`);
});

t.test('the event loop and the threadpool stay free while mounted', async (t) => {
  const m = await mountHere(t, sampleFs());
  // Fails by timing out if the mount held the event loop.
  await t.resolves(new Promise((r) => setTimeout(r, 20)), 'a timer fires while the mount is idle');
  // The default pool has 4 threads; a design holding them in device reads would stall these.
  const stats = await Promise.all(Array.from({ length: 8 }, () => fs.promises.stat('/')));
  t.equal(stats.length, 8, 'fs calls on the threadpool complete');
  t.equal((await run('cat', [path.join(m.mountpoint, 'hello.txt')])).stdout, 'hello, world\n');
});

t.test('notifications reach the kernel: inval_inode, inval_entry, store, retrieve', async (t) => {
  // Long timeouts: what the kernel knows stays cached unless a notification drops it.
  const mem = sampleFs({ timeout: 3600 });
  const m = await mountHere(t, mem);
  const hello = path.join(m.mountpoint, 'hello.txt');
  t.equal((await fs.promises.stat(hello)).size, 13);
  const id = mem.get(1).children.get('hello.txt')!;
  mem.get(id).data = Buffer.from('changed behind the cache\n');
  t.equal((await fs.promises.stat(hello)).size, 13, 'cached attributes');
  await m.notify.invalInode(id, -1, 0);
  t.equal((await fs.promises.stat(hello)).size, 25, 'inval_inode dropped them');

  mem.get(1).children.delete('hello.txt');
  t.ok((await fs.promises.stat(hello)).isFile(), 'cached name');
  await m.notify.invalEntry(1, 'hello.txt');
  await t.rejects(fs.promises.stat(hello), { code: 'ENOENT' }, 'inval_entry dropped it');
  await t.rejects(m.notify.invalEntry(1, 'never-looked-up'), { code: 'ENOENT' });

  const inner = path.join(m.mountpoint, 'dir/inner.txt');
  t.equal(await fs.promises.readFile(inner, 'utf8'), 'inside\n');
  const innerId = mem.get(mem.get(1).children.get('dir')!).children.get('inner.txt')!;
  await m.notify.store(innerId, 0, Buffer.from('INSIDE\n'));
  t.equal((await m.notify.retrieve(innerId, 0, 7)).toString(), 'INSIDE\n', 'retrieve reads back what store put in the page cache');
  t.equal((await m.stats()).requests.NOTIFY_REPLY, 1);

  const link = path.join(m.mountpoint, 'link');
  t.ok((await fs.promises.lstat(link)).isSymbolicLink());
  const linkId = mem.get(1).children.get('link')!;
  mem.get(1).children.delete('link');
  t.ok((await fs.promises.lstat(link)).isSymbolicLink(), 'cached name');
  await m.notify.delete(1, linkId, 'link');
  await t.rejects(fs.promises.lstat(link), { code: 'ENOENT' }, 'delete dropped it');
});

t.test('a poll wakeup through the Notifier reaches a waiting poll(2)', async (t) => {
  const POLLIN = 1;
  const mem = sampleFs();
  let kh: bigint | null = null;
  let ready = false;
  let asked: () => void = () => {};
  const firstPoll = new Promise<void>((resolve) => (asked = resolve));
  Object.assign(mem, {
    async poll(_ctx: unknown, _nodeid: number, _fh: number, _events: number, handle: bigint | null): Promise<number> {
      if (handle !== null) kh = handle;
      if (!ready) asked();
      return ready ? POLLIN : 0;
    },
  });
  const m = await mountHere(t, mem);
  // A poll(2) that waits up to 20 s: only the wakeup can end it early with POLLIN.
  const script = 'import select,sys\nf=open(sys.argv[1])\np=select.poll()\np.register(f, select.POLLIN)\nprint(p.poll(20000))';
  const started = Date.now();
  const child = run('python3', ['-c', script, path.join(m.mountpoint, 'hello.txt')]);
  await firstPoll;
  t.not(kh, null, 'the kernel asked to be told');
  ready = true;
  await m.notify.pollWakeup(kh!);
  const r = await child;
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^\[\(\d+, 1\)\]/, 'poll(2) returned POLLIN');
  t.ok(Date.now() - started < 15000, 'woken, not timed out');
});

t.test('mount errors say why', async (t) => {
  const { dir, mnt } = tempMountpoint(t);
  await t.rejects(mount(sampleFs(), path.join(dir, 'nope')), { name: 'MountError', code: 'ENOENT', message: /does not exist.*mkdir/ });
  fs.writeFileSync(path.join(dir, 'file'), '');
  await t.rejects(mount(sampleFs(), path.join(dir, 'file')), { code: 'ENOTDIR' });
  await t.rejects(mount(sampleFs(), mnt, { subtype: 'a,b' }), { code: 'EINVAL', message: /subtype/ });
  await t.rejects(mount(sampleFs(), mnt, { maxRead: -1 }), { code: 'EINVAL', message: /maxRead/ });
  t.same(fuseMountsUnder(dir), [], 'nothing mounted by the failures');

  // As another user: geteuid() is what mount() consults (stubbed, so the check does not depend
  // on which user can read this checkout).
  const geteuid = process.geteuid;
  process.geteuid = () => 1000;
  try {
    await t.rejects(mount(sampleFs(), mnt, { via: 'mount' }), { name: 'MountError', code: 'EPERM', message: /needs root.*uid 1000.*fusermount3/ }, 'mount(8) is not for users');
  } finally {
    process.geteuid = geteuid;
  }
});

t.test('a killed server leaves a dead mount; mount() refuses it, the harness clears it', async (t) => {
  let dir = '';
  await t.test('kill the server', async (t) => {
    const c = await mountInChild(t);
    dir = c.dir;
    t.equal(fs.readFileSync(path.join(c.mnt, 'hello.txt'), 'utf8'), 'hello, world\n', 'served from the child');
    const exited = new Promise((resolve) => c.server.once('exit', resolve));
    c.server.kill('SIGKILL');
    await exited;
    await t.rejects(fs.promises.stat(c.mnt), { code: 'ENOTCONN' });
    const err = await mount(sampleFs(), c.mnt).catch((e: unknown) => e);
    t.type(err, MountError);
    t.match(err, { code: 'ENOTCONN', message: new RegExp(`dead FUSE mount.*umount -l ${c.mnt}`) });
  });
  t.same(fuseMountsUnder(dir), [], 'no mount left behind');
});

t.test('a server whose SIGTERM handler unmounts', async (t) => {
  const c = await mountInChild(t);
  t.equal(fs.readFileSync(path.join(c.mnt, 'dir/inner.txt'), 'utf8'), 'inside\n');
  const stats = JSON.parse(await c.command('stats')) as { requests: Record<string, number> };
  t.ok(stats.requests.READ >= 1, 'counters readable from the API');
  const exited = new Promise((resolve) => c.server.once('exit', (code) => resolve(code)));
  c.server.kill('SIGTERM');
  t.equal(await exited, 0, 'the handler ran and the server exited cleanly');
  t.same(fuseMountsUnder(c.dir), [], 'unmounted');
});
