// Who keeps POSIX (fcntl) locks on a passthrough mount. By default the kernel does (the opens are
// FOPEN_NOFLUSH, so no close(2) waits for a FLUSH); with posixLocks 'server' the loopback keeps
// them as OFD locks on the source files. Either way two processes using the mount see each other's
// locks, and a process's locks go at its first close(2) of the file, as POSIX says.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { mountPassthrough, run } from './fixtures/passthrough/harness';
import { lineReader } from './helpers/child';

// A holder takes [0, 10) and reports; on "close-dup" it closes a second fd of the same file (POSIX
// drops the process's locks then) and reports again; it exits when its stdin ends.
const HOLDER = [
  'import fcntl, os, sys',
  'f = open(sys.argv[1], "r+")',
  'fcntl.lockf(f, fcntl.LOCK_EX, 10, 0)',
  'print("locked", flush=True)',
  'for line in sys.stdin:',
  '    if line.strip() == "close-dup":',
  '        os.close(os.open(sys.argv[1], os.O_RDONLY))',
  '        print("closed", flush=True)',
].join('\n');

// Tries to lock byte 5 without waiting: prints "conflict" or "free".
const TRY = [
  'import fcntl, sys',
  'f = open(sys.argv[1], "r+")',
  'try:',
  '    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 5); print("free")',
  'except OSError:',
  '    print("conflict")',
].join('\n');

async function tryLock(file: string): Promise<string> {
  const r = await run('python3', ['-c', TRY, file]);
  if (r.code !== 0) throw new Error(`python3 failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** Starts the holder on `file`; resolves once it holds the lock. */
async function holdLock(t: Test, file: string): Promise<{ send(line: string): Promise<string>; end(): void }> {
  const child = spawn('python3', ['-c', HOLDER, file], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => {
    child.stdin.end();
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const next = lineReader(child, 'lock holder');
  const first = await next();
  if (first !== 'locked') throw new Error(`lock holder said ${first}`);
  return {
    send: (line) => {
      child.stdin.write(line + '\n');
      return next();
    },
    end: () => child.stdin.end(),
  };
}

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root (mounts FUSE; passthrough needs CAP_SYS_ADMIN)');
} else {
  t.setTimeout(300_000);

  t.test('default with passthrough: the kernel keeps POSIX locks, no FLUSH is sent', async (t) => {
    const m = await mountPassthrough(t, { loopback: { passthrough: 'rw' } }, (src) => {
      fs.writeFileSync(path.join(src, 'locked'), 'x'.repeat(100));
    });
    const file = path.join(m.mnt, 'locked');
    const holder = await holdLock(t, file);
    t.equal(await tryLock(file), 'conflict', 'another process through the mount sees the lock');
    t.equal(await holder.send('close-dup'), 'closed', 'the holder opened and closed a second fd');
    t.equal(await tryLock(file), 'free', 'the holder\'s close of another fd of the file dropped its lock');
    holder.end();
    const stats = await m.settled();
    t.equal(stats.requests.FLUSH ?? 0, 0, 'no close(2) waited for a FLUSH');
    t.equal((stats.requests.SETLK ?? 0) + (stats.requests.SETLKW ?? 0) + (stats.requests.GETLK ?? 0), 0,
      'no lock request reached the server');
    t.ok(stats.backing.registered > 0, 'the opens passed through');
  });

  t.test('posixLocks server: the locks are on the source files, dropped at FLUSH', async (t) => {
    const m = await mountPassthrough(t, { loopback: { passthrough: 'rw', posixLocks: 'server' } }, (src) => {
      fs.writeFileSync(path.join(src, 'locked'), 'x'.repeat(100));
    });
    const file = path.join(m.mnt, 'locked');
    const holder = await holdLock(t, file);
    t.equal(await tryLock(file), 'conflict', 'another process through the mount sees the lock');
    t.equal(await tryLock(path.join(m.src, 'locked')), 'conflict', 'so does a process using the source file');
    t.equal(await holder.send('close-dup'), 'closed', 'the holder opened and closed a second fd');
    t.equal(await tryLock(file), 'free', 'the holder\'s close of another fd of the file dropped its lock');
    holder.end();
    const stats = await m.settled();
    t.ok((stats.requests.FLUSH ?? 0) > 0, 'closes sent FLUSH');
    t.ok((stats.requests.SETLK ?? 0) + (stats.requests.SETLKW ?? 0) > 0, 'the locks were taken by the server');
  });
}
