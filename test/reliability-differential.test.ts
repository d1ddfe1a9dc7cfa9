// The randomized differential test, CI-sized: seeded random file operations applied in lockstep
// to a native directory and through a loopback mount (passthrough off, and 'rw'), in this
// process and in several processes at once; then the server's fds and backing ids must be back
// at their baseline. A difference prints the seed and the shortest operation log reproducing
// it. `npm run stress` runs ≥ 100,000 operations per mode.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { differentialOnMount, SEED } from './fixtures/loopback/differential-run';
import { tempDir } from './helpers/tmp';
import { differential, generate, shrink } from './stress/differential';

for (const passthrough of ['off', 'rw'] as const) {
  t.test(`passthrough ${passthrough}: native vs mount, random operations`, (t) => differentialOnMount(t, passthrough));
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
