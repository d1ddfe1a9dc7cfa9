// 50 processes opening, reading and writing one file at once with mixed access modes, on a
// loopback served by two threads (src/fs/loopback/threaded.ts): the kernel fails (EIO) an open
// that does not agree with the inode's other opens, so every open of the file must get the same
// backing id whichever thread serves it, and a RELEASE served by another thread than its OPEN
// must still close it: no EIO, every block right, no backing id or fd left.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { mountLoopback } from './fixtures/loopback/harness';
import { openRace } from './fixtures/passthrough/harness';

const THREADS = 2;
const PROCESSES = 50;
const BLOCK = 4096;

function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root (mounts FUSE; passthrough needs CAP_SYS_ADMIN)');
} else if (spawnSync('sh', ['-c', 'command -v python3']).status !== 0) {
  t.plan(0, 'needs python3');
} else {
  t.setTimeout(300_000);
  for (const policy of ['rw', 'ro'] as const) {
    t.test(`two threads, ${PROCESSES} processes on one file, policy ${policy}: no EIO, no backing id left`, async (t) => {
      const m = await mountLoopback(t, { passthrough: policy }, { threads: THREADS });
      fs.writeFileSync(path.join(m.src, 'shared'), Buffer.alloc(PROCESSES * BLOCK));
      const file = path.join(m.mnt, 'shared');
      // Looked up first, so the inode's O_PATH fd is in the baseline (a drop_caches elsewhere on
      // the machine may still make the kernel forget it: at most the baseline, then).
      fs.statSync(file);
      const fds0 = fdCount(m.server.pid!);
      await openRace(t, file, path.join(m.src, 'shared'), PROCESSES, BLOCK);
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
