// SRC on overlayfs: its files sit one filesystem deep, so with max_stack_depth 1 the kernel
// refuses them as backing files (ELOOP) — the mount then serves that filesystem's files through
// the server after one warning that names --max-stack-depth 2 — and with max_stack_depth 2 they
// pass through.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import t, { type Test } from 'tap';
import { mountPassthrough, run, tempDir } from './fixtures/passthrough/harness';

if (process.geteuid?.() !== 0) {
  t.plan(0, 'mounting needs root');
}

/**
 * An overlayfs in a temporary directory (whose teardown detaches it), mounted on `at` when
 * given; null when it cannot be mounted.
 */
function overlay(t: Test, at?: string): string | null {
  const base = tempDir(t);
  for (const d of ['lower', 'upper', 'work', 'merged']) fs.mkdirSync(path.join(base, d));
  fs.writeFileSync(path.join(base, 'lower', 'data'), Buffer.alloc(1024 * 1024, 3));
  const merged = at ?? path.join(base, 'merged');
  if (at !== undefined) t.teardown(() => void spawnSync('umount', ['-l', at]));
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
      t.equal(s.backing.registered, 0, 'no file passed through');
      // ELOOP is remembered for the overlay's st_dev: later files are not tried again.
      t.equal(s.backing.failed, 1, 'the kernel was asked once');
    } else {
      t.same(warnings, [], 'no warning');
      t.equal(s.requests.READ, 0, 'reads pass through');
      t.equal(s.requests.WRITE, 0, 'writes pass through');
      t.equal(s.backing.live, 0);
    }
  });
}

t.test('an overlayfs submount inside SRC: its files go through the server, the rest still pass through', async (t) => {
  const m = await mountPassthrough(t, { loopback: { passthrough: 'rw' } }, (src) => {
    fs.writeFileSync(path.join(src, 'top'), 'top file');
    fs.mkdirSync(path.join(src, 'sub'));
  });
  if (overlay(t, path.join(m.src, 'sub')) === null) {
    t.comment('overlayfs cannot be mounted here');
    return;
  }
  const before = await m.stats();
  t.equal(fs.readFileSync(path.join(m.mnt, 'sub', 'data')).length, 1024 * 1024, 'a file of the submount');
  const mid = await m.stats();
  t.ok(mid.requests.READ > before.requests.READ, 'read through the server (ELOOP)');
  t.equal(fs.readFileSync(path.join(m.mnt, 'top'), 'utf8'), 'top file', 'a file of SRC itself');
  const after = await m.settled();
  t.equal(after.requests.READ, mid.requests.READ, 'passed through: no READ');
  t.equal(after.backing.registered, 1, 'one backing file registered');
  t.match(m.stderr(), /passthrough off for the files of one filesystem.*ELOOP/);
});
