// Temporary directories for tests, and the mounts that end up in them. Every test that makes a
// directory under os.tmpdir() gets it from here, so that one teardown undoes everything, also when
// the test failed halfway: whatever is mounted under it is detached (deepest first), then it is
// removed. Detaching is lazy (MNT_DETACH) because a dead FUSE server would otherwise hang a plain
// umount, and asynchronous because a server running in this very process must stay free to answer
// what umount(8) asks of the mount (it stats the path first).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Test } from 'tap';

export interface MountEntry {
  /** Where it is mounted, with mountinfo's octal escapes (\040 for a space...) undone. */
  mountpoint: string;
  /** The filesystem type: 'fuse.tsfuse', 'tmpfs', 'overlay'... */
  fsType: string;
}

const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** This process's mount table, in the order the mounts were made. */
export function mountTable(): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    // "36 35 98:0 /root /mnt rw,noatime master:1 - ext3 /dev/root rw": the optional fields end at '-'.
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (dash < 0 || f[dash + 1] === undefined) continue;
    out.push({ mountpoint: unescape(f[4]), fsType: f[dash + 1] });
  }
  return out;
}

const isUnder = (mnt: string, dir: string): boolean => mnt === dir || mnt.startsWith(dir + '/');
const depth = (p: string): number => p.split('/').length;

/**
 * Mount points at or under `dir` (a real path: the mount table has no symlinks), deepest first and,
 * on one path, the last mounted first: the order to detach them in. A path appears once per mount
 * stacked on it.
 */
export function mountsUnder(dir: string): string[] {
  return mountTable()
    .filter((m) => isUnder(m.mountpoint, dir))
    .map((m) => m.mountpoint)
    .reverse()
    .sort((a, b) => depth(b) - depth(a)); // stable: equal depths keep last-mounted-first
}

/** FUSE mounts at or under `dir`, in the order of mountsUnder. */
export function fuseMountsUnder(dir: string): string[] {
  const fuse = new Set(mountTable().filter((m) => m.fsType === 'fuse' || m.fsType.startsWith('fuse.')).map((m) => m.mountpoint));
  return mountsUnder(dir).filter((m) => fuse.has(m));
}

/** `umount -l mnt` without blocking this process; resolves once umount(8) has exited, never rejects. */
export function detach(mnt: string): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn('umount', ['-l', mnt], { stdio: 'ignore' });
    child.on('error', () => resolve());
    child.on('close', () => resolve());
  });
}

/** Lazily detaches everything mounted at or under `dir`, deepest first (dead FUSE mounts included). */
export async function detachAll(dir: string): Promise<void> {
  for (const mnt of mountsUnder(dir)) await detach(mnt);
}

/**
 * detachAll for where the event loop no longer runs (a process 'exit' handler). Only for mounts
 * served by other processes: it blocks this one until umount(8) is done.
 */
export function detachAllSync(dir: string): void {
  for (const mnt of mountsUnder(dir)) spawnSync('umount', ['-l', mnt], { stdio: 'ignore' });
}

/**
 * A new directory `os.tmpdir()/<prefix>XXXXXX`, as a real path (so that it compares equal to the
 * mount table's entries), with no cleanup attached: the caller removes it.
 */
export function makeTempDir(prefix: string, { mode }: { mode?: number } = {}): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  if (mode !== undefined) fs.chmodSync(dir, mode);
  return dir;
}

/**
 * A new temporary directory (see makeTempDir) that t.teardown detaches everything mounted under,
 * then removes. `mode` 0o755 for tests that run commands as other users (mkdtemp makes 0700).
 * Registered when the directory is made, so it runs after the teardowns of what the test mounts
 * in it later (tap runs teardowns last-registered first).
 */
export function tempDir(t: Test, prefix = 'tsfuse-test-', options: { mode?: number } = {}): string {
  const dir = makeTempDir(prefix, options);
  t.teardown(async () => {
    await detachAll(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}
