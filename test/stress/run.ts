// `npm run stress`: the long runs behind the CI subsets.
//   fuzz    1,000,000 hostile messages through the session serving a loopback (memory transport)
//   diff    ≥ 100,000 differential operations per mode (passthrough off and rw), split evenly
//           over this process and several others running at once; then fds/backing ids vs baseline
//   memory  100,000 distinct files looked up through the mount and forgotten (drop_caches),
//           the server's RSS and inode count printed along the way
// Options: --only=fuzz,diff,memory  --seed=N  --messages=N  --ops=N  --files=N  --procs=N
//          --threads=N (serving threads of the diff and memory mounts; default 1)
//          --blocks (compare st_blocks too, see differential.ts)
// Exit status 1 when anything failed; every figure is printed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fuzzDecoder, fuzzSession } from './fuzz';
import { describe, type DifferentialResult } from './differential';
import { fdCount, mountLoopback, rssKiB, tempDir, tmpfs } from './mount';

const args = new Map(process.argv.slice(2).map((a) => {
  const [k, v] = a.replace(/^--/, '').split('=');
  return [k, v ?? 'true'] as [string, string];
}));
const only = new Set((args.get('only') ?? 'fuzz,diff,memory').split(','));
const SEED = Number(args.get('seed') ?? Date.now() % 1_000_000_007);
const MESSAGES = Number(args.get('messages') ?? 1_000_000);
const OPS = Number(args.get('ops') ?? 100_000);
const FILES = Number(args.get('files') ?? 100_000);
const PROCS = Number(args.get('procs') ?? 3);
const THREADS = Number(args.get('threads') ?? 1);
// Read by differential.ts (and inherited by its worker processes).
if (args.has('blocks')) process.env.TSFUSE_DIFF_BLOCKS = '1';
let failed = false;

function log(line: string): void {
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

async function fuzz(): Promise<void> {
  const d = fuzzDecoder(SEED, MESSAGES);
  log(`fuzz decoder: ${d.messages} messages, ${d.decoded} decoded, ${d.rejected} rejected, ${d.failures.length} failures`);
  for (const f of d.failures) log(`  FAIL ${f}`);
  if (d.failures.length > 0) failed = true;
  const base = tempDir('tsfuse-stress-fuzz-');
  const dir = path.join(base, 'src');
  fs.mkdirSync(dir);
  if (!tmpfs(dir, '32m')) log('fuzz: no tmpfs, fuzzing on the temp directory itself');
  fs.mkdirSync(path.join(dir, 'dir'));
  fs.writeFileSync(path.join(dir, 'a'), 'hello');
  const t0 = Date.now();
  const r = await fuzzSession({
    seed: SEED, count: MESSAGES, dir,
    progress: (n) => n % 100_000 < 256 && log(`fuzz session: ${n} messages`),
  });
  log(`fuzz session: seed ${SEED}, ${r.messages} messages in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${r.answered} answered, ${r.unanswerable} owed no reply, ${r.failures.length} failures`);
  log(`  replies: ${JSON.stringify(r.byError)}`);
  for (const f of r.failures) log(`  FAIL ${f.slice(0, 500)}`);
  for (const [k, n] of Object.entries(r.handlerBugs)) log(`  handler bug (answered EIO) ×${n}: ${k}`);
  if (r.failures.length > 0) failed = true;
}

function worker(a: object): Promise<DifferentialResult> {
  const script = path.join(__dirname, 'diff-worker.ts');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, script, JSON.stringify(a)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.on('close', (code) => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!));
      } catch {
        reject(new Error(`worker exited ${code}: ${out}`));
      }
    });
  });
}

