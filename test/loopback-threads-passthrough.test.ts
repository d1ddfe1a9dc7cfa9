// The behaviour suite (fixtures/loopback/scenarios.ts) through a loopback served on two threads
// (src/fs/loopback/threaded.ts) that passes every open through: the same results as the source
// directory, no READ reaching the server, and no backing id left once the files are closed,
// although OPEN and RELEASE of one file may reach different threads.
import t from 'tap';
import { behaviourSuite } from './fixtures/loopback/harness';

const THREADS = 2;

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root (mounts FUSE; passthrough needs CAP_SYS_ADMIN)');
} else {
  t.setTimeout(300_000);
  t.test('behaviour suite on two threads, passthrough rw', async (t) => {
    const m = await behaviourSuite(t, { passthrough: 'rw' }, THREADS);
    // RELEASE is sent after close(2) returns: wait until the last arrived.
    let stats = await m.stats();
    for (let i = 0; i < 50 && stats.backing.live > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      stats = await m.stats();
    }
    t.ok(stats.backing.registered > 0, 'opens were passed through');
    t.equal(stats.backing.failed, 0, 'no backing file was refused');
    t.equal(stats.requests.READ, 0, 'no READ reached the server');
    t.equal(stats.backing.live, 0, 'no backing id is left');
  });
}
