// The randomized differential test, CI-sized: seeded random file operations applied in lockstep
// to a native directory and through a loopback mount (passthrough off, and 'rw'), in this
// process and in several processes at once; then the server's fds and backing ids must be back
// at their baseline. A difference prints the seed and the shortest operation log reproducing
// it. `npm run stress` runs ≥ 100,000 operations per mode.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { mountLoopback } from './fixtures/loopback/harness';
import { tempDir } from './helpers/tmp';
import { describe, differential, generate, shrink, PYTHON, type DifferentialResult } from './stress/differential';

const SEED = Number(process.env.TSFUSE_DIFF_SEED ?? 424242);
const OPS = Number(process.env.TSFUSE_DIFF_OPS ?? 2400);
const PROCS = 2;
const HAVE_PYTHON = spawnSync(PYTHON, ['-c', 'import mmap']).status === 0;
const WORKER = path.join(__dirname, 'stress', 'diff-worker.ts');

function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

function worker(args: object): Promise<DifferentialResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, WORKER, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!));
      } catch {
        reject(new Error(`differential worker exited ${code}: ${out}`));
      }
    });
  });
}

for (const passthrough of ['off', 'rw'] as const) {
  t.test(`passthrough ${passthrough}: native vs mount, random operations`, async (t) => {
    const m = await mountLoopback(t, { passthrough });
    const pid = m.server.pid!;
    const native = path.join(path.dirname(m.src), 'native');
    fs.mkdirSync(native);
    const fds0 = fdCount(pid);
    const stats0 = await m.stats();

    // mmap writes + msync (a python3 child each, 1 % of the operations) when python3 is there.
    const one = differential(SEED, OPS, path.join(native, 'solo'), path.join(m.mnt, 'solo'), { mmap: HAVE_PYTHON });
    t.equal(one.differences, 0, describe(one));

    // Several processes at once, each in a tree of its own so the lockstep stays deterministic.
    const results = await Promise.all(Array.from({ length: PROCS }, (_, i) => worker({
      seed: SEED + 1 + i, count: Math.floor(OPS / 2), native: path.join(native, `p${i}`), mounted: path.join(m.mnt, `p${i}`),
    })));
    for (const r of results) t.equal(r.differences, 0, describe(r));
    t.comment(`${one.ops + results.reduce((s, r) => s + r.ops, 0)} operations, passthrough ${passthrough}`);

    // Everything the runs opened is closed and their trees removed: the kernel forgets the
    // inodes once the names are gone and its caches are dropped.
    fs.rmSync(path.join(m.mnt, 'solo'), { recursive: true, force: true });
    for (let i = 0; i < PROCS; i++) fs.rmSync(path.join(m.mnt, `p${i}`), { recursive: true, force: true });
    fs.writeFileSync('/proc/sys/vm/drop_caches', '2');
    let stats = await m.stats();
    for (let i = 0; i < 50 && (stats.backing.live > stats0.backing.live || fdCount(pid) > fds0); i++) {
      await new Promise((r) => setTimeout(r, 100));
      stats = await m.stats();
    }
    t.equal(stats.backing.live, stats0.backing.live, `backing ids back to baseline (${stats.backing.registered} registered in all)`);
    t.equal(fdCount(pid), fds0, `server fds back to baseline (${fds0})`);
    t.equal(stats.inFlight, 0, 'nothing in flight');
  });
}

t.test('the runner can fail: a planted difference is found and shrunk to a short log', async (t) => {
  const base = tempDir(t, 'tsfuse-diff-');
  let k = 0;
  const fresh = (): [string, string] => {
    // The "mounted" side starts with an extra file: d0/f1 exists there only.
    const a = path.join(base, `a${++k}`);
    const b = path.join(base, `b${k}`);
    fs.mkdirSync(path.join(b, 'd0'), { recursive: true });
    fs.writeFileSync(path.join(b, 'd0', 'f1'), 'planted');
    return [a, b];
  };
  const [a, b] = fresh();
  const r = differential(SEED, 2000, a, b);
  t.equal(r.differences, 1, 'the difference is found');
  const s = shrink(generate(SEED, 2000).slice(0, r.first!.index + 1), fresh);
  t.ok(s.diff !== null && s.ops.length <= 3, `shrunk from ${r.first!.index + 1} to ${s.ops.length} operations: ${JSON.stringify(s.ops)}`);
});
