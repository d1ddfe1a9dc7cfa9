import { closeSync } from 'node:fs';
import * as sys from '../../sys/index';
import { FuseError } from '../errors';
import { S_IFDIR, S_IFMT } from './attr';
import { closeFreeing } from './close';
import type { LockOwner } from './locks';

/** The kernel's name for the root directory (FUSE_ROOT_ID). */
export const ROOT_NODEID = 1;

/** How an inode is held: the inode itself, even when it is a symlink. */
export const O_NODE = sys.O_PATH | sys.O_NOFOLLOW;

/**
 * One file of the source tree the kernel knows about. It is held by an
 * O_PATH|O_NOFOLLOW fd: the fd stays on the same inode however the tree is
 * renamed or replaced around it, which is what keeps every later operation
 * (resolved relative to this fd) inside the source directory.
 */
export class Inode {
  /** LOOKUP replies the kernel has not yet FORGOTten. */
  nlookup = 0;
  /** Open file handles; POSIX lock fds (locks.ts) are closed when it drops to 0. */
  nopen = 0;
  /** POSIX lock owner → the open file description its record locks live on (locks.ts). */
  lockOwners: Map<bigint, LockOwner> | undefined;

  constructor(
    readonly nodeid: number,
    /** O_PATH|O_NOFOLLOW fd on the inode; -1 while closed to save fds (InodeTable.fd). */
    public fd: number,
    readonly dev: number,
    /** st_ino: what the mount shows. */
    readonly ino: number,
    /** S_IFMT bits of st_mode: an inode never changes type. */
    readonly type: number,
    /** Key in the table: ino, or its exact decimal digits when it is beyond 2^53. */
    readonly key: number | string,
    /** The directory and name it was last seen under, to reopen it by. */
    public parent: Inode | undefined,
    public name: string | Buffer,
    /**
     * Its fd is never closed early: it has more names than the one recorded
     * (or none), so the recorded one may not lead back to it.
     */
    public pinned: boolean,
  ) {}
}

/** The table key of the inode the latest stat call described. */
function keyOf(stat: sys.Stat): number | string {
  // Inode numbers past 2^53 (overlayfs xino, some NFS) are rounded in a JS
  // number; two files must never share a nodeid because of that.
  return Number.isSafeInteger(stat.ino) ? stat.ino : sys.lastStatDevIno().ino.toString();
}

/**
 * fstat of a freshly opened fd that is ours to close if it cannot even be
 * statted. Closes of fresh fds stay synchronous here: they were just opened
 * by a name or through an open file, so they are not the last reference to
 * the file (unlike release(), which may close one).
 */
