// The CLI as users run it: the built dist/src/cli/main.js in a child process.
// `npm test` builds first; running this file alone needs `npm run build` after editing src/.
import { spawn, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { commonOptions } from '../src/cli/command';
import { mountOptions } from '../src/cli/commands/mount';
import { umountOptions } from '../src/cli/commands/umount';
import { envName, flagName } from '../src/cli/options';

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

/**
 * Runs node as a user would. tap wraps child_process.spawn to add its loaders
 * through NODE_OPTIONS; they would follow the CLI (and its daemon) and write
 * tap's process records from there, failing as nobody. env(1) drops them.
 */
function spawnNode(args: string[], opts: SpawnOptions) {
  return spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, ...args], opts);
}

function tsfuse(args: string[], opts: { env?: Record<string, string>; cwd?: string; uid?: number; gid?: number } = {}): Promise<Result> {
  const spawnOpts: SpawnOptions = { cwd: opts.cwd ?? ROOT, env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] };
  if (opts.uid !== undefined) spawnOpts.uid = opts.uid;
  if (opts.gid !== undefined) spawnOpts.gid = opts.gid;
  return new Promise((resolve, reject) => {
    const child = spawnNode([MAIN, ...args], spawnOpts);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

function tempDir(t: Test, prefix = 'tsfuse-cli-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

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

t.test('mount --help and umount --help describe their options', async (t) => {
  const m = await tsfuse(['mount', '--help']);
  t.equal(m.status, 0);
  for (const key of Object.keys(mountOptions).filter((k) => !PUBLIC[k].internal)) {
    t.ok(m.stdout.includes(`--${flagName(key)}`), `mount --help mentions --${flagName(key)}`);
  }
  for (const o of ['allow_other', 'default_permissions', 'ro', 'fsname=', 'subtype=']) t.ok(m.stdout.includes(o), `mentions -o ${o}`);
  t.match(m.stdout, /off\|ro\|wo\|rw\|require/);
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
  oneLineError(t, await tsfuse(['mount', '/a', '/b', '-o', 'nonempty']), /unknown mount option 'nonempty'/, 2);
  oneLineError(t, await tsfuse(['mount', '/a', '/b', '--passthrough=yes']), /--passthrough: expected one of off\|ro\|wo\|rw\|require/, 2);
  oneLineError(t, await tsfuse(['mount', '/a', '/b', '--max-stack-depth', '3']), /--max-stack-depth: expected 1 or 2/, 2);
  oneLineError(t, await tsfuse(['mount', '/a', '/b', '--debug=yes']), /--debug: expected true or false/, 2);
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

t.test('not root: one line, exit 1', async (t) => {
  const dir = tempDir(t);
  const src = path.join(dir, 'src');
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(src);
  fs.mkdirSync(mnt);
  // mkdtemp makes 0700 directories; nobody must be able to look at SRC and MNT to get to the root check.
  fs.chmodSync(dir, 0o755);
  oneLineError(t, await tsfuse(['mount', src, mnt], { uid: 65534, gid: 65534 }), /must run as root/, 1);
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
});

t.test('umount refuses what is not a FUSE mount', async (t) => {
  const dir = tempDir(t);
  oneLineError(t, await tsfuse(['umount', dir]), /^tsfuse: .*: not mounted/, 1);
  oneLineError(t, await tsfuse(['umount', '/proc']), /^tsfuse: \/proc: not a FUSE mount \(proc\)/, 1);
});
