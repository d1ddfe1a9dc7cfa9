// An open that `--passthrough require` refuses leaves SRC as it was: no truncation, no new name,
// no changed times or mode. The refusal comes from the kernel: an overlayfs mounted inside SRC
// sits one filesystem deep, so with max_stack_depth 1 BACKING_OPEN answers ELOOP for its files.
// And a SRC that is itself on such a filesystem is refused at start, before anything is served.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import t, { type Test } from 'tap';
import { mountPassthrough, run, tempDir, type PassthroughMount } from './fixtures/passthrough/harness';
import type { ServeOptions } from './fixtures/passthrough/serve';
import { asUser, TEST_GID, TEST_UID } from './fixtures/loopback/scenarios';
import { mountTable } from './helpers/tmp';

if (process.geteuid?.() !== 0) {
  t.plan(0, 'mounting needs root');
}

const MiB = 1024 * 1024;
const { O_WRONLY, O_RDONLY, O_CREAT, O_TRUNC, O_EXCL } = fs.constants;

/**
 * An overlayfs in a temporary directory, mounted on `at` (detached at teardown); its upper
 * layer holds `files`, written through the overlay before anything else looks, so that no
 * copy-up happens later, owned by the test user with setuid and setgid (which an unprivileged
 * truncation clears). False when overlayfs cannot be mounted here.
 */
function overlay(t: Test, at: string, files: Record<string, Buffer>): boolean {
  const base = tempDir(t);
  for (const d of ['lower', 'upper', 'work']) fs.mkdirSync(path.join(base, d));
  t.teardown(() => void spawnSync('umount', ['-l', at]));
  const r = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o',
    `lowerdir=${base}/lower,upperdir=${base}/upper,workdir=${base}/work`, at], { encoding: 'utf8' });
  if (r.status !== 0) return false;
  for (const [name, data] of Object.entries(files)) {
    const file = path.join(at, name);
    fs.writeFileSync(file, data);
    fs.chownSync(file, TEST_UID, TEST_GID);
    fs.chmodSync(file, 0o6775);
  }
  return true;
}

