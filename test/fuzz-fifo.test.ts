// A fuzz finding, on its own: OPEN of a FIFO (which the kernel never sends — it treats FIFOs on
// FUSE as special files — but a hostile or buggy peer can) must not block the server. Run in a
// child with a timeout, so that the bug fails the test instead of hanging it.
import t from 'tap';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { tempDir } from './fixtures/loopback/harness';

t.test('OPEN of a FIFO does not block the loopback', async (t) => {
  const dir = tempDir(t, 'tsfuse-fifo-');
  const r = spawnSync(process.execPath, [...process.execArgv, path.join(__dirname, 'stress', 'fifo-open.ts'), dir], {
    encoding: 'utf8', timeout: 10000, killSignal: 'SIGKILL',
  });
  t.match(r.stdout, /^MKNOD 0$/m, 'the FIFO is made');
  t.match(r.stdout, /^GETATTR 0$/m, `the server still answers after the OPEN (${JSON.stringify(r.stdout)})`);
});