function fstatOrClose(fd: number): sys.Stat {
  try {
    return sys.fstat(fd);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * What the loopback asks of its inode table: InodeTable below when one thread serves, and
 * SharedInodeTable (shared-inodes.ts) when several do.
 */
export type InodeStore = Pick<InodeTable, 'root' | 'size' | 'fds' | 'get' | 'fd' | 'remember' | 'find' | 'renamed' | 'pin' | 'ref' | 'forget' | 'clear'>;

/**
 * Inodes by (st_dev, st_ino), so that every name of a hard-linked file maps
 * to one nodeid, and by nodeid. Nodeids come from a counter and are never
 * reused, so the generation number can stay 0.
 *
 * The kernel forgets inodes only under memory pressure, so one fd per inode
 * it knows would end a walk over a large tree in EMFILE (these machines have
 * a hard limit of 20,000). Past `maxFds`, the fds of the least recently used
 * files are closed; such a file is reopened by its recorded name, relative to
 * its directory's fd and without following symlinks, and only if the name
 * still leads to the same (st_dev, st_ino) and type — else ESTALE. So a file
 * renamed or replaced in the source behind the mount's back is ESTALE until
 * the kernel looks its name up again; through the mount, renames are
 * followed. Directories (the anchors of every name), open files and files
 * with more than one name keep their fds.
 */
export class InodeTable {
  readonly root: Inode;
  private readonly byNodeid = new Map<number, Inode>();
  private readonly bySource = new Map<number, Map<number | string, Inode>>();
  private nextNodeid = ROOT_NODEID + 1;
  /** Inodes whose fd may be closed early, least recently used first. */
  private readonly closable = new Set<Inode>();
  private openFds = 0;

  /** Takes ownership of `rootFd`, an O_PATH fd on the source directory. */
  constructor(rootFd: number, private readonly maxFds: number) {
    this.root = this.remember(rootFd, undefined, '', ROOT_NODEID).inode;
  }

  /** Inodes the kernel holds references to (the root included). */
  get size(): number {
    return this.byNodeid.size;
  }

  /** O_PATH fds open on inodes (what maxFds bounds). */
  get fds(): number {
    return this.openFds;
  }

  /** The inode behind a nodeid the kernel sent. */
  get(nodeid: number): Inode {
    const inode = this.byNodeid.get(nodeid);
    // The kernel only sends nodeids it holds a lookup reference to.
    if (inode === undefined) throw new FuseError('ESTALE', `unknown nodeid ${nodeid}`);
    return inode;
  }

  /** The inode's O_PATH fd, reopened if it was closed to save fds. */
  fd(inode: Inode): number {
    if (inode.fd >= 0) {
      if (this.closable.delete(inode)) this.closable.add(inode);
      return inode.fd;
    }
    const stale = (): FuseError => new FuseError('ESTALE', `${inode.name} no longer leads to node ${inode.nodeid}`);
    // Only files lose their fds; the root (no parent) keeps its fd until destroy(), after which
    // nothing can be reopened — never recurse past it.
    if (inode.parent === undefined) throw stale();
    let fd: number;
    try {
      fd = sys.openat(this.fd(inode.parent), inode.name, O_NODE);
    } catch (err) {
      throw (err as NodeJS.ErrnoException).code === 'ENOENT' ? stale() : err;
    }
    const stat = fstatOrClose(fd);
    // Once its fd is closed, a deleted file's inode number may be reused; a
    // new file of another type under the name is caught here, one of the
    // same type is taken for the old one changed in place.
    if (stat.dev !== inode.dev || keyOf(stat) !== inode.key || (stat.mode & S_IFMT) !== inode.type) {
      closeSync(fd);
      throw stale();
    }
    this.adopt(inode, fd);
    return fd;
  }

  /**
   * Takes ownership of `fd`, a freshly opened O_PATH fd on `name` in
   * `parent`, and returns its inode with one more lookup reference, together
   * with its stat. When the inode is already known (another name of it, or
   * the same name looked up again) the known inode is returned.
   */
  remember(fd: number, parent: Inode | undefined, name: string | Buffer, nodeid?: number): { inode: Inode; stat: sys.Stat } {
    const stat = fstatOrClose(fd);
    const key = keyOf(stat);
    let onDev = this.bySource.get(stat.dev);
    if (onDev === undefined) {
      onDev = new Map();
      this.bySource.set(stat.dev, onDev);
    }
    const type = stat.mode & S_IFMT;
    // A directory has one name; anything else may have others, or none (O_TMPFILE).
    const pinned = parent === undefined || (type !== S_IFDIR && stat.nlink !== 1);
    let inode = onDev.get(key);
    if (inode === undefined) {
      inode = new Inode(nodeid ?? this.nextNodeid++, -1, stat.dev, stat.ino, type, key, parent, name, pinned);
      onDev.set(key, inode);
      this.byNodeid.set(inode.nodeid, inode);
      this.adopt(inode, fd);
    } else {
      if (parent !== undefined) this.renamed(inode, parent, name);
      if (pinned) this.pin(inode);
      if (inode.fd < 0) this.adopt(inode, fd);
      // inode.fd holds the same file: a microsecond close, not worth a threadpool trip per lookup.
      else closeSync(fd);
    }
    inode.nlookup++;
    return { inode, stat };
  }

  /** The known inode `stat` describes, if any. */
  find(stat: sys.Stat): Inode | undefined {
    return this.bySource.get(stat.dev)?.get(keyOf(stat));
  }

  /** `inode` is now known as `name` in `parent` (after a rename, or seen under another name). */
  renamed(inode: Inode, parent: Inode, name: string | Buffer): void {
    inode.parent = parent;
    inode.name = name;
  }

  /** `inode` gained a name (LINK): its recorded one may go, so its fd must stay. */
  pin(inode: Inode): void {
    inode.pinned = true;
    this.closable.delete(inode);
  }

  /** One more lookup reference to a known inode (LINK answers with an existing one). */
  ref(inode: Inode): void {
    inode.nlookup++;
  }

  /** FORGET: drops n references; the inode and its fd go when none are left. */
  forget(nodeid: number, n: number): void {
    const inode = this.byNodeid.get(nodeid);
    if (inode === undefined || inode === this.root) return;
    inode.nlookup -= n;
    if (inode.nlookup > 0) return;
    this.byNodeid.delete(nodeid);
    const onDev = this.bySource.get(inode.dev);
    onDev?.delete(inode.key);
    if (onDev?.size === 0) this.bySource.delete(inode.dev);
    // A file unlinked through the mount is forgotten right after: this fd is
    // its last reference, and its close frees its data.
    this.release(inode, true);
  }

  /**
   * Closes every fd (the session has ended). Synchronously: nothing waits on
   * this thread any more, and no fd outlives destroy(). Closes already in
   * flight finish on the threadpool, which keeps the process alive until then.
   */
  clear(): void {
    for (const inode of this.byNodeid.values()) this.release(inode, false);
    this.byNodeid.clear();
    this.bySource.clear();
  }

  private adopt(inode: Inode, fd: number): void {
    inode.fd = fd;
    this.openFds++;
    if (inode.type !== S_IFDIR && !inode.pinned) this.closable.add(inode);
    if (this.openFds > this.maxFds) this.trim(inode);
  }

  /**
   * Takes the fd off `inode`, which from here on reopens by name if it is
   * used again; `background`: a close that may free a deleted file's data
   * runs on the threadpool (closeFreeing).
   */
  private release(inode: Inode, background: boolean): void {
    this.closable.delete(inode);
    const fd = inode.fd;
    if (fd < 0) return;
    inode.fd = -1;
    this.openFds--;
    if (!background) {
      closeSync(fd);
      return;
    }
    closeFreeing(fd);
  }

  /**
   * Closes the fds of the least recently used files down to maxFds, but not
   * that of `wanted` (just opened to be used), nor those of open files: their
   * inode fd serves setattr and xattrs while their name may be gone. Open
   * files and directories can take the count past maxFds.
   */
  private trim(wanted: Inode): void {
    for (const inode of this.closable) {
      if (this.openFds <= this.maxFds) return;
      // Also possibly a last reference: the file may have been unlinked in the source behind the
      // mount's back, or through it while something still holds the kernel's inode.
      if (inode.nopen === 0 && inode !== wanted) this.release(inode, true);
    }
  }
}