async function diff(): Promise<void> {
  for (const passthrough of ['off', 'rw'] as const) {
    const base = tempDir('tsfuse-stress-diff-');
    const m = await mountLoopback(base, { passthrough }, THREADS);
    const pid = m.server.pid!;
    const native = path.join(base, 'native');
    fs.mkdirSync(native);
    const fds0 = fdCount(pid);
    const s0 = await m.stats();
    const t0 = Date.now();
    // Every share runs in a worker process, all at once against one server: this process stays
    // free to clean up on a signal (a synchronous run here would not see one until it ended).
    const per = Math.ceil(OPS / (PROCS + 1));
    const results = await Promise.all(Array.from({ length: PROCS + 1 }, (_, i) => worker({
      seed: SEED + i, count: per, native: path.join(native, `p${i}`), mounted: path.join(m.mnt, `p${i}`), mmap: true,
    })));
    const ops = results.reduce((s, r) => s + r.ops, 0);
    const diffs = results.reduce((s, r) => s + r.differences, 0);
    log(`diff passthrough=${passthrough}: ${ops} operations (${PROCS + 1} processes at once, ${THREADS} serving thread(s)) in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${diffs} differences`);
    for (const r of results) if (r.differences > 0) log(describe(r));
    if (diffs > 0) failed = true;
    for (const d of fs.readdirSync(m.mnt)) fs.rmSync(path.join(m.mnt, d), { recursive: true, force: true });
    fs.writeFileSync('/proc/sys/vm/drop_caches', '2');
    let s = await m.stats();
    for (let i = 0; i < 50 && (s.backing.live > s0.backing.live || fdCount(pid) > fds0); i++) {
      await new Promise((r) => setTimeout(r, 100));
      s = await m.stats();
    }
    const fds = fdCount(pid);
    log(`  server fds ${fds0} → ${fds}, backing ids live ${s0.backing.live} → ${s.backing.live} (${s.backing.registered} registered, ${s.backing.closed} closed), loopback inodes ${s.loopback.inodes}, in flight ${s.inFlight}`);
    if (fds !== fds0 || s.backing.live !== s0.backing.live) {
      log('  FAIL: the server did not return to its baseline');
      failed = true;
    }
    await m.close();
  }
}

async function memory(): Promise<void> {
  const base = tempDir('tsfuse-stress-mem-');
  const m = await mountLoopback(base, {}, THREADS);
  const pid = m.server.pid!;
  const dirs = Math.ceil(FILES / 1000);
  for (let d = 0; d < dirs; d++) {
    fs.mkdirSync(path.join(m.src, `d${d}`));
    for (let i = 0; i < 1000 && d * 1000 + i < FILES; i++) fs.writeFileSync(path.join(m.src, `d${d}`, `f${i}`), '');
  }
  const rss0 = rssKiB(pid);
  const fds0 = fdCount(pid);
  log(`memory: ${FILES} files in ${dirs} directories; server RSS ${(rss0 / 1024).toFixed(1)} MiB, fds ${fds0}`);
  let peak = rss0;
  let peakInodes = 0;
  for (let d = 0; d < dirs; d++) {
    for (let i = 0; i < 1000 && d * 1000 + i < FILES; i++) fs.statSync(path.join(m.mnt, `d${d}`, `f${i}`));
    if ((d + 1) % 10 === 0 || d === dirs - 1) {
      const before = await m.stats();
      fs.writeFileSync('/proc/sys/vm/drop_caches', '2');
      await new Promise((r) => setTimeout(r, 200));
      const after = await m.stats();
      const rss = rssKiB(pid);
      peak = Math.max(peak, rss);
      peakInodes = Math.max(peakInodes, before.loopback.inodes);
      log(`  ${(d + 1) * 1000} looked up: inodes ${before.loopback.inodes} → ${after.loopback.inodes} after drop_caches, FORGETs ${after.requests.FORGET + after.requests.BATCH_FORGET}, RSS ${(rss / 1024).toFixed(1)} MiB, fds ${fdCount(pid)}`);
    }
  }
  fs.writeFileSync('/proc/sys/vm/drop_caches', '2');
  await new Promise((r) => setTimeout(r, 500));
  const end = await m.stats();
  const rss = rssKiB(pid);
  log(`memory: ${FILES} files looked up and forgotten; inodes held at the end ${end.loopback.inodes} (peak ${peakInodes}), server RSS ${(rss0 / 1024).toFixed(1)} → ${(rss / 1024).toFixed(1)} MiB (peak ${(peak / 1024).toFixed(1)}), fds ${fds0} → ${fdCount(pid)}`);
  if (end.loopback.inodes > 1000) {
    log('  FAIL: the loopback still holds inodes the kernel forgot');
    failed = true;
  }
  await m.close();
}

async function main(): Promise<void> {
  log(`tsfuse stress, seed ${SEED}`);
  if (only.has('fuzz')) await fuzz();
  if (only.has('diff')) await diff();
  if (only.has('memory')) await memory();
  log(failed ? 'stress: FAILED' : 'stress: all passed');
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  log(`stress: ${err?.stack ?? err}`);
  process.exit(1);
});
