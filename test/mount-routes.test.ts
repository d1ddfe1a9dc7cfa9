// The other ways in, as root, with the built CLI on real mounts: auto_unmount after a SIGKILL,
// the nosuid,nodev default, allow_root, a /dev/fd/N handed over by a parent, and mount(8) /
// fstab through mount.fuse3. (The ordinary-user route is mount-user.test.ts.)
import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alive } from '../src/cli/commands/umount';
import { openDevice } from '../src/kernel/device';
import { mountDevice } from '../src/kernel/mount';
import { MAIN, NOBODY } from './helpers/as-user';
import { lineReader } from './helpers/child';
import { mountHere, run } from './helpers/mounted';
import { sampleFs } from './helpers/memfs';
import { tempDir } from './helpers/tmp';

const skip = process.geteuid?.() !== 0 ? 'needs root' : !fs.existsSync(MAIN) ? 'run `npm run build` first' : undefined;
/** The CLI without tap's NODE_OPTIONS loaders, which would follow it into its daemon. */
const NODE = ['/usr/bin/env', '-u', 'NODE_OPTIONS', process.execPath, MAIN];

function dirs(t: Parameters<typeof tempDir>[0]) {
  const dir = tempDir(t, 'tsfuse-routes-', { mode: 0o755 });
  const src = path.join(dir, 'src');
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(src);
  fs.mkdirSync(mnt);
  fs.writeFileSync(path.join(src, 'hello.txt'), 'hello\n');
  return { dir, src, mnt };
}

const mountLine = (mnt: string): string | undefined => fs.readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === mnt);

