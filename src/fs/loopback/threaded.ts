// The loopback served on several threads: mount(threadedLoopback(src, options).filesystem, mnt,
// { threads: N }). Each thread runs a Loopback of its own over the same tables in shared memory
// (shared-inodes.ts, shared-files.ts), so any thread answers any request: a FORGET, RELEASE or
// READDIR may reach another thread than the LOOKUP, OPEN or OPENDIR it concerns. What differs
// from the single-threaded loopback, and why:
// - no fd is closed early to stay under the open-file limit (maxInodeFds): the limit, raised
//   here as far as the process may, bounds the inodes the kernel may know at once;
// - POSIX locks are kept by the kernel (posixLocks 'kernel');
// - directory snapshots stay on the thread that opened the directory (shared-dirs.ts).
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as sys from '../../sys/index';
import type { ThreadedFilesystem } from '../api';
import { readEntries } from './dirs';
import { Loopback, type LoopbackOptions } from './loopback';
import { ForwardedDirs } from './shared-dirs';
import { SharedFileTable } from './shared-files';
import { SharedInodeTable } from './shared-inodes';

/** What every thread's create() gets. */
export interface ThreadedLoopbackData {
  source: string;
  options: LoopbackOptions;
  inodes: SharedArrayBuffer;
  files: SharedArrayBuffer;
  /** The BroadcastChannel name of this mount's threads (shared-dirs.ts). */
  channel: string;
}

export interface ThreadedLoopback {
  /** For mount(…, { threads }). */
  filesystem: ThreadedFilesystem;
  /** Inodes the kernel holds references to (root included), over all threads. */
  readonly inodeCount: number;
  /** O_PATH fds held on them. */
  readonly inodeFds: number;
}

/**
 * The inode table's slots: a power of two, at least the open-file limit (each inode holds an fd),
 * and at least 65,536 (3.4 MB), since the limit may be raised after the mount (prlimit).
 */
function capacityFor(limit: number): number {
  let n = 1 << 16;
  while (n < limit) n *= 2;
  return n;
}

/**
 * The highest fd number any process may have, plus one (fs.nr_open; 1 MiB by default): the
 * file table is indexed by fd number, and the open-file limit may be raised after it is made.
 */
function fdNumbers(): number {
  try {
    const n = Number(readFileSync('/proc/sys/fs/nr_open', 'utf8'));
    if (Number.isInteger(n) && n > 0) return n;
  } catch {
    // No /proc: the kernel's default.
  }
  return 1 << 20;
}

/**
 * Opens `source` and makes the shared tables (so a wrong path fails here). Refuses the options
 * a threaded loopback cannot honour, rather than ignoring them.
 */
export function threadedLoopback(source: string, options: LoopbackOptions = {}): ThreadedLoopback {
  if (options.maxInodeFds !== undefined) {
    throw new Error('maxInodeFds needs a loopback served by one thread: on several, every inode the kernel knows keeps its fd');
  }
  if (options.posixLocks === 'server') {
    throw new Error("posixLocks 'server' needs a loopback served by one thread: on several, the kernel keeps POSIX locks");
  }
  const rootFd = sys.openat(sys.AT_FDCWD, source, sys.O_PATH | sys.O_DIRECTORY);
  // Like passthrough_hp: an fd per inode the kernel knows. The process's one limit, for all threads.
  const limit = sys.raiseNofileLimit(1 << 20);
  const inodes = new SharedInodeTable(capacityFor(limit), rootFd);
  const files = new SharedFileTable(fdNumbers(), inodes);
  const data: ThreadedLoopbackData = {
    source, options, inodes: inodes.buffer, files: files.buffer, channel: `tsfuse-loopback-${randomUUID()}`,
  };
  return {
    filesystem: { module: __filename, export: 'create', data },
    get inodeCount() {
      return inodes.size;
    },
    get inodeFds() {
      return inodes.fds;
    },
  };
}

/** One thread's Loopback (the FilesystemFactory of threadedLoopback's filesystem). */
export function create(data: ThreadedLoopbackData, thread: number): Loopback {
  const inodes = new SharedInodeTable(data.inodes);
  const files = new SharedFileTable(data.files, inodes);
  const dirs = new ForwardedDirs(data.channel, thread, inodes, (inode) => readEntries(inodes.fd(inode)));
  return new Loopback(data.source, data.options, { inodes, files, dirs });
}
