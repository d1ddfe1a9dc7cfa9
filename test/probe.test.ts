// The probe against this machine's kernel: live throw-away mounts, BACKING_OPEN, the CLI, a run
// without CAP_SYS_ADMIN, and an interrupt. Every test gives the probe its own temporary
// directory and checks that nothing (directory entry or mount) is left in it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import t, { type Test } from 'tap';
import { probeExitCode, probeKernel, verdictLine, type ProbeResult } from '../src/kernel/probe';
import { mountsUnder, tempDir as sharedTempDir } from './helpers/tmp';

const ROOT = process.getuid?.() === 0;
const needsRoot = ROOT ? {} : { skip: 'needs root (mounts FUSE and overlayfs)' };
const MAIN = path.join(__dirname, '..', 'src', 'cli', 'main.ts');
const PROBE = path.join(__dirname, '..', 'src', 'kernel', 'probe.ts');

/** A private temporary directory; teardown detaches anything still mounted in it, then removes it. */
const tempDir = (t: Test): string => sharedTempDir(t, 'tsfuse-probe-test-');

function assertClean(t: Test, dir: string): void {
  t.same(mountsUnder(dir), [], 'no mount left');
  t.same(fs.readdirSync(dir).filter((name) => name.startsWith('tsfuse-probe-')), [], 'no temporary directory left');
}

/** `tsfuse ARGS` through the same TypeScript loader as this test, optionally behind `wrapper`. */
function cli(args: string[], tmp: string, wrapper: string[] = []): SpawnSyncReturns<string> {
  const node = [process.execPath, ...process.execArgv, MAIN, ...args];
  const argv = [...wrapper, ...node];
  return spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env: { ...process.env, TMPDIR: tmp }, timeout: 60_000 });
}

/** An overlayfs on `base`/merged; `base` lies in a tempDir, whose teardown detaches it. */
function mountOverlay(base: string, lower: string): string {
  for (const d of ['upper', 'work', 'merged']) fs.mkdirSync(path.join(base, d), { recursive: true });
  const merged = path.join(base, 'merged');
  const r = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${base}/upper,workdir=${base}/work`, merged], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount overlay: ${r.stderr}`);
  return merged;
}

t.test('live probe as root: protocol 7.45, passthrough usable, nothing left behind', needsRoot, async (t) => {
  const tmp = tempDir(t);
  const p = await probeKernel({ tmpDir: tmp });
  t.equal(p.kernel, os.release());
  t.equal(p.liveRoute, 'mount');
  t.equal(p.canMount, true);
  t.equal(p.protocol, '7.45');
  for (const flag of ['FUSE_INIT_EXT', 'FUSE_PASSTHROUGH', 'FUSE_MAX_PAGES']) t.ok(p.flags.includes(flag), `${flag} offered`);
  t.ok(Number.isInteger(p.maxReadahead) && p.maxReadahead! > 0, 'max_readahead read from INIT');
  t.match(p.passthrough, { offered: true, usable: true, errno: null, maxStackDepth: 1 });
  const first = p.passthrough.attempts[0];
  t.ok(first.id !== null && first.id > 0, 'BACKING_OPEN returned an id');
  t.equal(first.closeErrno, null, 'BACKING_CLOSE returned 0');
  // Whether FUSE_OVER_IO_URING is offered follows the module parameter enable_uring, which
  // test/uring.test.ts switches meanwhile (tap runs files in parallel): checked there.
  t.equal(p.error, null);
  t.equal(probeExitCode(p), 0);
  t.equal(verdictLine(p), 'passthrough: available');
  assertClean(t, tmp);
});

