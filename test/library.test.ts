// The library as a new user meets it: the README's snippets type-check and run as written in a
// project of their own, the published package carries what its messages and source maps point
// to, and mount() says what it does instead of doing something else silently (passthrough not
// asked for, a live FUSE mount under the mountpoint, a filesystem without statfs).
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { OpenReply, RequestContext } from '../src/fs/api';
import { mount } from '../src/fs/mount';
import { MountError } from '../src/kernel/errors';
import { lineReader, stopServerAtTeardown } from './helpers/child';
import { sampleFs } from './helpers/memfs';
import { fuseMountsUnder, mountHere, run } from './helpers/mounted';
import { tempDir } from './helpers/tmp';

const ROOT = path.resolve(__dirname, '..');
const root = process.geteuid?.() === 0;

/** The ```js blocks of the README's library section, in order. */
function librarySnippets(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## The library\n');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

/** A fresh ESM project (package.json "type": "module") whose node_modules/tsfuse is this package. */
function project(t: Test, files: Record<string, string>): string {
  const dir = tempDir(t, 'tsfuse-project-', { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'user', version: '1.0.0', type: 'module' }));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'tsfuse'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

/** Starts `node file args…` in `dir`; teardown detaches `mnt` and ends it. */
function start(t: Test, dir: string, file: string, args: string[], mnt: string) {
  const child = spawn(process.execPath, [file, ...args], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  stopServerAtTeardown(t, child, mnt);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, nextLine: lineReader(child, file, () => stderr), exited, stderr: () => stderr };
}

t.test('the README library snippets type-check as TypeScript sees them', async (t) => {
  const snippets = librarySnippets();
  t.equal(snippets.length, 2, 'hello and the passthrough recipe');
  const dir = project(t, { 'hello.js': snippets[0] ?? '', 'passthrough.js': snippets[1] ?? '' });
  // JSDoc types the filesystems; plain JS helpers keep their implicit any.
  const tsc = await run(process.execPath, [
    path.join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '--allowJs', '--checkJs', '--strict', '--noImplicitAny', 'false',
    '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck',
    '--typeRoots', path.join(ROOT, 'node_modules/@types'), '--types', 'node',
    path.join(dir, 'hello.js'), path.join(dir, 'passthrough.js'),
  ]);
  t.equal(tsc.code, 0, `tsc: ${tsc.stdout}${tsc.stderr}`);
});

t.test('the README hello snippet runs as written: mounts, serves, unmounts on Ctrl-C', { skip: !root && 'needs root' }, async (t) => {
  const [hello] = librarySnippets();
  t.ok(hello, 'a js snippet');
  const dir = project(t, { 'hello.js': hello ?? '' });
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(mnt);
  const p = start(t, dir, 'hello.js', [mnt], mnt);
  t.match(await p.nextLine(), /^serving .*; Ctrl-C unmounts$/);
  t.equal((await run('cat', [path.join(mnt, 'hello')])).stdout, 'Hello from tsfuse!\n');
  p.child.kill('SIGINT');
  t.equal(await p.exited, 0, `exit 0: ${p.stderr()}`);
  t.match(await p.nextLine(), /^LOOKUP requests served: \d+$/);
  t.same(fuseMountsUnder(dir), [], 'unmounted');
});

t.test('the README passthrough recipe runs as written: the kernel does the data path when it may', { skip: !root && 'needs root' }, async (t) => {
  const recipe = librarySnippets()[1];
  t.ok(recipe, 'a js snippet');
  const dir = project(t, { 'passthrough.js': recipe ?? '' });
  const mnt = path.join(dir, 'mnt');
  const backing = path.join(dir, 'backing');
  fs.mkdirSync(mnt);
  fs.writeFileSync(backing, 'the backing file\n');
  const p = start(t, dir, 'passthrough.js', [backing, mnt], mnt);
  const mode = await p.nextLine();
  t.match(mode, /^passthrough (on|off)$/);
  t.equal(await p.nextLine(), `${backing} is ${mnt}/data; Ctrl-C unmounts`);
  const data = path.join(mnt, 'data');
  t.equal((await run('cat', [data])).stdout, 'the backing file\n', 'read through the mount');
  t.equal((await run('sh', ['-c', `printf 'written through the mount' > ${data}`])).code, 0);
  t.equal(fs.readFileSync(backing, 'utf8'), 'written through the mount', 'written to the backing file');
  t.equal((await run('cat', [data])).stdout, 'written through the mount', 'and read back');
  p.child.kill('SIGINT');
  t.equal(await p.exited, 0, `exit 0: ${p.stderr()}`);
  const counts = /^READ (\d+), WRITE (\d+) reached the server$/.exec(await p.nextLine());
  t.ok(counts, 'the counters line');
  if (mode === 'passthrough on') {
    t.same([counts?.[1], counts?.[2]], ['0', '0'], 'no READ or WRITE reached the server');
    t.equal(p.stderr(), '', 'no warning');
  } else {
    t.ok(Number(counts?.[1]) > 0 && Number(counts?.[2]) > 0, 'served through the server');
    t.match(p.stderr(), /passthrough off/, 'and the session said why');
  }
});

t.test('the package carries what its messages and source maps point to', async (t) => {
  const r = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts', ROOT]);
  t.equal(r.code, 0, `npm pack: ${r.stderr}`);
  const packed = new Set<string>((JSON.parse(r.stdout) as [{ files: { path: string }[] }])[0].files.map((f) => f.path));
  const missing: string[] = [];
  for (const file of packed) {
    if (file.endsWith('.js.map')) {
      const map = JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8')) as { sources: string[] };
      for (const s of map.sources) {
        const source = path.posix.normalize(path.posix.join(path.posix.dirname(file), s));
        if (!packed.has(source)) missing.push(`${source} (source map of ${file})`);
      }
    } else if (file.endsWith('.js')) {
      // Documents the code names in what it prints (docs/probe.md, bench/README.md …).
      for (const m of fs.readFileSync(path.join(ROOT, file), 'utf8').matchAll(/['`"][^'`"\n]*?\b((?:docs|bench|src)\/[\w./-]+\.md)\b/g)) {
        if (!packed.has(m[1])) missing.push(`${m[1]} (named in ${file})`);
      }
    }
  }
  t.ok(packed.has('docs/probe.md') && packed.has('src/index.ts'), 'docs/ and src/ are in');
  t.same([...new Set(missing)], [], 'nothing pointed to is left out');
});

t.test('open() asking for passthrough on a filesystem that did not ask at INIT: served, and said once', { skip: !root && 'needs root' }, async (t) => {
  const mem = sampleFs();
  const backing = path.join(tempDir(t), 'backing');
  fs.writeFileSync(backing, 'hello, world\n');
  const fds: number[] = [];
  mem.open = async (_ctx: RequestContext, nodeid: number): Promise<OpenReply> => {
    const fd = fs.openSync(backing, 'r');
    fds.push(fd);
    return { fh: nodeid, passthrough: true, backingFd: fd };
  };
  t.teardown(() => fds.forEach((fd) => fs.closeSync(fd)));
  const lines: string[] = [];
  const m = await mountHere(t, mem, { log: (line) => lines.push(line) });
  for (let i = 0; i < 3; i++) t.equal((await run('cat', [path.join(m.mountpoint, 'hello.txt')])).stdout, 'hello, world\n');
  t.ok((await m.stats()).requests.READ > 0, 'served through the server');
  t.equal(lines.length, 1, `one line: ${JSON.stringify(lines)}`);
  t.match(lines[0], /did not ask for it at INIT: set `features: \{ passthrough: true \}`/, 'saying what to set');
});

t.test('mount() refuses to stack on a live FUSE mount: MountError EBUSY', { skip: !root && 'needs root' }, async (t) => {
  const m = await mountHere(t, sampleFs());
  const err = await mount(sampleFs(), m.mountpoint).then(
    (stacked) => {
      t.teardown(() => stacked.unmount({ lazy: true }).catch(() => {}));
      return null;
    },
    (e: unknown) => e,
  );
  t.ok(err instanceof MountError, `a MountError: ${String(err)}`);
  t.match(err, { code: 'EBUSY', errno: 16, path: m.mountpoint, message: /already a FUSE mount: unmount it first/ });
  t.equal(fuseMountsUnder(m.dir).length, 1, 'one mount, nothing stacked on it');
  t.equal((await run('cat', [path.join(m.mountpoint, 'hello.txt')])).stdout, 'hello, world\n', 'the first mount still serves');
});

t.test('a filesystem without statfs answers df with what libfuse answers', { skip: !root && 'needs root' }, async (t) => {
  const mem = Object.assign(sampleFs(), { statfs: undefined });
  const m = await mountHere(t, mem);
  const st = await run('stat', ['-f', '-c', '%l %s %b %f %a %c %d', m.mountpoint]);
  t.equal(st.code, 0, `stat -f: ${st.stderr}`);
  t.equal(st.stdout, '255 512 0 0 0 0 0\n', 'names up to 255 bytes, 512-byte blocks, every count 0');
  const df = await run('df', [m.mountpoint]);
  t.equal(df.code, 0, `df: ${df.stderr}`);
  t.equal((await m.stats()).errors.STATFS, 0, 'no STATFS answered with an error');
});
