// The CLI as users run it: the built dist/src/cli/main.js in a child process.
// `npm test` builds first; running this file alone needs `npm run build` after editing src/.
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { commonOptions } from '../src/cli/command';
import { mountOptions } from '../src/cli/commands/mount';
// alive(): running, not a zombie (an exited daemon stays one until init reaps it, here up to ~2 s).
import { alive, umountOptions } from '../src/cli/commands/umount';
import { envName, flagName } from '../src/cli/options';
import { tempDir as sharedTempDir } from './helpers/tmp';

const ROOT = path.resolve(__dirname, '..');
const MAIN = path.join(ROOT, 'dist/src/cli/main.js');

/** The built CLI must exist and be newer than every source file, or these tests test old code. */
function staleSources(dir: string): string[] {
  const stale: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) stale.push(...staleSources(file));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
      const built = path.join(ROOT, 'dist', path.relative(ROOT, file)).replace(/\.ts$/, '.js');
      if (!fs.existsSync(built) || fs.statSync(built).mtimeMs < fs.statSync(file).mtimeMs) stale.push(path.relative(ROOT, file));
    }
  }
  return stale;
}

if (!fs.existsSync(MAIN)) {
  t.fail(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
  t.end();
} else {
  const stale = staleSources(path.join(ROOT, 'src'));
  if (stale.length > 0) t.fail(`dist is older than ${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', …' : ''}: run \`npm run build\``);
}

interface Result {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The environment without any TSFUSE_* the developer may have set. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TSFUSE_')) env[k] = v;
  return { ...env, ...extra };
}

/** Who runs the CLI: this process's user, or in a new user namespace (see spawnNode). */
type As = 'self' | 'nobody' | 'userns-root';

const NAMESPACE: Record<As, string[]> = {
  self: [],
  // A new user namespace without mappings: the CLI sees euid 65534, yet files are still checked
  // against root, so the test works in a checkout that other users may not read.
  nobody: ['unshare', '--user'],
  // Root of a new user namespace with a mount namespace of its own: it may mount FUSE, but not
  // register backing files (BACKING_OPEN needs CAP_SYS_ADMIN in the initial user namespace:
  // EPERM). Its mounts go with its last process; none reaches this namespace.
  'userns-root': ['unshare', '--user', '--map-root-user', '--mount'],
};

/**
 * Runs node as a user would. tap wraps child_process.spawn to add its loaders
 * through NODE_OPTIONS; they would follow the CLI (and its daemon) and write
 * tap's process records from there, failing as nobody. env(1) drops them.
 */
function spawnNode(args: string[], opts: SpawnOptions, as: As = 'self') {
  const argv = [...NAMESPACE[as], '/usr/bin/env', '-u', 'NODE_OPTIONS', process.execPath, ...args];
  return spawn(argv[0], argv.slice(1), opts);
}

function tsfuse(args: string[], opts: { env?: Record<string, string>; cwd?: string; as?: As } = {}): Promise<Result> {
  const spawnOpts: SpawnOptions = { cwd: opts.cwd ?? ROOT, env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] };
  return new Promise((resolve, reject) => {
    const child = spawnNode([MAIN, ...args], spawnOpts, opts.as);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

const tempDir = (t: Test, prefix = 'tsfuse-cli-'): string => sharedTempDir(t, prefix);

/** One line on stderr, no stack trace. */
function oneLineError(t: Test, r: Result, pattern: RegExp, status: number): void {
  t.equal(r.status, status, `exit status ${status}`);
  t.match(r.stderr, pattern);
  t.equal(r.stderr.trim().split('\n').length, 1, `one line: ${JSON.stringify(r.stderr)}`);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

const PUBLIC = { ...commonOptions, ...mountOptions, ...umountOptions } as Record<string, { internal?: boolean; alias?: string }>;
const PUBLIC_KEYS = Object.keys(PUBLIC).filter((k) => !PUBLIC[k].internal);

t.test('--help lists the commands, every option with its variable, and the precedence', async (t) => {
  const r = await tsfuse(['--help']);
  t.equal(r.status, 0);
  t.match(r.stdout, /tsfuse mount <src> <mnt>/);
  t.match(r.stdout, /tsfuse umount <mnt>/);
  for (const key of PUBLIC_KEYS) {
    t.ok(r.stdout.includes(`--${flagName(key)}`), `mentions --${flagName(key)}`);
    t.ok(r.stdout.includes(envName(key)), `mentions ${envName(key)}`);
  }
  t.match(r.stdout, /command line > environment > config file > default/);
  t.notMatch(r.stdout, /ready-fd/, 'internal options stay hidden');
});

/**
 * The --help entry of `flag`: its line and the lines that continue it, up to the next option.
 * yargs indents an option's line by two columns ("  -o, --options", "      --debug"), and the
 * lines that continue its description further (they may name other options).
 */
function helpEntry(help: string, flag: string): string {
  const optionLine = /^ {2}(-\w, | {4})(--[a-z-]+)/;
  const lines = help.split('\n');
  const start = lines.findIndex((l) => optionLine.exec(l)?.[2] === flag);
  if (start < 0) return '';
  const end = lines.findIndex((l, i) => i > start && optionLine.test(l));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

t.test('--help shows numeric options as numbers', async (t) => {
  const numeric: Record<string, string[]> = {
    mount: ['--attr-timeout', '--entry-timeout', '--negative-timeout', '--max-stack-depth'],
    umount: ['--wait'],
    bench: ['--scale', '--rounds'],
  };
  for (const [command, flags] of Object.entries(numeric)) {
    const help = (await tsfuse([command, '--help'])).stdout;
    for (const flag of flags) {
      const entry = helpEntry(help, flag);
      t.match(entry, /\[number\]/, `${command} ${flag} is a [number]`);
      t.notMatch(entry, /\[string\]/, `${command} ${flag} is no [string]`);
    }
  }
  t.match(helpEntry((await tsfuse(['umount', '--help'])).stdout, '--wait'), /\[default: 10\]/, 'the default is still shown');
});

t.test('mount --help and umount --help describe their options', async (t) => {
  const m = await tsfuse(['mount', '--help']);
  t.equal(m.status, 0);
  for (const key of Object.keys(mountOptions).filter((k) => !PUBLIC[k].internal)) {
    t.ok(m.stdout.includes(`--${flagName(key)}`), `mount --help mentions --${flagName(key)}`);
  }
  for (const o of ['allow_other', 'default_permissions', 'ro', 'fsname=', 'subtype=']) t.ok(m.stdout.includes(o), `mentions -o ${o}`);
  t.match(m.stdout, /off\|ro\|wo\|rw\|require/);
  t.match(m.stdout, /SIGHUP/, 'says what SIGHUP does');
  t.match(m.stdout, /reloads\s+nothing/, 'and what it does not');
  t.match(m.stdout, /command line > environment > config file > default/);
  const u = await tsfuse(['umount', '--help']);
  t.equal(u.status, 0);
  t.match(u.stdout, /--lazy/);
});

t.test('--version prints package.json version', async (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const r = await tsfuse(['--version']);
  t.equal(r.status, 0);
  t.equal(r.stdout.trim(), pkg.version);
});

t.test('usage errors: one line, exit 2', async (t) => {
  oneLineError(t, await tsfuse(['mount', '/a', '/b', '--bogus']), /^tsfuse: unknown option --bogus/, 2);
  oneLineError(t, await tsfuse(['mont', '/a', '/b']), /^tsfuse: unknown command 'mont'/, 2);
  oneLineError(t, await tsfuse([]), /no command given/, 2);
  oneLineError(t, await tsfuse(['mount', '/a']), /mount needs SRC and MNT/, 2);
  oneLineError(t, await tsfuse(['mount', '/a', '/b', '/c']), /unexpected argument '\/c'/, 2);
  oneLineError(t, await tsfuse(['mount', '/a', '/b', '--attr-timeout']), /--attr-timeout needs a value/, 2);
  oneLineError(t, await tsfuse(['mount', '/a', '/b', '--attr-timeout', 'soon']), /--attr-timeout: expected a number of seconds/, 2);
  // The flag swallowed MNT: its own complaint, not "umount needs MNT".
  oneLineError(t, await tsfuse(['umount', '--wait', '/a']), /^tsfuse: --wait: expected a number of seconds ≥ 0, got '\/a'/, 2);
  oneLineError(t, await tsfuse(['mount', '/a', '/b', '-o', 'nonempty']), /unknown mount option 'nonempty'/, 2);
  oneLineError(t, await tsfuse(['mount', '/a', '/b', '--passthrough=yes']), /--passthrough: expected one of off\|ro\|wo\|rw\|require/, 2);
  oneLineError(t, await tsfuse(['mount', '/a', '/b', '--max-stack-depth', '3']), /--max-stack-depth: expected 1 or 2/, 2);
  oneLineError(t, await tsfuse(['mount', '/a', '/b', '--debug=yes']), /--debug: expected true or false/, 2);
});

t.test('usage errors name what is wrong, as typed', async (t) => {
  // Not "unexpected argument MNT": the mode is what is wrong.
  oneLineError(t, await tsfuse(['mount', '--passthrough', 'bogus', '/a', '/b']),
    /^tsfuse: --passthrough: expected one of off\|ro\|wo\|rw\|require, got 'bogus'$/m, 2);
  const typo = await tsfuse(['mount', '/a', '/b', '--attr-timout', '5']);
  oneLineError(t, typo, /^tsfuse: unknown option --attr-timout$/m, 2);
  t.notMatch(typo.stderr, /attrTimout/, 'the flag as typed, not a camelCase name');
  // Not "mount needs SRC and MNT": --foo took SRC as its value.
  oneLineError(t, await tsfuse(['mount', '--foo', '/a', '/b']), /^tsfuse: unknown option --foo$/m, 2);
  oneLineError(t, await tsfuse(['umount', '--debug', '/a']), /^tsfuse: unknown option --debug \(an option of mount\)$/m, 2);
  oneLineError(t, await tsfuse(['umount', '--lazy', '--wait', '5', '/a']), /^tsfuse: --lazy and --wait exclude each other/, 2);
  const scale = await tsfuse(['bench', '--scale', '0']);
  oneLineError(t, scale, /^tsfuse: --scale: expected a number > 0/, 2);
  t.equal(scale.stderr.split('--scale').length - 1, 1, `names --scale once: ${scale.stderr}`);
  oneLineError(t, await tsfuse(['bench'], { env: { TSFUSE_SCALE: '0' } }), /^tsfuse: TSFUSE_SCALE: expected/, 2);
});

t.test('a path that is not there is said to be missing', async (t) => {
  const dir = tempDir(t);
  const missing = path.join(dir, 'nonexistent');
  const probe = await tsfuse(['probe', '--backing', missing]);
  oneLineError(t, probe, new RegExp(`^tsfuse: --backing ${missing}: no such directory$`, 'm'), 2);
  t.equal(probe.stdout, '', 'no probe was run');
  oneLineError(t, await tsfuse(['umount', missing]), new RegExp(`^tsfuse: MNT ${missing}: no such directory$`, 'm'), 1);
});

t.test('SRC and MNT mistakes: one line, exit 1', async (t) => {
  const dir = tempDir(t);
  const src = path.join(dir, 'src');
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(src);
  fs.mkdirSync(mnt);
  fs.writeFileSync(path.join(dir, 'file'), '');
  oneLineError(t, await tsfuse(['mount', path.join(dir, 'missing'), mnt]), /^tsfuse: SRC .*missing: no such directory/, 1);
  oneLineError(t, await tsfuse(['mount', path.join(dir, 'file'), mnt]), /^tsfuse: SRC .*file: not a directory/, 1);
  oneLineError(t, await tsfuse(['mount', src, path.join(dir, 'missing')]), /^tsfuse: MNT .*missing: no such directory/, 1);
  oneLineError(t, await tsfuse(['mount', src, path.join(dir, 'file')]), /^tsfuse: MNT .*file: not a directory/, 1);
  oneLineError(t, await tsfuse(['mount', dir, src]), /^tsfuse: MNT .*: inside SRC/, 1);
  fs.writeFileSync(path.join(mnt, 'x'), '');
  oneLineError(t, await tsfuse(['mount', src, mnt]), /^tsfuse: MNT .*mnt: not empty/, 1);
});

t.test('relative SRC and MNT are taken from the working directory', async (t) => {
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'src'));
  oneLineError(t, await tsfuse(['mount', 'src', 'nowhere'], { cwd: dir }), new RegExp(`MNT ${dir}/nowhere: no such directory`), 1);
});

t.test('not root and fusermount3 refuses: its reason on one line, exit 1', async (t) => {
  const dir = tempDir(t);
  const src = path.join(dir, 'src');
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(src);
  fs.mkdirSync(mnt);
  // In a user namespace without mappings fusermount3 is not setuid root, and mount(2) is refused.
  oneLineError(t, await tsfuse(['mount', src, mnt], { as: 'nobody' }), /^tsfuse: .*(fusermount3 failed to mount|needs fusermount3).*mnt/, 1);
});

t.test('environment and config file reach the option resolution, below the command line', async (t) => {
  const dir = tempDir(t);
  const cfg = path.join(dir, 'tsfuse.json');
  fs.writeFileSync(cfg, JSON.stringify({ 'entry-timeout': 'never' }));
  // A bad value is reported from whichever layer supplied it…
  oneLineError(t, await tsfuse(['mount', '/a', '/b'], { env: { TSFUSE_ATTR_TIMEOUT: 'x' } }), /^tsfuse: TSFUSE_ATTR_TIMEOUT: expected/, 2);
  oneLineError(t, await tsfuse(['mount', '/a', '/b', '--config', cfg]), new RegExp(`^tsfuse: ${cfg}: "entry-timeout": expected`), 2);
  oneLineError(t, await tsfuse(['mount', '/a', '/b'], { env: { TSFUSE_CONFIG: cfg } }), /"entry-timeout": expected/, 2);
  // …and a higher layer hides it: validation then passes and the SRC check speaks.
  const src = path.join(dir, 'nosrc');
  oneLineError(t, await tsfuse(['mount', src, '/b', '--attr-timeout', '2'], { env: { TSFUSE_ATTR_TIMEOUT: 'x' } }), /SRC .*nosrc: no such directory/, 1);
  oneLineError(t, await tsfuse(['mount', src, '/b', '--config', cfg], { env: { TSFUSE_ENTRY_TIMEOUT: '2' } }), /SRC .*nosrc: no such directory/, 1);
  oneLineError(t, await tsfuse(['mount', src, '/b', '--config', cfg, '--entry-timeout', '2']), /SRC .*nosrc: no such directory/, 1);
  oneLineError(t, await tsfuse(['mount', '/a', '/b', '--config', path.join(dir, 'none.json')]), /config file .*none\.json: no such file/, 2);
  fs.writeFileSync(cfg, JSON.stringify({ 'entry-timout': 1 }));
  oneLineError(t, await tsfuse(['mount', '/a', '/b', '--config', cfg]), /unknown option "entry-timout"/, 2);
  // umount's option, which mount would ignore: as unknown as a typo.
  fs.writeFileSync(cfg, JSON.stringify({ wait: 3 }));
  oneLineError(t, await tsfuse(['mount', '/a', '/b', '--config', cfg]), /unknown option "wait" \(an option of umount;/, 2);
  oneLineError(t, await tsfuse(['umount', path.join(dir, 'nowhere'), '--config', cfg]), /nowhere: no such directory/, 1);
});

t.test('umount refuses what is not a FUSE mount', async (t) => {
  const dir = tempDir(t);
  oneLineError(t, await tsfuse(['umount', dir]), /^tsfuse: .*: not mounted/, 1);
  oneLineError(t, await tsfuse(['umount', '/proc']), /^tsfuse: \/proc: not a FUSE mount \(proc\)/, 1);
});

// ---- real mounts (root only) -------------------------------------------------------------

/** The /proc/mounts line of `mnt`, if mounted. */
function mountLine(mnt: string): string | undefined {
  return fs.readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === mnt);
}


/** Waits for `cond`; a bound only so a broken build fails instead of hanging the run. */
async function until(what: string, cond: () => boolean, ms = 30000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** SRC with one file, an empty MNT, and teardown that kills `pids`, detaches every mount, removes it all. */
function mountDirs(t: Test): { dir: string; src: string; mnt: string; pids: number[] } {
  const dir = tempDir(t, 'tsfuse-cli-mount-');
  const src = path.join(dir, 'src');
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(src);
  fs.mkdirSync(mnt);
  fs.writeFileSync(path.join(src, 'hello.txt'), 'hello through the mount\n');
  const pids: number[] = [];
  // Registered after tempDir's, so it runs first (teardowns run in reverse order): tempDir's then
  // detaches what the killed servers left mounted.
  t.teardown(() => {
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  return { dir, src, mnt, pids };
}

/** A foreground `tsfuse mount`, its output collected as it comes. */
function startMount(t: Test, args: string[], pids: number[], as: As = 'self') {
  const child = spawnNode([MAIN, 'mount', ...args], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] }, as);
  pids.push(child.pid!);
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (status, signal) => resolve({ status, signal })),
  );
  let done = false;
  void exited.then(() => (done = true));
  const ready = until('the ready line', () => /mounted on/.test(out.stdout) || done).then(() => {
    if (!/mounted on/.test(out.stdout)) throw new Error(`tsfuse mount exited before it was ready: ${out.stderr}`);
  });
  return { child, out, exited, ready };
}

const root = process.geteuid?.() === 0;

t.test('foreground mount: ready line, files, --debug, SIGTERM → unmounted, exit 0, stats', { skip: !root && 'needs root' }, async (t) => {
  const { dir, src, mnt, pids } = mountDirs(t);
  const stats = path.join(dir, 'stats.json');
  const m = startMount(t, [src, mnt, '--stats-file', stats, '--debug'], pids);
  await m.ready;
  t.match(m.out.stdout, new RegExp(`^tsfuse: ${src} mounted on ${mnt} \\(pid \\d+\\)$`, 'm'), 'one ready line');
  t.match(mountLine(mnt), new RegExp(`^${src} ${mnt} fuse\\.tsfuse `), 'fsname defaults to SRC, type fuse.tsfuse');
  t.equal(fs.readFileSync(path.join(mnt, 'hello.txt'), 'utf8'), 'hello through the mount\n');
  // The lines cross a pipe: wait for them rather than race them.
  const debugged = () => /^LOOKUP .*name="hello\.txt"/m.test(m.out.stdout) && /^\s+unique=\d+ -> OK/m.test(m.out.stdout);
  await until('--debug lines', debugged).catch(() => undefined);
  t.match(m.out.stdout, /^LOOKUP .*name="hello\.txt"/m, '--debug logs the request');
  t.match(m.out.stdout, /^\s+unique=\d+ -> OK/m, '--debug logs the reply');

  m.child.kill('SIGTERM');
  const end = await m.exited;
  t.same(end, { status: 0, signal: null }, 'exit 0 after SIGTERM');
  t.equal(mountLine(mnt), undefined, 'no mount left');
  t.match(m.out.stdout, /unmounted/);
  const counts = JSON.parse(fs.readFileSync(stats, 'utf8')) as Record<string, unknown>;
  t.ok((counts.LOOKUP as number) > 0, `LOOKUP counted (${counts.LOOKUP})`);
  t.equal(typeof counts.READ, 'number', 'every opcode present, READ included');
  t.ok(Object.values(counts).every((n) => Number.isInteger(n)), 'all counts are integers');
});

t.test('SIGHUP stops a mount as --help says: unmounted, exit 0', { skip: !root && 'needs root' }, async (t) => {
  const { src, mnt, pids } = mountDirs(t);
  const m = startMount(t, [src, mnt], pids);
  await m.ready;
  m.child.kill('SIGHUP');
  t.same(await m.exited, { status: 0, signal: null }, 'exit 0 after SIGHUP');
  t.match(m.out.stdout, /SIGHUP: unmounting/);
  t.equal(mountLine(mnt), undefined, 'no mount left');
});

// The root of a new user namespace may mount FUSE but not register backing files: the kernel
// answers BACKING_OPEN with EPERM, as it does for every server outside the initial namespace.
const userns = root && spawnSync('unshare', ['--user', '--map-root-user', '--mount', 'true']).status === 0;

t.test('passthrough refused (EPERM in a user namespace): the ready line says it is off', { skip: !userns && 'needs root and user namespaces' }, async (t) => {
  const { src, mnt, pids } = mountDirs(t);
  const m = startMount(t, [src, mnt, '--passthrough'], pids, 'userns-root');
  await m.ready;
  const ready = m.out.stdout.split('\n').find((l) => /mounted on/.test(l)) ?? '';
  t.match(ready, /\(pid \d+, passthrough off: EPERM: BACKING_OPEN needs CAP_SYS_ADMIN in the initial user namespace\)$/, ready);
  t.notMatch(ready, /passthrough rw/, 'not the mode that was asked for');
  t.match(m.out.stderr, /^tsfuse: passthrough off: EPERM.*READ\/WRITE go through the server/m, 'the warning says what happens instead');
  m.child.kill('SIGTERM');
  t.same(await m.exited, { status: 0, signal: null });
});

t.test('--passthrough require refused (EPERM in a user namespace): one line, exit 1', { skip: !userns && 'needs root and user namespaces' }, async (t) => {
  const { src, mnt } = mountDirs(t);
  const r = await tsfuse(['mount', src, mnt, '--passthrough', 'require'], { as: 'userns-root' });
  oneLineError(t, r, /^tsfuse: FUSE passthrough is required but unavailable: EPERM: BACKING_OPEN needs CAP_SYS_ADMIN .*; run the server as root outside user namespaces$/m, 1);
  t.notMatch(r.stderr, /through the server/, 'require never serves READ/WRITE itself, so it does not say it would');
  t.equal(r.stdout, '', 'no ready line');
});

t.test('SIGINT on a busy mount: detached lazily, served until the last file closes', { skip: !root && 'needs root' }, async (t) => {
  const { src, mnt, pids } = mountDirs(t);
  const m = startMount(t, [src, mnt], pids);
  await m.ready;
  const fd = fs.openSync(path.join(mnt, 'hello.txt'), 'r');
  let closed = false;
  t.teardown(() => {
    if (!closed) fs.closeSync(fd);
  });
  m.child.kill('SIGINT');
  await until('the busy message', () => /was busy; detached it lazily/.test(m.out.stdout));
  t.equal(mountLine(mnt), undefined, 'detached from the tree');
  t.ok(alive(m.child.pid!), 'still serving the open file');
  const buf = Buffer.alloc(5);
  t.equal(fs.readSync(fd, buf, 0, 5, 0), 5);
  t.equal(buf.toString(), 'hello', 'the open file still reads');
  fs.closeSync(fd);
  closed = true;
  t.same(await m.exited, { status: 0, signal: null }, 'exits 0 once the file is closed');
});

t.test('--daemon: returns when ready, options from env and config, tsfuse umount ends it', { skip: !root && 'needs root' }, async (t) => {
  const { dir, src, mnt, pids } = mountDirs(t);
  const stats = path.join(dir, 'stats.json');
  const log = path.join(dir, 'daemon.log');
  const cfg = path.join(dir, 'tsfuse.json');
  // TSFUSE_OPTIONS beats the config's "options" as a whole; the config's stats-file is relative to it.
  fs.writeFileSync(cfg, JSON.stringify({ options: 'subtype=fromconfig', 'stats-file': 'stats.json' }));
  const r = await tsfuse(['mount', src, mnt, '--daemon', '--log-file', log], {
    env: { TSFUSE_CONFIG: cfg, TSFUSE_OPTIONS: 'fsname=fromenv' },
  });
  const pid = Number(new RegExp(`^tsfuse: ${src} mounted on ${mnt} \\(pid (\\d+)\\)$`).exec(r.stdout.trim())?.[1]);
  if (pid) pids.push(pid);
  t.equal(r.status, 0, `exit 0: ${r.stderr}`);
  t.ok(pid > 0 && alive(pid), `the ready line names the daemon, which runs on: ${JSON.stringify(r.stdout)}`);
  t.match(mountLine(mnt), new RegExp(`^fromenv ${mnt} fuse\\.tsfuse `), 'mounted by the time the command returned');
  t.equal(fs.readFileSync(path.join(mnt, 'hello.txt'), 'utf8'), 'hello through the mount\n');

  const again = await tsfuse(['mount', src, mnt]);
  oneLineError(t, again, /already a FUSE mount/, 1);

  const u = await tsfuse(['umount', mnt]);
  t.equal(u.status, 0, `tsfuse umount: ${u.stderr}`);
  t.equal(mountLine(mnt), undefined, 'no mount left');
  t.notOk(alive(pid), 'tsfuse umount returned after the daemon exited');
  t.match(fs.readFileSync(log, 'utf8'), /mounted on .*\n(.*\n)*.*unmounted/, 'the daemon logged to --log-file');
  const counts = JSON.parse(fs.readFileSync(stats, 'utf8')) as Record<string, number>;
  t.ok(counts.LOOKUP > 0, 'the daemon wrote its stats on the way out');
});

t.test('--passthrough require: reads go around the server, or the mount is refused', { skip: !root && 'needs root' }, async (t) => {
  const { dir, src, mnt, pids } = mountDirs(t);
  const stats = path.join(dir, 'stats.json');
  const r = await tsfuse(['mount', src, mnt, '--passthrough', 'require', '--daemon', '--stats-file', stats]);
  const pid = Number(/\(pid (\d+), passthrough require\)/.exec(r.stdout)?.[1]);
  if (pid) pids.push(pid);
  if (r.status !== 0) {
    // A kernel without passthrough (< 6.9, or no CAP_SYS_ADMIN): the refusal is the behaviour under test.
    t.match(r.stderr, /passthrough/i, `refused, saying why: ${r.stderr}`);
    t.equal(mountLine(mnt), undefined, 'nothing mounted');
    return;
  }
  t.ok(pid > 0, r.stdout);
  t.equal(fs.readFileSync(path.join(mnt, 'hello.txt'), 'utf8'), 'hello through the mount\n');
  t.equal((await tsfuse(['umount', mnt])).status, 0);
  await until('the daemon to exit', () => !alive(pid));
  const counts = JSON.parse(fs.readFileSync(stats, 'utf8')) as Record<string, number>;
  t.equal(counts.OPEN, 1, 'the open reached the server');
  t.equal(counts.READ, 0, 'the read did not: the kernel read the backing file itself');
});

t.test('--daemon that cannot mount: the parent says why and exits non-zero', { skip: !root && 'needs root' }, async (t) => {
  const { src, mnt, pids } = mountDirs(t);
  fs.writeFileSync(path.join(mnt, 'occupied'), '');
  const r = await tsfuse(['mount', src, mnt, '--daemon']);
  const pid = Number(/pid (\d+)/.exec(r.stdout)?.[1]);
  if (pid) pids.push(pid);
  oneLineError(t, r, /^tsfuse: MNT .*: not empty/, 1);
  t.equal(mountLine(mnt), undefined);
});

t.test('--stats-file and --log-file that cannot be written: one line, exit 1, nothing mounted', { skip: !root && 'needs root' }, async (t) => {
  const { dir, src, mnt } = mountDirs(t);
  const nowhere = path.join(dir, 'missing', 'x');
  oneLineError(t, await tsfuse(['mount', src, mnt, '--stats-file', nowhere]), /^tsfuse: --stats-file .*: .*missing is not a directory/, 1);
  // The same words for both.
  oneLineError(t, await tsfuse(['mount', src, mnt, '--log-file', nowhere]), /^tsfuse: --log-file .*: .*missing is not a directory$/m, 1);
  oneLineError(t, await tsfuse(['mount', src, mnt, '--log-file', nowhere, '--daemon']), /^tsfuse: --log-file .*: .*missing is not a directory$/m, 1);
  t.equal(mountLine(mnt), undefined);
});

t.test('a dead mount: mount refuses it, umount clears it lazily', { skip: !root && 'needs root' }, async (t) => {
  const { src, mnt, pids } = mountDirs(t);
  const m = startMount(t, [src, mnt, '--auto-unmount=false'], pids);
  await m.ready;
  m.child.kill('SIGKILL');
  await m.exited;
  t.ok(mountLine(mnt), 'the mount outlives its server');
  oneLineError(t, await tsfuse(['mount', src, mnt]), /dead FUSE mount.*tsfuse umount/, 1);
  const u = await tsfuse(['umount', mnt]);
  t.equal(u.status, 0, u.stderr);
  t.match(u.stdout, /dead FUSE mount .*detaching it lazily/);
  t.equal(mountLine(mnt), undefined, 'gone');
});

t.test('--threads: TSFUSE_THREADS serves on two threads; a bad count or server-kept locks are refused', { skip: !root && 'needs root' }, async (t) => {
  oneLineError(t, await tsfuse(['mount', '/a', '/b', '--threads', '0']), /^tsfuse: --threads: expected a whole number from 1 to \d+/, 2);
  oneLineError(t, await tsfuse(['mount', '/a', '/b', '--threads', 'many']), /^tsfuse: --threads: expected a whole number/, 2);
  const { dir, src, mnt, pids } = mountDirs(t);
  oneLineError(t, await tsfuse(['mount', src, mnt, '--threads', '2', '--posix-locks', 'server']), /--posix-locks server needs --threads 1/, 1);
  t.equal(mountLine(mnt), undefined, 'nothing mounted');
  const stats = path.join(dir, 'stats.json');
  const r = await tsfuse(['mount', src, mnt, '--daemon', '--stats-file', stats], { env: { TSFUSE_THREADS: '2' } });
  const pid = Number(/\(pid (\d+), 2 threads\)/.exec(r.stdout)?.[1]);
  if (pid) pids.push(pid);
  t.equal(r.status, 0, `exit 0: ${r.stderr}`);
  t.ok(pid > 0, `the ready line says 2 threads: ${JSON.stringify(r.stdout)}`);
  t.equal(fs.readFileSync(path.join(mnt, 'hello.txt'), 'utf8'), 'hello through the mount\n');
  fs.writeFileSync(path.join(mnt, 'new.txt'), 'made on two threads\n');
  t.equal(fs.readFileSync(path.join(src, 'new.txt'), 'utf8'), 'made on two threads\n', 'written through to SRC');
  t.equal((await tsfuse(['umount', mnt])).status, 0);
  await until('the daemon to exit', () => !alive(pid));
  const counts = JSON.parse(fs.readFileSync(stats, 'utf8')) as Record<string, number>;
  t.ok(counts.LOOKUP > 0 && counts.CREATE === 1, `the threads' requests are counted after the unmount (LOOKUP ${counts.LOOKUP}, CREATE ${counts.CREATE})`);
});

t.test('-o request_timeout=S: the mount asks the kernel for FUSE_REQUEST_TIMEOUT; a bad value is one line', { skip: !root && 'needs root' }, async (t) => {
  oneLineError(t, await tsfuse(['mount', '/a', '/b', '-o', 'request_timeout=70000']), /^tsfuse: --request-timeout: expected a whole number from 0 to 65535, got '70000'/, 2);
  const { dir, src, mnt, pids } = mountDirs(t);
  const log = path.join(dir, 'debug.log');
  const r = await tsfuse(['mount', src, mnt, '--daemon', '--debug', '--log-file', log, '-o', 'request_timeout=30']);
  const pid = Number(/\(pid (\d+)/.exec(r.stdout)?.[1]);
  if (pid) pids.push(pid);
  t.equal(r.status, 0, `exit 0: ${r.stderr}`);
  const init = fs.readFileSync(log, 'utf8').split('\n').find((l) => l.startsWith('INIT '));
  t.match(init, /FUSE_REQUEST_TIMEOUT/, `INIT granted the timeout: ${init}`);
  t.equal((await tsfuse(['umount', mnt])).status, 0);
  await until('the daemon to exit', () => !alive(pid));
});
