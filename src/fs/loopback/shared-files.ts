// Open files of a loopback served on several threads (threaded.ts). A RELEASE, READ or WRITE may
// reach another thread than the OPEN, and file descriptors are process-wide: so the fh handed to
// the kernel is the open file's fd number itself, and what else a handle carries (nodeid, open
// flags, whether a flock was taken on it) sits in shared arrays indexed by that number.
//
// The single-threaded table hands out a counter instead, so that a handle the kernel named after
// its RELEASE (a kernel bug) finds nothing rather than a file that reused the fd number. Here
// that protection would cost a shared fh → fd map; the kernel sends no request for an fh after
// its RELEASE, and the state below is cleared before the fd is closed (take()), so a number is
// recorded again only once close(2) has freed it for reuse.
import { FuseError } from '../errors';
import type { FileHandle, FileHandles } from './handles';
import type { Inode } from './inodes';
import type { SharedInodeTable } from './shared-inodes';

const FREE = 0;
const OPEN = 1;
const FLOCKED = 2;

/** One open file as a thread sees it: a view of its fd's shared record. */
class SharedFileHandle implements FileHandle {
  constructor(private readonly table: SharedFileTable, readonly fd: number) {}

  get flags(): number {
    return this.table.flagsOf[this.fd];
  }

  /** Resolved only when asked for (READ and WRITE need just the fd). */
  get inode(): Inode {
    return this.table.inodes.resolve(this.table.nodeids[this.fd]);
  }

  get flocked(): boolean {
    return (Atomics.load(this.table.state, this.fd) & FLOCKED) !== 0;
  }

  set flocked(on: boolean) {
    Atomics.store(this.table.state, this.fd, on ? OPEN | FLOCKED : OPEN);
  }
}

export class SharedFileTable implements FileHandles {
  readonly buffer: SharedArrayBuffer;
  /** Per fd number: FREE, or OPEN with FLOCKED. */
  readonly state: Int32Array;
  readonly flagsOf: Int32Array;
  readonly nodeids: Float64Array;

  /** A table for fd numbers below `from` (at least RLIMIT_NOFILE), or a view of another thread's. */
  constructor(from: number | SharedArrayBuffer, readonly inodes: SharedInodeTable) {
    const size = typeof from === 'number' ? from : from.byteLength / 16;
    this.buffer = typeof from === 'number' ? new SharedArrayBuffer(size * 16) : from;
    this.nodeids = new Float64Array(this.buffer, 0, size);
    this.state = new Int32Array(this.buffer, size * 8, size);
    this.flagsOf = new Int32Array(this.buffer, size * 12, size);
  }

  add(handle: FileHandle): number {
    const fd = handle.fd;
    if (fd >= this.state.length) throw new FuseError('EMFILE', `fd ${fd} is past the file table (${this.state.length})`);
    this.nodeids[fd] = handle.inode.nodeid;
    this.flagsOf[fd] = handle.flags;
    // Last, and atomic: a thread that sees OPEN sees the fields above.
    Atomics.store(this.state, fd, OPEN);
    return fd;
  }

  get(fh: number): FileHandle {
    if (!(fh >= 0 && fh < this.state.length && Atomics.load(this.state, fh) !== FREE)) throw new FuseError('EBADF', `unknown fh ${fh}`);
    return new SharedFileHandle(this, fh);
  }

  /** Removes the handle; the caller closes its fd after this, never before. */
  take(fh: number): FileHandle {
    const handle = this.get(fh);
    // Read now: once FREE, the number is another open's as soon as the caller closes it.
    const taken = { fd: fh, flags: handle.flags, inode: handle.inode, flocked: handle.flocked };
    Atomics.store(this.state, fh, FREE);
    return taken;
  }

  /**
   * Every open file, of every thread, each taken off the table as it is yielded (destroy()):
   * every thread's destroy() runs it, and each fd must be closed by one of them only.
   */
  *values(): IterableIterator<FileHandle> {
    for (let fd = 0; fd < this.state.length; fd++) {
      const was = Atomics.exchange(this.state, fd, FREE);
      if (was !== FREE) yield { fd, flags: this.flagsOf[fd], inode: this.inodes.resolve(this.nodeids[fd]), flocked: (was & FLOCKED) !== 0 };
    }
  }

  clear(): void {
    for (let fd = 0; fd < this.state.length; fd++) Atomics.store(this.state, fd, FREE);
  }
}
