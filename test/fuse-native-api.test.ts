// tsfuse/fuse-native as fuse-native programs use it: the README example run as a program
// (through the package's own "exports"), the statics and errno constants, the callback
// conventions on a real mount, and a mount as an ordinary user through fusermount3.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import Fuse = require('../src/fuse-native/index');
import { NOBODY, userNamespace, userRouteUnavailable } from './helpers/as-user';
import { run, tempMountpoint } from './helpers/mounted';
import { tempDir } from './helpers/tmp';

const ROOT = path.join(__dirname, '..');
const README_EXAMPLE = path.join(ROOT, 'examples/fuse-native-readme.js');
const BUILT = path.join(ROOT, 'dist/src/fuse-native/index.js');

const mount = (fuse: InstanceType<typeof Fuse>): Promise<void> => new Promise((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve())));
const unmount = (fuse: InstanceType<typeof Fuse>): Promise<void> => new Promise((resolve, reject) => fuse.unmount((err) => (err ? reject(err) : resolve())));

t.test('errno constants and statics', async (t) => {
  t.equal(Fuse.ENOENT, -2);
  t.equal(Fuse.EWOULDBLOCK, -11);
  t.equal(Fuse.ETIMEDOUT, -110);
  t.equal(new Fuse('/nonexistent', {}).errno('enoent'), -2);
  t.equal(new Fuse('/nonexistent', {}).errno('NOT-AN-ERRNO'), -1, 'unknown names are -1, as in fuse-native');
  t.equal(new Fuse('relative/dir', {}).mnt, path.resolve('relative/dir'));
  const configured = await new Promise((resolve) => Fuse.isConfigured((_err, ok) => resolve(ok)));
  t.equal(configured, fs.existsSync('/dev/fuse'), 'isConfigured: whether /dev/fuse is there');
  await new Promise<void>((resolve) => Fuse.unconfigure((err) => (t.equal(err, null), resolve())));
  const notMounted = await new Promise<Error | null>((resolve) => Fuse.unmount(t.testdir(), resolve));
  t.match(notMounted?.message, /not mounted/, 'Fuse.unmount of a directory nothing is mounted on');
});

