// SRC on overlayfs: its files sit one filesystem deep, so with max_stack_depth 1 the kernel
// refuses them as backing files (ELOOP) — the mount then serves everything through the server
// after one warning that names --max-stack-depth 2 — and with max_stack_depth 2 they pass through.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import t, { type Test } from 'tap';
import { mountPassthrough, run, tempDir } from './fixtures/passthrough/harness';

if (process.geteuid?.() !== 0) {
  t.plan(0, 'mounting needs root');
}

/** An overlayfs in a temporary directory (whose teardown detaches it); null when it cannot be mounted. */
function overlay(t: Test): string | null {
  const base = tempDir(t);
  for (const d of ['lower', 'upper', 'work', 'merged']) fs.mkdirSync(path.join(base, d));
  fs.writeFileSync(path.join(base, 'lower', 'data'), Buffer.alloc(1024 * 1024, 3));
  const merged = path.join(base, 'merged');
  const r = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o',
    `lowerdir=${base}/lower,upperdir=${base}/upper,workdir=${base}/work`, merged], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  return merged;
}

/** The loopback's SRC: the whole overlay, copied in at setup (the harness makes SRC itself). */
async function mountOnOverlay(t: Test, maxStackDepth: 1 | 2) {
  const merged = overlay(t);
  if (merged === null) return null;
  const m = await mountPassthrough(t, { loopback: { passthrough: 'rw', maxStackDepth }, srcDir: merged });
  return m;
}

for (const depth of [1, 2] as const) {
  t.test(`SRC on overlayfs, max_stack_depth ${depth}`, async (t) => {
    const m = await mountOnOverlay(t, depth);
    if (m === null) {
      t.comment('overlayfs cannot be mounted here');
      return;
    }
    const data = fs.readFileSync(path.join(m.mnt, 'data'));
    t.ok(data.length === 1024 * 1024 && data.every((b) => b === 3), 'the bytes read back');
    t.equal((await run('sh', ['-c', `printf hello > ${m.mnt}/new && cat ${m.mnt}/new`])).stdout, 'hello');
    const s = await m.settled();
    const warnings = m.stderr().split('\n').filter((l) => /passthrough off/.test(l));
    if (depth === 1) {
      t.equal(warnings.length, 1, 'one warning');
      t.match(warnings[0], /ELOOP.*--max-stack-depth 2/, 'why, and what to do');
      t.ok(s.requests.READ > 0, `READ through the server: ${s.requests.READ}`);
      t.notOk(s.backing.enabled);
    } else {
      t.same(warnings, [], 'no warning');
      t.equal(s.requests.READ, 0, 'reads pass through');
      t.equal(s.requests.WRITE, 0, 'writes pass through');
      t.equal(s.backing.live, 0);
    }
  });
}
