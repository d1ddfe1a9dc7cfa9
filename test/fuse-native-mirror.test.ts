// A mirror written in fuse-native's style, run through tsfuse/fuse-native, against the
// loopback behaviour suite (fixtures/loopback/scenarios.ts): every scenario that a fuse-native
// filesystem can pass must give the same observations through the mount as in its source.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runScenarios, tempDir } from './fixtures/loopback/harness';
import { startMirror } from './fixtures/fuse-native/start';

/**
 * The scenarios that need what fuse-native cannot give a filesystem are left out:
 * - sparse files: fuse-native has no fallocate, lseek or copy_file_range operation;
 * - attributes: no O_TMPFILE, and utimens gets milliseconds, not the nanoseconds set;
 * - rename: libfuse 2 has no RENAME_NOREPLACE / RENAME_EXCHANGE (EINVAL);
 * - permissions: handlers get no caller credentials, so what a user creates belongs to the server;
 * - locks: fuse-native has no lock operations, so the kernel keeps them and the mirror is not
 *   involved (the scenario passes, in 7 s this file can spare).
 */
const APPLY = [
  'create, read, write, append, truncate',
  'hard links',
  'symlinks',
  'extended attributes',
  'fifos and sockets',
  'mmap read and write',
  'git init, add, commit',
  'tar round trip',
];

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root (mounts FUSE)');
} else {
  t.test('behaviour suite through a fuse-native mirror', async (t) => {
    const base = tempDir(t, 'tsfuse-fuse-native-');
    const src = path.join(base, 'src');
    const mnt = path.join(base, 'mnt');
    fs.mkdirSync(src, { mode: 0o755 });
    fs.mkdirSync(mnt, { mode: 0o755 });
    // dev: the device nodes of 'fifos and sockets' open through the mount as in the source.
    await startMirror(t, src, mnt, { allowOther: true, defaultPermissions: true, dev: true });
    await runScenarios(t, src, mnt, APPLY);
  });
}
