// Nothing lost on a loopback served by two threads (src/fs/loopback/threaded.ts), where a
// FORGET, RELEASE or READDIR may reach another thread than the request it concerns: the
// randomized differential run with several client processes, with and without passthrough:
// 0 differences, fds and backing ids back at their baseline. The open race on one file is in
// reliability-threads-race.test.ts.
import t from 'tap';
import { differentialOnMount } from './fixtures/loopback/differential-run';

const THREADS = 2;

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root (mounts FUSE; passthrough needs CAP_SYS_ADMIN)');
} else {
  t.setTimeout(300_000);
  for (const passthrough of ['off', 'rw'] as const) {
    t.test(`two threads, passthrough ${passthrough}: native vs mount, 3 client processes`, (t) =>
      differentialOnMount(t, passthrough, { threads: THREADS, procs: 3 }));
  }
}
