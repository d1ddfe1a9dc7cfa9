import { FuseError } from '../errors';
import type { Inode } from './inodes';
import type { DirEntry } from './dirs';

/** An open file: its own fd, opened with the caller's flags, closed at RELEASE. */
export interface FileHandle {
  readonly fd: number;
  /** The caller's open flags. */
  readonly flags: number;
  readonly inode: Inode;
  /** A flock(2) lock was taken on `fd`: release() drops it before the fd's (background) close. */
  flocked?: boolean;
}

/** An open directory: the listing that READDIR offsets index into (see dirs.ts). */
export interface DirHandle {
  readonly inode: Inode;
  entries: DirEntry[] | undefined;
}

/**
 * The fh numbers handed to the kernel. A counter rather than the fd number,
 * so that a handle the kernel still names after RELEASE (a bug) finds nothing
 * instead of whatever file reused the fd.
 */
export class HandleTable<T> {
  private readonly handles = new Map<number, T>();
  private next = 1;

  add(handle: T): number {
    const fh = this.next++;
    this.handles.set(fh, handle);
    return fh;
  }

  get(fh: number): T {
    const handle = this.handles.get(fh);
    if (handle === undefined) throw new FuseError('EBADF', `unknown fh ${fh}`);
    return handle;
  }

  /** Removes and returns the handle. */
  take(fh: number): T {
    const handle = this.get(fh);
    this.handles.delete(fh);
    return handle;
  }

  values(): IterableIterator<T> {
    return this.handles.values();
  }

  clear(): void {
    this.handles.clear();
  }
}
