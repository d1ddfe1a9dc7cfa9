// The loopback served on two threads (src/fs/loopback/threaded.ts) against the behaviour suite
// (fixtures/loopback/scenarios.ts; with passthrough in loopback-threads-passthrough), and long
// listings read by several processes at once, so that READDIR continuations reach the thread
// that did not open the directory: every name once, as in the source.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { behaviourSuite, mountLoopback } from './fixtures/loopback/harness';
import { run } from './helpers/mounted';

const THREADS = 2;

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root (mounts FUSE; passthrough needs CAP_SYS_ADMIN)');
} else {
  t.setTimeout(300_000);
  t.test('behaviour suite on two threads, passthrough off', async (t) => {
    const m = await behaviourSuite(t, { passthrough: 'off' }, THREADS);
    const stats = await m.stats();
    t.ok(stats.requests.READ > 0, 'reads went through the server');
  });

  t.test('listings continued on the other thread return every name once, while names come and go', async (t) => {
    const m = await mountLoopback(t, { entryTimeout: 0, attrTimeout: 0 }, { threads: THREADS });
    const names: string[] = [];
    for (let i = 0; i < 2000; i++) names.push(`a-long-enough-name-to-need-several-replies-${i}`);
    const dir = path.join(m.src, 'big');
    fs.mkdirSync(dir);
    for (const n of names) fs.writeFileSync(path.join(dir, n), '');
    const expected = [...names].sort().join('\n');
    // Names created and removed during the listings: a listing may or may not show them, but a
    // continuation that read the directory anew would shift the offsets of the others (repeated
    // or skipped names); only the snapshot the listing started with keeps them.
    const churn = run('sh', ['-c', 'for i in $(seq 400); do touch "$1/churn-$i"; rm -f "$1/churn-$((i - 20))"; done', 'sh', dir]);
    // `ls -f` lists in directory order, unsorted, over many READDIR(PLUS) requests.
    const listers = Array.from({ length: 6 }, () => run('sh', ['-c', 'for i in 1 2 3; do ls -f "$1" | grep -v -e "^\\.\\.\\?$" -e "^churn-" | sort; echo END; done', 'sh', path.join(m.mnt, 'big')]));
    for (const r of await Promise.all(listers)) {
      t.equal(r.stderr, '', 'no listing failed');
      const runs = r.stdout.split('END\n').filter((s) => s !== '');
      t.equal(runs.length, 3, 'every listing ran');
      t.ok(runs.every((s) => s.trim() === expected), 'every listing saw each unchanged name exactly once');
    }
    t.equal((await churn).code, 0, 'the names came and went');
  });
}
