/**
 * POSIX record locks (fcntl F_SETLK…) and flock, held on the backing file so
 * that they also conflict with locks taken on the source directory directly.
 *
 * POSIX locks belong to a lock owner (the kernel's files_struct, i.e. a
 * process), not to an open file: two opens by one process share their locks,
 * and a close of any of them drops them all. The kernel passes the owner with
 * every request. Each (inode, owner) therefore gets one open file description
 * of its own, and its locks are placed as OFD locks (F_OFD_SETLK) on it: OFD
 * locks of different descriptions conflict like the locks of different
 * processes, and closing that fd drops exactly that owner's locks — done at
 * FLUSH, which the kernel sends on every close(2) with the closing owner.
 *
 * flock locks belong to an open file description, which is what a FUSE file
 * handle is: they are placed on the handle's own fd.
 */
import { closeSync, constants } from 'node:fs';
import * as sys from '../../sys/index';
import { OFFSET_MAX } from '../../protocol/constants';
import type { FileLock } from '../api';
import type { FileHandle } from './handles';
import type { Inode } from './inodes';
import { O_ACCMODE } from './attr';
import { procPath } from './names';

/** FileLock (inclusive end, OFFSET_MAX = to end of file) → struct flock. */
function toFlock(lock: FileLock): sys.LockRequest {
  const len = lock.end >= OFFSET_MAX ? 0 : lock.end - lock.start + 1;
  return { type: lock.type, whence: sys.SEEK_SET, start: lock.start, len, pid: 0 };
}

function fromFlock(fl: sys.Flock, pid: number): FileLock {
  const end = fl.len === 0 ? OFFSET_MAX : fl.start + fl.len - 1;
  return { type: fl.type, start: fl.start, end, pid };
}

/** An owner's open file description on one inode, and the pid it last locked for. */
export interface LockOwner {
  readonly fd: number;
  pid: number;
}

/** The description that carries `owner`'s locks on `inode`, opened on first use. */
function ownerOf(inode: Inode, owner: bigint, handle: FileHandle): LockOwner {
  inode.lockOwners ??= new Map();
  let entry = inode.lockOwners.get(owner);
  if (entry === undefined) {
    let fd: number;
    // Reopening the handle's file through /proc gives a description of its
    // own. Read and write, so that one fd can hold read and write locks; where
    // the file cannot be opened so (read-only filesystem, running executable),
    // the access mode of the open that asked is what that lock needs.
    try {
      fd = sys.openat(sys.AT_FDCWD, procPath(handle.fd), constants.O_RDWR);
    } catch {
      fd = sys.openat(sys.AT_FDCWD, procPath(handle.fd), handle.flags & O_ACCMODE);
    }
    entry = { fd, pid: 0 };
    inode.lockOwners.set(owner, entry);
  }
  return entry;
}

export function getlk(inode: Inode, handle: FileHandle, owner: bigint, lock: FileLock): FileLock {
  // An owner without a description holds no locks, so any other description sees the same conflicts.
  const fd = inode.lockOwners?.get(owner)?.fd ?? handle.fd;
  const found = sys.getlk(fd, sys.F_OFD_GETLK, toFlock(lock));
  if (found.type === sys.F_UNLCK) return { ...lock, type: sys.F_UNLCK };
  // OFD locks report pid -1. When the holder is another owner on this mount,
  // the process the kernel named for it is the better answer.
  const pid = found.pid === -1 ? holderPid(inode, owner, found) : found.pid;
  return fromFlock(found, pid);
}

function holderPid(inode: Inode, asking: bigint, found: sys.Flock): number {
  for (const [owner, { fd, pid }] of inode.lockOwners ?? []) {
    if (owner === asking) continue;
    // An owner's own locks never conflict with it: if nothing blocks a write
    // lock over the range from its description, the lock found is its own.
    const seen = sys.getlk(fd, sys.F_OFD_GETLK, { type: sys.F_WRLCK, start: found.start, len: found.len });
    if (seen.type === sys.F_UNLCK) return pid;
  }
  return 0;
}

export async function setlk(inode: Inode, handle: FileHandle, owner: bigint, lock: FileLock,
  sleep: boolean, signal: AbortSignal): Promise<void> {
  if (lock.type === sys.F_UNLCK) {
    const entry = inode.lockOwners?.get(owner);
    if (entry !== undefined) sys.setlk(entry.fd, sys.F_OFD_SETLK, toFlock(lock));
    return;
  }
  const entry = ownerOf(inode, owner, handle);
  entry.pid = lock.pid;
  if (sleep) await sys.setlkw(entry.fd, sys.F_OFD_SETLKW, toFlock(lock), signal);
  else sys.setlk(entry.fd, sys.F_OFD_SETLK, toFlock(lock));
}

/** Drops every POSIX lock `owner` holds on `inode` (it closed a file: FLUSH). */
export function releaseOwner(inode: Inode, owner: bigint): void {
  const entry = inode.lockOwners?.get(owner);
  if (entry === undefined) return;
  inode.lockOwners!.delete(owner);
  closeSync(entry.fd);
}

/** The last open of `inode` was released: no owner can hold a lock on it any more. */
export function releaseAll(inode: Inode): void {
  for (const { fd } of inode.lockOwners?.values() ?? []) closeSync(fd);
  inode.lockOwners = undefined;
}

/** flock(2) on an open file; waits unless op has LOCK_NB. */
export async function flock(handle: FileHandle, op: number, signal: AbortSignal): Promise<void> {
  if (!(op & sys.LOCK_UN)) handle.flocked = true;
  if (op & (sys.LOCK_NB | sys.LOCK_UN)) sys.flock(handle.fd, op);
  else await sys.flockWait(handle.fd, op, signal);
}