/** Every name under `dir` (itself included) with its type, mode, size, mtime and a hash of its bytes. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string, rel: string): void => {
    const s = fs.lstatSync(p, { bigint: true });
    const hash = s.isFile() ? crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex').slice(0, 16) : '';
    out[rel] = `mode ${s.mode.toString(8)} size ${s.size} mtime ${s.mtimeNs} ${hash}`;
    if (s.isDirectory()) for (const name of fs.readdirSync(p).sort()) walk(path.join(p, name), path.join(rel, name));
  };
  walk(dir, '.');
  return out;
}

/** The errno code of a sync fs call that must fail, or 'none'. */
function failure(fn: () => unknown): string {
  try {
    const fd = fn();
    if (typeof fd === 'number') fs.closeSync(fd);
    return 'none';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

const FILES = { keep: Buffer.from('keep these bytes\n'), big: Buffer.alloc(2 * MiB, 7) };

/**
 * A require mount whose SRC holds an overlayfs at SRC/sub (with FILES), or null without
 * overlayfs. `extra`: more serve options.
 */
async function mountWithOverlay(t: Test, extra: Partial<ServeOptions> = {}): Promise<PassthroughMount | null> {
  const m = await mountPassthrough(t, { loopback: { passthrough: 'rw', negativeTimeout: 60, ...extra.loopback }, require: true, ...extra },
    (src) => fs.mkdirSync(path.join(src, 'sub')));
  if (!overlay(t, path.join(m.src, 'sub'), FILES)) return null;
  return m;
}

/**
 * Each failed open on a fresh mount: the first the server hears of the overlay's files.
 * `prepare` runs before SRC is looked at.
 */
const CASES: Array<{ name: string; prepare?(mnt: string, src: string): void; open(mnt: string): string; sends?: 'CREATE' }> = [
  { name: 'O_TRUNC of an existing file', open: (mnt) => failure(() => fs.openSync(`${mnt}/sub/keep`, O_WRONLY | O_TRUNC)) },
  { name: 'O_TRUNC of an existing file over 1 MiB', open: (mnt) => failure(() => fs.openSync(`${mnt}/sub/big`, O_WRONLY | O_TRUNC)) },
  { name: 'O_RDONLY|O_TRUNC of an existing file', open: (mnt) => failure(() => fs.openSync(`${mnt}/sub/keep`, O_RDONLY | O_TRUNC)) },
  { name: 'O_CREAT of a new file', open: (mnt) => failure(() => fs.openSync(`${mnt}/sub/new`, O_WRONLY | O_CREAT, 0o644)) },
  { name: 'O_CREAT|O_EXCL of a new file', open: (mnt) => failure(() => fs.openSync(`${mnt}/sub/new`, O_WRONLY | O_CREAT | O_EXCL, 0o644)) },
  {
    // The kernel still believes the name absent (a cached negative entry), so it sends CREATE
    // for a file that SRC has by now: the create opens the existing file.
    name: 'O_CREAT|O_TRUNC of an existing file, as CREATE',
    prepare: (mnt, src) => {
      if (fs.existsSync(`${mnt}/sub/late`)) throw new Error('the name was there too early');
      fs.writeFileSync(`${src}/sub/late`, 'written behind the mount\n');
    },
    open: (mnt) => failure(() => fs.openSync(`${mnt}/sub/late`, O_WRONLY | O_CREAT | O_TRUNC, 0o644)),
    sends: 'CREATE',
  },
];

for (const c of CASES) {
  t.test(`require, ELOOP: ${c.name} fails and leaves SRC as it was`, async (t) => {
    const m = await mountWithOverlay(t);
    if (m === null) {
      t.comment('overlayfs cannot be mounted here');
      return;
    }
    c.prepare?.(m.mnt, m.src);
    // Far enough from the setup's writes that any time this open changed would differ.
    await new Promise((r) => setTimeout(r, 20));
    const before = snapshot(m.src);
    t.equal(c.open(m.mnt), 'ELOOP', 'the open fails with ELOOP');
    t.same(snapshot(m.src), before, 'contents, names, modes and mtimes of SRC are unchanged');
    const s = await m.settled();
    if (c.sends === 'CREATE') t.equal(s.requests.CREATE, 1, 'the kernel sent CREATE');
    t.equal(s.backing.live, 0, 'no backing id left');
    t.equal(s.openFiles, 0, 'no open left counted');
  });
}

t.test('require, ELOOP: the shell redirections of the issue', async (t) => {
  const m = await mountWithOverlay(t);
  if (m === null) {
    t.comment('overlayfs cannot be mounted here');
    return;
  }
  await new Promise((r) => setTimeout(r, 20));
  const before = snapshot(m.src);
  const trunc = await run('sh', ['-c', `: > ${m.mnt}/sub/keep`]);
  const create = await run('sh', ['-c', `echo x > ${m.mnt}/sub/new`]);
  // The file's owner, without CAP_FSETID: a truncation by it would also clear setuid/setgid.
  const byOwner = asUser(`: > ${m.mnt}/sub/big`, '/');
  t.not(trunc.code, 0, `: > keep fails: ${trunc.stderr.trim()}`);
  t.not(create.code, 0, `echo x > new fails: ${create.stderr.trim()}`);
  t.match(byOwner.out, /Too many levels of symbolic links/, `: > big by its owner fails: ${byOwner.out.trim()}`);
  t.same(snapshot(m.src), before, 'SRC unchanged');
  // The rest of SRC still passes through.
  t.equal((await run('sh', ['-c', `printf ok > ${m.mnt}/top && cat ${m.mnt}/top`])).stdout, 'ok');
});

/**
 * Refusals the probe before a CREATE cannot foresee: the kernel refuses only files that have a
 * name (the probe's O_TMPFILE has none). The file the CREATE made is then removed again.
 */
for (const errno of ['ELOOP', 'EPERM'] as const) {
  t.test(`require, ${errno} only for named files: the failed opens leave no file and no truncation`, async (t) => {
    const m = await mountPassthrough(t, { loopback: { passthrough: 'rw', negativeTimeout: 60 }, require: true, injectErrno: errno, injectNamedOnly: true },
      (src) => fs.writeFileSync(path.join(src, 'keep'), 'keep these bytes\n', { mode: 0o4755 }));
    const files = (): Record<string, string> => {
      const s = snapshot(m.src);
      // Creating and removing a name changes the directory's own mtime: only its files are compared.
      delete s['.'];
      return s;
    };
    // CREATE first: after a refusal of a named file, the next CREATE there is refused before it makes anything.
    t.notOk(fs.existsSync(`${m.mnt}/late`));
    fs.writeFileSync(`${m.src}/late`, 'written behind the mount\n');
    await new Promise((r) => setTimeout(r, 20));
    const before = files();
    t.equal(failure(() => fs.openSync(`${m.mnt}/new`, O_WRONLY | O_CREAT, 0o600)), errno, 'O_CREAT fails');
    t.equal(failure(() => fs.openSync(`${m.mnt}/keep`, O_WRONLY | O_TRUNC)), errno, 'O_TRUNC fails');
    t.equal(failure(() => fs.openSync(`${m.mnt}/late`, O_WRONLY | O_CREAT | O_TRUNC, 0o600)), errno, 'O_CREAT|O_TRUNC as CREATE fails');
    const s = await m.settled();
    t.equal(s.requests.CREATE, 2, 'the kernel sent CREATE for new and late');
    t.same(files(), before, 'SRC has the same files, bytes, modes and mtimes');
    t.equal(s.openFiles, 0, 'no open left counted');
  });
}

t.test('require refuses to start on a SRC whose filesystem the kernel refuses (ELOOP), naming --max-stack-depth 2', async (t) => {
  const base = tempDir(t);
  const merged = path.join(base, 'merged');
  fs.mkdirSync(merged);
  if (!overlay(t, merged, FILES)) {
    t.comment('overlayfs cannot be mounted here');
    return;
  }
  const before = snapshot(merged);
  await t.rejects(mountPassthrough(t, { loopback: { passthrough: 'rw' }, require: true, srcDir: merged }),
    /ELOOP.*--max-stack-depth 2/);
  t.same(snapshot(merged), before, 'the check left nothing in SRC');
  // The CLI says it in one line. --daemon: a mount that wrongly succeeds returns instead of serving.
  const mnt = path.join(base, 'mnt');
  fs.mkdirSync(mnt);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TSFUSE_')));
  const cli = spawnSync('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, path.join(__dirname, '../dist/src/cli/main.js'),
    'mount', '--passthrough', 'require', '--daemon', merged, mnt], { encoding: 'utf8', env, timeout: 60_000 });
  t.equal(cli.status, 1, 'tsfuse mount exits 1');
  t.match(cli.stderr, /^tsfuse: .*ELOOP.*--max-stack-depth 2/, 'naming --max-stack-depth 2');
  t.equal(cli.stderr.trim().split('\n').length, 1, `in one line: ${cli.stderr}`);
  t.notOk(mountTable().some((e) => e.mountpoint === mnt), 'nothing mounted');
  t.same(snapshot(merged), before, 'SRC unchanged');
  // With depth 2 the same SRC mounts and passes through.
  const m = await mountPassthrough(t, { loopback: { passthrough: 'rw', maxStackDepth: 2 }, require: true, srcDir: merged });
  t.equal(fs.readFileSync(path.join(m.mnt, 'keep'), 'utf8'), 'keep these bytes\n');
  const s = await m.settled();
  t.equal(s.requests.READ, 0, 'read through passthrough');
});
