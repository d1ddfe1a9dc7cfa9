// Loading the library's session and mount() loads no native addon: the addons (ioctl-napi and
// src/sys) are loaded at their first use (src/kernel/sys-lazy.ts, src/kernel/device.ts).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..');

/** The .node files in require.cache after requiring `modules` (built JS under dist/) in a fresh node. */
function addonsLoadedBy(modules: string[]): string[] {
  const script = `${modules.map((m) => `require(${JSON.stringify(path.join(root, 'dist', m))});`).join('')}
    process.stdout.write(JSON.stringify(Object.keys(require.cache).filter((k) => k.endsWith('.node'))));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`node exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as string[];
}

t.test('requiring the session and mount() loads no addon', async (t) => {
  t.same(addonsLoadedBy(['src/kernel/session.js', 'src/fs/mount.js', 'src/protocol/index.js']), []);
});

t.test('the addon loads when a syscall of it is needed (the check above can see one)', async (t) => {
  t.ok(addonsLoadedBy(['src/sys/index.js']).some((f) => f.endsWith('tsfuse_sys.node')));
});