t.test('--backing: plain, overlayfs (needs depth 2), overlay on overlay (ELOOP)', needsRoot, async (t) => {
  const tmp = tempDir(t);
  const probeDir = path.join(tmp, 'probe');
  fs.mkdirSync(probeDir);
  const plain = path.join(tmp, 'plain');
  fs.mkdirSync(plain);
  const ovl1 = mountOverlay(path.join(tmp, 'ovl1'), plain);
  const ovl2 = mountOverlay(path.join(tmp, 'ovl2'), ovl1);

  const p0 = await probeKernel({ tmpDir: probeDir, backing: plain });
  t.match(p0.stackDepth.backing, { path: plain, depth: 0, source: 'live', maxStackDepth: 1, file: 'O_TMPFILE' });
  t.match(p0.passthrough, { usable: true, maxStackDepth: 1 });

  const p1 = await probeKernel({ tmpDir: probeDir, backing: ovl1 });
  t.match(p1.stackDepth.backing, { fsType: 'overlay', depth: 1, source: 'live', maxStackDepth: 2 });
  t.same(p1.stackDepth.backing!.attempts.map((a) => [a.maxStackDepth, a.errno]), [[1, 'ELOOP'], [2, null]]);
  t.match(p1.passthrough, { usable: true, maxStackDepth: 2 });
  t.equal(verdictLine(p1), 'passthrough: available with max_stack_depth 2');
  t.equal(probeExitCode(p1), 0);

  const p2 = await probeKernel({ tmpDir: probeDir, backing: ovl2 });
  t.match(p2.stackDepth.backing, { depth: 2, source: 'live', maxStackDepth: null });
  t.match(p2.passthrough, { usable: false, errno: 'ELOOP' });
  t.equal(probeExitCode(p2), 1);
  t.match(verdictLine(p2), /^passthrough: unavailable — ELOOP: .* \(.*ovl2\/merged\), keep the backing directory/);
  assertClean(t, probeDir);
  t.same(fs.readdirSync(plain), [], 'O_TMPFILE left nothing in the backing directory');
});

t.test('tsfuse probe --json: the documented fields, exit 0', needsRoot, async (t) => {
  const tmp = tempDir(t);
  const r = cli(['probe', '--json'], tmp);
  t.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as ProbeResult;
  t.equal(j.schema, 1);
  t.equal(j.kernel, os.release());
  t.equal(j.protocol, '7.45');
  t.ok(Array.isArray(j.flags) && j.flags.every((f) => typeof f === 'string') && j.flags.includes('FUSE_PASSTHROUGH'));
  t.match(j.passthrough, { offered: true, usable: true, errno: null, reason: String });
  t.match(j.ioUring, { offered: Boolean, enableUring: Boolean });
  t.equal(j.canMount, true);
  t.equal(typeof j.fusermount3, 'boolean');
  t.equal(typeof j.how.protocol, 'string');
  assertClean(t, tmp);
});

t.test('tsfuse probe: aligned table ending in the verdict line', needsRoot, async (t) => {
  const tmp = tempDir(t);
  const r = cli(['probe'], tmp);
  t.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  t.equal(lines.at(-1), 'passthrough: available');
  t.match(lines.find((l) => l.startsWith('protocol ')), /^protocol\s+7\.45\s+major\.minor of the INIT request/);
  assertClean(t, tmp);
});

const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;
t.test('without CAP_SYS_ADMIN: BACKING_OPEN gets EPERM, exit 1', ROOT && hasSetpriv ? {} : { skip: 'needs root and setpriv' }, async (t) => {
  const tmp = tempDir(t);
  const r = cli(['probe', '--json'], tmp, ['setpriv', '--inh-caps=-sys_admin', '--bounding-set=-sys_admin', '--']);
  t.equal(r.status, 1, r.stderr);
  const j = JSON.parse(r.stdout) as ProbeResult;
  t.equal(j.capSysAdmin, false);
  t.equal(j.canMount, false, 'mount(8) refused');
  // The INIT offer and the ioctl come from a mount in a new user namespace (unshare -Urm).
  t.equal(j.liveRoute, 'userns');
  t.equal(j.protocol, '7.45');
  t.match(j.passthrough, { offered: true, usable: false, errno: 'EPERM' });
  t.match(j.passthrough.reason, /CAP_SYS_ADMIN in the initial user namespace/);
  assertClean(t, tmp);
});

t.test('SIGINT while the throw-away mount exists: cleaned up, then the signal takes effect', needsRoot, async (t) => {
  const tmp = tempDir(t);
  const script = `
    const { probeKernel } = require(${JSON.stringify(PROBE)});
    probeKernel({ tmpDir: ${JSON.stringify(tmp)}, onMounted: () => process.kill(process.pid, 'SIGINT') })
      .then(() => process.stdout.write('not interrupted'));
  `;
  // Only the TypeScript loader: tap's other preloads (also in NODE_OPTIONS) listen for signals.
  const execArgv = process.execArgv.filter((a) => a.includes('typescript'));
  const env = { ...process.env, NODE_OPTIONS: '' };
  const r = spawnSync(process.execPath, [...execArgv, '-e', script], { encoding: 'utf8', env, timeout: 60_000 });
  t.equal(r.signal, 'SIGINT', `died of the re-raised SIGINT (stderr: ${r.stderr})`);
  t.equal(r.stdout, '');
  assertClean(t, tmp);
});
