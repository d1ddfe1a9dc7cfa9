// The behaviour suite (fixtures/loopback/scenarios.ts) through a loopback
// that passes every open through to the kernel (FUSE passthrough): the same
// results as the source directory, with no READ or WRITE reaching the server;
// and with only read-only opens passed through, so that passthrough and
// plain opens of one file meet (the session makes them agree).
import t from 'tap';
import { behaviourSuite } from './fixtures/loopback/harness';

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root (mounts FUSE; passthrough needs CAP_SYS_ADMIN)');
} else {
  // Two mounts, each running the whole suite (~15 s here); room for a slower machine.
  t.setTimeout(300_000);
  t.test('behaviour suite, passthrough rw', async (t) => {
    const m = await behaviourSuite(t, { passthrough: 'rw' });
    const stats = await m.stats();
    t.ok(stats.backing.registered > 0, 'opens were passed through');
    t.equal(stats.backing.failed, 0, 'no backing file was refused');
    t.equal(stats.requests.READ, 0, 'no READ reached the server');
    t.equal(stats.requests.WRITE, 0, 'no WRITE reached the server');
  });

  t.test('behaviour suite, passthrough ro (mixed with plain opens)', async (t) => {
    const m = await behaviourSuite(t, { passthrough: 'ro' });
    const stats = await m.stats();
    t.ok(stats.backing.registered > 0, 'read-only opens were passed through');
    t.ok(stats.requests.WRITE > 0, 'writes were served by the loopback');
  });
}
