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

/** What the loopback asks of its open files: HandleTable, or SharedFileTable (shared-files.ts) on several threads. */
export type FileHandles = Pick<HandleTable<FileHandle>, 'add' | 'get' | 'take' | 'values' | 'clear'>;

/** Listing names from READDIR offset `base` on: entries[0] is the name at offset `base`. */
export interface Listing {
  inode: Inode;
  entries: DirEntry[];
  base: number;
}

/**
 * Open directories and their snapshots (dirs.ts): DirTable on one thread, ForwardedDirs
 * (shared-dirs.ts) on several.
 */
export interface DirHandles {
  open(inode: Inode): number;
  /** The snapshot of `fh` from `offset` on, taken anew at offset 0; `nodeid` is the request's. */
  listing(fh: number, nodeid: number, offset: number): Listing | Promise<Listing>;
  /** The open directory's inode (`nodeid`: the request's). */
  inode(fh: number, nodeid: number): Inode;
  release(fh: number): void;
  clear(): void;
}

/** Open directories of a loopback served by one thread: snapshots in a HandleTable. */
export class DirTable implements DirHandles {
  private readonly dirs = new HandleTable<DirHandle>();

  /** `read`: the snapshot of a directory (readEntries on its fd). */
  constructor(private readonly read: (inode: Inode) => DirEntry[]) {}

  open(inode: Inode): number {
    return this.dirs.add({ inode, entries: undefined });
  }

  listing(fh: number, _nodeid: number, offset: number): Listing {
    const dir = this.dirs.get(fh);
    if (offset === 0 || dir.entries === undefined) dir.entries = this.read(dir.inode);
    return { inode: dir.inode, entries: dir.entries, base: 0 };
  }

  inode(fh: number): Inode {
    return this.dirs.get(fh).inode;
  }

  release(fh: number): void {
    this.dirs.take(fh);
  }

  clear(): void {
    this.dirs.clear();
  }
}