if (process.getuid?.() !== 0) {
  t.plan(1, 'the rest needs root (mounts FUSE)');
} else {
  t.test("fuse-native's README example, run with only its require changed", async (t) => {
    if (!fs.existsSync(BUILT)) {
      t.fail('dist/src/fuse-native is missing: run `npm run build`');
      return;
    }
    const { mnt } = tempMountpoint(t);
    const r = await run(process.execPath, [README_EXAMPLE, mnt]);
    t.same([r.code, r.stdout, r.stderr], [0, 'hello world\n', '']);
  });

  t.test('as a user: mounted through fusermount3, served, unmounted', { skip: userRouteUnavailable() }, async (t) => {
    const ns = await userNamespace(t);
    const dir = tempDir(t, 'tsfuse-fuse-native-user-', { mode: 0o755 });
    const mnt = path.join(dir, 'mnt');
    fs.mkdirSync(mnt);
    fs.chownSync(mnt, NOBODY, NOBODY);
    // fuse-native's README example, as nobody: a file /test reading "hello world".
    const script = `const Fuse = require(${JSON.stringify(BUILT)});
const ops = {
  readdir: (p, cb) => cb(0, p === '/' ? ['test'] : []),
  getattr: (p, cb) => p === '/' ? cb(0, { mtime: new Date(), atime: new Date(), ctime: new Date(), nlink: 1, size: 100, mode: 0o40755, uid: 0, gid: 0 })
    : p === '/test' ? cb(0, { mtime: new Date(), atime: new Date(), ctime: new Date(), nlink: 1, size: 12, mode: 0o100644, uid: 0, gid: 0 }) : cb(Fuse.ENOENT),
  open: (p, flags, cb) => cb(0, 42),
  release: (p, fd, cb) => cb(0),
  read: (p, fd, buf, len, pos, cb) => { const s = 'hello world\\n'.slice(pos, pos + len); buf.write(s); cb(s.length); },
};
const fuse = new Fuse(${JSON.stringify(mnt)}, ops);
fuse.mount((err) => {
  if (err) { console.log('mount failed: ' + err.message); process.exit(1); }
  // Asynchronously: this very thread answers the read.
  require('fs').readFile(${JSON.stringify(mnt)} + '/test', 'utf8', (e, line) => {
    const mounts = require('fs').readFileSync('/proc/self/mountinfo', 'utf8');
    console.log(JSON.stringify({ line: e ? e.message : line, user: /[ ,]user_id=65534,/.test(mounts) }));
    fuse.unmount((e) => { console.log(e ? 'unmount failed: ' + e.message : 'unmounted'); process.exit(0); });
  });
});`;
    const r = await ns.asUser('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, '-e', script]);
    t.same(r.stdout.split('\n').slice(0, 2), [JSON.stringify({ line: 'hello world\n', user: true }), 'unmounted'], `stderr: ${r.stderr}`);
    t.same(ns.fuseMountsUnder(dir), [], 'nothing left mounted');
  });

  t.test('callback conventions on a real mount', async (t) => {
    const { dir, mnt } = tempMountpoint(t);
    const files: Record<string, Buffer> = { '/a': Buffer.from('alpha') };
    const calls: string[] = [];
    let stuck: (() => void) | undefined;
    const fuse = new Fuse(path.join(dir, 'made/by/mkdir'), {
      getattr(p: string, cb: (code: number, st?: unknown) => void) {
        if (p === '/') return cb(0, { mode: 0o40755, mtime: new Date(1_600_000_000_000) });
        if (p === '/stuck') {
          stuck = () => cb(0, { mode: 0o100644 });
          return;
        }
        const data = files[p];
        if (data === undefined) return cb(Fuse.ENOENT);
        // Times as milliseconds, as fuse-native accepted.
        process.nextTick(cb, 0, { mode: 0o100644, size: data.length, mtime: 1_600_000_000_500, uid: 5 });
      },
      readdir(p: string, cb: (code: number, names?: string[], stats?: unknown[]) => void) {
        cb(0, Object.keys(files).map((f) => f.slice(1)), Object.values(files).map((d) => ({ mode: 0o100644, size: d.length })));
      },
      open(p: string, flags: number, cb: (code: number, fd?: number) => void) {
        calls.push(`open ${p} ${flags & 3}`);
        cb(0, 7);
      },
      create(p: string, mode: number, cb: (code: number, fd?: number) => void) {
        files[p] = Buffer.alloc(0);
        cb(0, 8);
      },
      read(p: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void) {
        const n = files[p].copy(buf, 0, pos, pos + len);
        cb(n);
      },
      write(p: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void) {
        calls.push(`write ${p} fd ${fd}`);
        const grown = Buffer.alloc(Math.max(files[p].length, pos + len));
        files[p].copy(grown);
        buf.copy(grown, pos, 0, len);
        files[p] = grown;
        cb(len);
      },
      truncate(p: string, size: number, cb: (code: number) => void) {
        files[p] = files[p].subarray(0, size);
        cb(0);
      },
      unlink(p: string, cb: (code: number | Error) => void) {
        // A Node fs error, which fuse-native could not take: answered with its errno.
        cb(Object.assign(new Error('nope'), { code: 'EROFS' }));
      },
      release(p: string, fd: number, cb: (code: number) => void) {
        cb(0);
      },
    }, { mkdir: true, uid: 1234 });
    t.teardown(() => new Promise<void>((resolve) => fuse.unmount(() => resolve())));
    await mount(fuse);
    const m = fuse.mnt;
    t.equal(await fs.promises.readFile(path.join(m, 'a'), 'utf8'), 'alpha', 'read answers the byte count');
    const st = await fs.promises.stat(path.join(m, 'a'), { bigint: true });
    t.same([st.mtimeNs, st.uid], [1_600_000_000_500_000_000n, 1234n], 'ms times; the uid option overrides');
    t.same(await fs.promises.readdir(m), ['a']);
    await fs.promises.writeFile(path.join(m, 'b'), 'bravo');
    t.equal(await fs.promises.readFile(path.join(m, 'b'), 'utf8'), 'bravo', 'create and write');
    await fs.promises.writeFile(path.join(m, 'a'), 'A'); // O_TRUNC: truncate, then write
    t.equal(await fs.promises.readFile(path.join(m, 'a'), 'utf8'), 'A');
    t.ok(calls.includes('write /b fd 8') && calls.includes('open /a 1'), 'the fds handlers gave come back');
    t.equal(await run('rm', ['-f', path.join(m, 'a')]).then((r) => r.stderr.includes('Read-only file system')), true, 'an Error with a code');

    // A handler that never calls back: the caller can still be interrupted (EINTR), where
    // fuse-native answered ETIMEDOUT after 15 s. (A lookup: the kernel sends INTERRUPT for
    // it, while page-cache reads wait for their reply whatever the signal.)
    const reader = spawn('python3', ['-c', [
      'import os, signal, sys',
      // Python retries a read that failed with EINTR unless the handler raises (PEP 475).
      'class Alarm(Exception): pass',
      'def alarm(*a): raise Alarm()',
      'signal.signal(signal.SIGALRM, alarm)',
      'signal.setitimer(signal.ITIMER_REAL, 0.3)',
      'try: os.stat(sys.argv[1]); print("stat")',
      'except Alarm: print("EINTR")',
    ].join('\n'), path.join(m, 'stuck')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    reader.stdout.on('data', (d) => (out += d));
    const exit = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => reader.kill('SIGKILL'), 10_000);
      reader.on('exit', (code) => (clearTimeout(timer), resolve(code)));
    });
    t.ok(stuck !== undefined, 'the lookup reached the handler');
    t.same([exit, out.trim()], [0, 'EINTR'], 'interrupted, not timed out');
    stuck?.(); // a late callback is ignored
    await unmount(fuse);
    t.notOk(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(m), 'unmounted');
  });
}
