// 50 processes opening, reading and writing one file at once with mixed access modes, on a
// loopback served by two threads (src/fs/loopback/threaded.ts): the kernel fails (EIO) an open
// that does not agree with the inode's other opens, so every open of the file must get the same
// backing id whichever thread serves it, and a RELEASE served by another thread than its OPEN
// must still close it: no EIO, every block right, no backing id or fd left.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { mountLoopback } from './fixtures/loopback/harness';
import { run } from './fixtures/passthrough/harness';

const THREADS = 2;
const WORKER = path.join(__dirname, 'fixtures/passthrough/worker.py');
const PROCESSES = 50;
const BLOCK = 4096;

function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root (mounts FUSE; passthrough needs CAP_SYS_ADMIN)');
} else {
  t.setTimeout(120_000);
  for (const policy of ['rw', 'ro'] as const) {
    t.test(`two threads, ${PROCESSES} processes on one file, policy ${policy}: no EIO, no backing id left`, async (t) => {
      const m = await mountLoopback(t, { passthrough: policy }, { threads: THREADS });
      fs.writeFileSync(path.join(m.src, 'shared'), Buffer.alloc(PROCESSES * BLOCK));
      const file = path.join(m.mnt, 'shared');
      // Looked up first, so the inode's O_PATH fd is in the baseline (a drop_caches elsewhere on
      // the machine may still make the kernel forget it: at most the baseline, then).
      fs.statSync(file);
      const fds0 = fdCount(m.server.pid!);
      const results = await Promise.all(
        Array.from({ length: PROCESSES }, (_, i) => run('python3', [WORKER, file, String(i), String(PROCESSES)])),
      );
      const failed = results.map((r, i) => ({ i, ...r })).filter((r) => r.code !== 0);
      t.same(failed.map((f) => `${f.i}: ${f.stderr.trim()}`), [], 'every process succeeded (no EIO)');
      const data = fs.readFileSync(path.join(m.src, 'shared'));
      const wrong: number[] = [];
      for (let i = 0; i < PROCESSES; i++) {
        const expected = i % 3 === 0 ? 0 : i + 1;
        if (!data.subarray(i * BLOCK, (i + 1) * BLOCK).every((b) => b === expected)) wrong.push(i);
      }
      t.same(wrong, [], "each writer's block holds its bytes, the readers' blocks zeros");
      // RELEASE trails close(2): give it up to 10 s, then report what is left.
      let stats = await m.stats();
      for (let i = 0; i < 200 && (stats.backing.live > 0 || fdCount(m.server.pid!) > fds0); i++) {
        await new Promise((r) => setTimeout(r, 50));
        stats = await m.stats();
      }
      t.ok(stats.backing.registered >= 1, `${stats.backing.registered} backing ids used`);
      t.equal(stats.backing.live, 0, 'no backing id left registered');
      t.equal(stats.backing.failed, 0, 'no backing open failed');
      // A RELEASE that found no open file (on the other thread) would leave its fd open.
      const fds = fdCount(m.server.pid!);
      t.ok(fds <= fds0, `server fds back to baseline (${fds0} before, ${fds} after)`);
    });
  }
}
