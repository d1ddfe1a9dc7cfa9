// allowIdmap (FUSE_ALLOW_IDMAP): an idmapped bind mount of a tsfuse mount works, and without
// the option the kernel refuses to make one. Real mounts: the loopback, and an idmapped mount
// of it made with open_tree/mount_setattr/move_mount (test/fixtures/idmap/idmapped-mount.py).
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Loopback } from '../src/fs/loopback';
import { MountError } from '../src/kernel/errors';
import { mount } from '../src';
// run() is async: the mount is served by this process's event loop, which a synchronous child would block.
import { mountHere, run, tempMountpoint } from './helpers/mounted';
import { detach, tempDir } from './helpers/tmp';

const root = process.getuid?.() === 0;
const skip = (!root || !fs.existsSync('/dev/fuse')) && 'needs root and /dev/fuse';
const HELPER = path.join(__dirname, 'fixtures', 'idmap', 'idmapped-mount.py');
const OUTER = 1000; // uid/gid that 0 becomes in the idmapped mount

/** SRC (root-owned, 0755, one root-owned file) mirrored by the loopback with `options`. */
async function loopbackMount(t: Test, options: Parameters<typeof mount>[2]) {
  const src = tempDir(t, 'tsfuse-idmap-src-', { mode: 0o755 });
  fs.writeFileSync(path.join(src, 'old'), 'x');
  const handle = await mountHere(t, new Loopback(src), options);
  return { src, handle };
}

/** An idmapped mount of `source` on a new directory; its teardown detaches it first. */
async function idmapped(t: Test, source: string): Promise<{ target: string; result: string }> {
  const target = path.join(tempDir(t, 'tsfuse-idmap-mnt-', { mode: 0o755 }), 'mnt');
  fs.mkdirSync(target);
  const r = await run('python3', [HELPER, source, target, String(OUTER)]);
  const result = `${r.stdout}${r.stderr}`.trim();
  if (result === 'ok') t.teardown(() => detach(target));
  return { target, result };
}

t.test('with allowIdmap: an idmapped mount shows and creates files through the mapping', { skip }, async (t) => {
  // allow_other: the mapped user is not the mount's owner, who alone may use it otherwise.
  const { src, handle } = await loopbackMount(t, { allowIdmap: true, defaultPermissions: true, allowOther: true });
  t.ok(handle.negotiated?.flags.includes('FUSE_ALLOW_IDMAP'), 'INIT granted FUSE_ALLOW_IDMAP');
  const { target, result } = await idmapped(t, handle.mountpoint);
  t.equal(result, 'ok', 'the idmapped mount was made');
  if (result !== 'ok') return;
  t.equal((await fs.promises.stat(path.join(target, 'old'))).uid, OUTER, `a root-owned file shows as ${OUTER} there`);
  // As the mapped user: the (root-owned, 0755) directory is theirs through the mapping.
  const r = await run('setpriv', [`--reuid=${OUTER}`, `--regid=${OUTER}`, '--clear-groups', 'touch', path.join(target, 'made')]);
  t.equal(r.code, 0, `uid ${OUTER} created a file through the idmapped mount: ${r.stderr}`);
  const st = fs.statSync(path.join(src, 'made')); // SRC itself: not served by this process
  t.same([st.uid, st.gid], [0, 0], 'owned by 0:0 in SRC, the mapped ids');
  t.equal((await fs.promises.stat(path.join(target, 'made'))).uid, OUTER, `and by ${OUTER} through the idmapped mount`);
});

t.test('without allowIdmap the kernel refuses the idmapped mount', { skip }, async (t) => {
  const { handle } = await loopbackMount(t, { defaultPermissions: true });
  t.notOk(handle.negotiated?.flags.includes('FUSE_ALLOW_IDMAP'), 'not asked for');
  t.equal((await idmapped(t, handle.mountpoint)).result, 'mount_setattr: EINVAL');
});

t.test('allowIdmap without defaultPermissions is refused before anything is mounted', async (t) => {
  const { mnt } = tempMountpoint(t);
  await t.rejects(mount(new Loopback(tempDir(t, 'tsfuse-idmap-src-')), mnt, { allowIdmap: true }), MountError);
  t.same(fs.readdirSync(mnt), [], 'nothing mounted');
});
