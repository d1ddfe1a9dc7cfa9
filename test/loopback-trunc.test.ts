// open(O_TRUNC) through the loopback: with FUSE_ATOMIC_O_TRUNC the truncation comes with the OPEN
// (no SETATTR after it), and a caller without CAP_FSETID still loses setuid/setgid as on a local
// filesystem (the kernel says so with FUSE_OPEN_KILL_SUIDGID, which the loopback must honour).
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { mountLoopback, tempDir } from './fixtures/loopback/harness';
import { asUser, TEST_GID, TEST_UID } from './fixtures/loopback/scenarios';

/** Makes `name` in `dir` as the test user with mode 6775, truncates it with `: >`, and says what is left. */
function truncateAsUser(dir: string, name: string): string {
  const r = asUser(`printf 0123456789 > ${name} && chmod 6775 ${name} && : > ${name} && stat -c '%a %s' ${name}`, dir);
  if (r.status !== 0) throw new Error(`as uid ${TEST_UID}: ${r.out}`);
  return r.out.trim();
}

/** A directory the test user may create files in. */
function userDir(parent: string): string {
  const dir = path.join(parent, 'user');
  fs.mkdirSync(dir);
  fs.chownSync(dir, TEST_UID, TEST_GID);
  return dir;
}

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root (mounts FUSE, runs commands as another user)');
} else {
  t.setTimeout(300_000);
  const native = truncateAsUser(userDir(tempDir(t)), 'f');

  for (const passthrough of ['off', 'rw'] as const) {
    t.test(`O_TRUNC by an unprivileged owner, passthrough ${passthrough}`, async (t) => {
      t.equal(native, '775 0', 'natively, truncation clears setuid and setgid');
      const m = await mountLoopback(t, { passthrough });
      const dir = userDir(m.mnt);
      const before = (await m.stats()).requests;
      const seen = truncateAsUser(dir, 'f');
      const after = (await m.stats()).requests;
      t.equal(seen, native, 'the mount shows what the source directory showed');
      t.equal(fs.statSync(path.join(m.src, 'user', 'f')).size, 0, 'the source file was truncated');
      t.equal((fs.statSync(path.join(m.src, 'user', 'f')).mode & 0o7777).toString(8), '775', 'and lost setuid/setgid');
      // chmod is the only SETATTR: the truncation came with the OPEN.
      t.equal((after.SETATTR ?? 0) - (before.SETATTR ?? 0), 1, 'one SETATTR (the chmod), none for O_TRUNC');

      // Files big enough that the loopback truncates them on the threadpool.
      const big = Buffer.alloc(3 << 20, 7);
      const file = path.join(m.mnt, 'big');
      fs.writeFileSync(file, big);
      fs.writeFileSync(file, 'new'); // O_TRUNC
      t.equal(fs.readFileSync(path.join(m.src, 'big'), 'utf8'), 'new', 'a big file opened with O_TRUNC holds only the new bytes');
      fs.writeFileSync(file, big);
      fs.truncateSync(file, 1); // SETATTR size
      t.same(fs.readFileSync(file), Buffer.from([7]), 'truncate(2) from 3 MiB to 1 byte');
      const fd = fs.openSync(file, 'r+');
      try {
        fs.writeSync(fd, big, 0, big.length, 0);
        fs.ftruncateSync(fd, 2); // SETATTR size with a file handle
      } finally {
        fs.closeSync(fd);
      }
      t.same(fs.readFileSync(path.join(m.src, 'big')), Buffer.from([7, 7]), 'ftruncate(2) from 3 MiB to 2 bytes');
    });
  }
}
