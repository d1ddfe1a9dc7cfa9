// `tsfuse bench` options as a user gives them, through the built CLI in a child process:
// --quick, --no-drop-caches, --targets, --clients, --client and their mistakes. The runs are on
// the native directory alone (no mount, no root needed), at tiny sizes; the report's content is
// checked, never a timing. `npm test` builds first; running this file alone needs `npm run build`.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { tempDir } from './helpers/tmp';

const ROOT = path.resolve(__dirname, '..');
const MAIN = path.join(ROOT, 'dist/src/cli/main.js');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI without tap's loaders (env -u NODE_OPTIONS) and without the developer's TSFUSE_*. */
function bench(args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TSFUSE_')) env[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, MAIN, 'bench', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

interface Doc {
  results: { workload: string; config: string; seconds: number }[];
  targets?: unknown[];
  counters: Record<string, unknown>;
  environment: { scale: number; rounds: number; dropCaches: string; client?: string };
}

/** A native-only run in a fresh directory, which must be left empty. */
async function nativeRun(t: Test, args: string[]): Promise<Run> {
  const dir = path.join(tempDir(t, 'tsfuse-bench-cli-'), 'run');
  const r = await bench(['--configs', 'native', '--dir', dir, ...args]);
  t.equal(r.status, 0, `exit 0 (${args.join(' ')})`, { stderr: r.stderr.slice(-1500) });
  t.same(fs.existsSync(dir) ? fs.readdirSync(dir) : [], [], 'nothing left in --dir');
  return r;
}

if (!fs.existsSync(MAIN)) {
  t.fail(`${MAIN} is missing: run \`npm run build\` first (npm test does)`);
} else {
  t.setTimeout(180_000);

  t.test('--no-drop-caches: cold steps left out, and the report says why', async (t) => {
    const json = await nativeRun(t, ['--no-drop-caches', '--workloads', '4k,dd', '--scale', '0.001', '--rounds', '1', '--json']);
    const doc = JSON.parse(json.stdout) as Doc;
    const workloads = doc.results.map((r) => r.workload);
    t.ok(workloads.includes('4k.read_warm') && workloads.includes('dd.write'), 'warm steps ran');
    t.same(workloads.filter((w) => /cold|dd\.read/.test(w)), [], 'no cold step ran');
    t.match(doc.environment.dropCaches, /--no-drop-caches/, 'the JSON says why');
    const text = await nativeRun(t, ['--no-drop-caches', '--workloads', '4k', '--scale', '0.001', '--rounds', '1']);
    t.match(text.stdout, /^cold reads: left out \(--no-drop-caches: the machine's caches were not dropped\)$/m);
    t.notMatch(text.stdout, /4k\.read_cold/, 'no cold row in the table');
    t.notMatch(text.stdout, /skipped 4k\.read_cold/, 'not reported step by step as a failure to drop');
  });

  t.test('targets only with --targets', async (t) => {
    const plain = await nativeRun(t, ['--no-drop-caches', '--workloads', '10m', '--scale', '0.01', '--rounds', '1']);
    t.notMatch(plain.stdout, /targets/i, 'no targets section by default');
    const json = JSON.parse((await nativeRun(t, ['--no-drop-caches', '--workloads', '10m', '--scale', '0.01', '--rounds', '1', '--json'])).stdout) as Doc;
    t.notOk('targets' in json, 'nor in the JSON');
    const asked = await nativeRun(t, ['--targets', '--no-drop-caches', '--workloads', '10m', '--scale', '0.01', '--rounds', '1']);
    t.match(asked.stdout, /^targets:\n  none measured in this run/m, 'asked for: said, also when none can be checked');
  });

  t.test('--quick: its scale, rounds and clients; each can still be given', async (t) => {
    const quick = JSON.parse((await nativeRun(t, ['--quick', '--no-drop-caches', '--workloads', 'clients', '--json'])).stdout) as Doc;
    t.match(quick.environment, { scale: 0.02, rounds: 2 });
    t.same([...new Set(quick.results.map((r) => r.workload))].sort(),
      ['p1.create', 'p1.read', 'p1.stat', 'p4.create', 'p4.read', 'p4.stat', 'p8.create', 'p8.read', 'p8.stat']);
    t.match(quick.environment.client, /^(C|Node)/, 'the report names the client');
    const given = JSON.parse((await nativeRun(t, ['--quick', '--rounds', '1', '--scale', '0.001', '--clients', '3', '--no-drop-caches',
      '--workloads', 'clients', '--client', 'node', '--json'])).stdout) as Doc;
    t.match(given.environment, { scale: 0.001, rounds: 1, client: /^Node/ });
    t.same([...new Set(given.results.map((r) => r.workload))], ['p3.create', 'p3.read', 'p3.stat']);
  });

  t.test('option mistakes: one line naming the option once, exit 2, nothing run', async (t) => {
    for (const [args, message] of [
      [['--clients', '0'], /^tsfuse: --clients: expected client process counts 1\.\.64/],
      [['--clients=1,x'], /^tsfuse: --clients: expected client process counts/],
      [['--client', 'rust'], /^tsfuse: --client: expected one of auto\|c\|node, got "rust"/],
      [['--scale', '0'], /^tsfuse: --scale: expected a number > 0/],
      [['--scale=0'], /^tsfuse: --scale: expected a number > 0/],
      [['--entry-timeout', '-1'], /^tsfuse: --entry-timeout/],
      [['--workloads', '4k,9k'], /^tsfuse: --workloads: unknown '9k'/],
    ] as const) {
      const r = await bench([...args, '--configs', 'native']);
      t.equal(r.status, 2, `${args.join(' ')}: exit 2`);
      t.match(r.stderr, message, args.join(' '));
      t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
      const flag = args[0].split('=')[0];
      t.equal(r.stderr.split(flag).length - 1, 1, `${flag} named once: ${r.stderr.trim()}`);
    }
  });
}