/** A foreground `tsfuse mount`, killed at teardown if still there; resolves once it is ready. */
async function foreground(t: Parameters<typeof tempDir>[0], args: string[], extraFd?: number) {
  const stdio: ('ignore' | 'pipe' | number)[] = ['ignore', 'pipe', 'pipe'];
  if (extraFd !== undefined) stdio.push(extraFd);
  const child = spawn(NODE[0], [...NODE.slice(1), 'mount', ...args], { stdio });
  t.teardown(() => {
    if (child.pid !== undefined && alive(child.pid)) process.kill(child.pid, 'SIGKILL');
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = await lineReader(child, 'tsfuse mount', () => stderr)();
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, line, exited };
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return cond();
}

t.test('auto_unmount is the default: SIGKILL of the server → the mount is gone within 2 s', { skip }, async (t) => {
  const { src, mnt } = dirs(t);
  const m = await foreground(t, [src, mnt]);
  t.match(m.line, /mounted on/);
  t.ok(mountLine(mnt), 'mounted');
  m.child.kill('SIGKILL');
  t.ok(await until(() => mountLine(mnt) === undefined, 2000), 'gone within 2 s of the SIGKILL');
});

t.test('auto_unmount with --threads 2: SIGKILL of the server → the mount is gone within 2 s', { skip }, async (t) => {
  const { src, mnt } = dirs(t);
  const m = await foreground(t, [src, mnt, '--threads', '2']);
  t.match(m.line, /mounted on .*2 threads/);
  t.equal(fs.readFileSync(path.join(mnt, 'hello.txt'), 'utf8'), 'hello\n', 'served');
  m.child.kill('SIGKILL');
  t.ok(await until(() => mountLine(mnt) === undefined, 2000), 'gone within 2 s of the SIGKILL');
});

t.test('nosuid,nodev unless suid/dev is asked for; x-* ignored; unknown options named on one line', { skip }, async (t) => {
  const { src, mnt } = dirs(t);
  const m = await foreground(t, [src, mnt, '-o', 'noexec,x-systemd.automount']);
  const opts = mountLine(mnt)?.split(' ')[3].split(',') ?? [];
  t.ok(opts.includes('nosuid') && opts.includes('nodev') && opts.includes('noexec'), `/proc/mounts: ${opts.join(',')}`);
  m.child.kill('SIGTERM');
  t.equal(await m.exited, 0);
  const n = await foreground(t, [src, mnt, '-o', 'suid,dev']);
  const again = mountLine(mnt)?.split(' ')[3].split(',') ?? [];
  t.notOk(again.includes('nosuid') || again.includes('nodev'), `suid,dev asked for: ${again.join(',')}`);
  n.child.kill('SIGTERM');
  t.equal(await n.exited, 0);
  const bad = await run(NODE[0], [...NODE.slice(1), 'mount', src, mnt, '-o', 'ro,frobnicate,nonempty']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /^tsfuse: .*unknown mount options 'frobnicate', 'nonempty'/);
  t.equal(bad.stderr.trim().split('\n').length, 1, 'one line');
});

t.test('allow_root: root gets in, other users get EACCES', { skip }, async (t) => {
  const m = await mountHere(t, sampleFs(), { allowRoot: true });
  const file = path.join(m.mountpoint, 'hello.txt');
  t.equal((await run('cat', [file])).stdout, 'hello, world\n', 'root reads');
  const other = await run('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'cat', file]);
  t.not(other.code, 0);
  t.match(other.stderr, /Permission denied/, 'nobody is refused');
});

t.test('/dev/fd/N: a parent mounts /dev/fuse and hands the fd to the CLI, which serves it', { skip }, async (t) => {
  const { src, mnt } = dirs(t);
  const fd = openDevice();
  await mountDevice(fd, mnt, { fsname: 'handed' });
  const m = await foreground(t, [src, '/dev/fd/3'], fd);
  fs.closeSync(fd); // the child has its own copy; the parent keeps only the mount
  t.match(m.line, /mounted on \/dev\/fd\/3/);
  t.equal(await fs.promises.readFile(path.join(mnt, 'hello.txt'), 'utf8'), 'hello\n', 'served by the child');
  t.match(mountLine(mnt), /^handed /, "the parent's mount");
  t.equal((await run('umount', [mnt])).code, 0, 'the parent unmounts');
  t.equal(await m.exited, 0, 'and the server ends with exit 0');
  const notFuse = await run(NODE[0], [...NODE.slice(1), 'mount', src, '/dev/fd/0']);
  t.match(notFuse.stderr, /^tsfuse: \/dev\/fd\/0: .*(not open|not \/dev\/fuse)/, 'an fd that is not /dev/fuse is refused');
});

t.test('mount(8) and fstab through mount.fuse3: `PROG SRC MNT -o OPTS` returns once mounted', { skip: skip ?? (fs.existsSync('/sbin/mount.fuse3') ? undefined : 'needs mount.fuse3 (package fuse3)') }, async (t) => {
  const { dir, src, mnt } = dirs(t);
  // mount.fuse3 runs the program named before '#' in the source (type fuse) or by the subtype
  // (type fuse.tsfuse, looked up in mount(8)'s fixed PATH); both run `PROG SRC MNT -o OPTS`.
  const prog = path.join(dir, 'tsfuse');
  fs.writeFileSync(prog, `#!/bin/sh\nexec ${NODE.join(' ')} "$@"\n`, { mode: 0o755 });
  const stats = path.join(dir, 'stats.json');
  const r = await run('mount', ['-t', 'fuse', `${prog}#${src}`, mnt, '-o', `passthrough=rw,allow_other,attr_timeout=2,stats_file=${stats}`]);
  t.equal(r.code, 0, `mount(8): ${r.stderr}`);
  const line = mountLine(mnt) ?? '';
  t.match(line, new RegExp(`^${src} ${mnt} fuse\\.tsfuse `), 'mounted when mount(8) returned');
  t.match(line, /allow_other/);
  t.equal(fs.readFileSync(path.join(mnt, 'hello.txt'), 'utf8'), 'hello\n');
  const u = await run(NODE[0], [...NODE.slice(1), 'umount', mnt]);
  t.equal(u.code, 0, u.stderr);
  const counts = JSON.parse(fs.readFileSync(stats, 'utf8')) as Record<string, number>;
  t.ok(counts.OPEN > 0 && counts.READ === 0, `passthrough=rw reached the server: OPEN ${counts.OPEN}, READ ${counts.READ}`);

  const fstab = path.join(dir, 'fstab');
  fs.writeFileSync(fstab, `${prog}#${src} ${mnt} fuse ro,noauto,x-systemd.automount 0 0\n`);
  const f = await run('mount', ['--fstab', fstab, mnt]);
  t.equal(f.code, 0, `mount --fstab: ${f.stderr}`);
  t.match(mountLine(mnt), / fuse\.tsfuse ro,/, 'mounted from the fstab line, read-only');
  t.equal((await run(NODE[0], [...NODE.slice(1), 'umount', mnt])).code, 0);
  t.equal(mountLine(mnt), undefined, 'nothing left');
});
