import { closeSync } from 'node:fs';
import * as sys from '../../sys/index';
import { FuseError } from '../errors';
import { S_IFMT } from './attr';
import type { LockOwner } from './locks';

/** The kernel's name for the root directory (FUSE_ROOT_ID). */
export const ROOT_NODEID = 1;

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
    /** O_PATH|O_NOFOLLOW fd on the inode. */
    readonly fd: number,
    readonly dev: number,
    /** st_ino: what the mount shows. */
    readonly ino: number,
    /** S_IFMT bits of st_mode: an inode never changes type. */
    readonly type: number,
    /** Key in the table: ino, or its exact decimal digits when it is beyond 2^53. */
    readonly key: number | string,
  ) {}
}

/**
 * Inodes by (st_dev, st_ino), so that every name of a hard-linked file maps
 * to one nodeid, and by nodeid. Nodeids come from a counter and are never
 * reused, so the generation number can stay 0.
 */
export class InodeTable {
  readonly root: Inode;
  private readonly byNodeid = new Map<number, Inode>();
  private readonly bySource = new Map<number, Map<number | string, Inode>>();
  private nextNodeid = ROOT_NODEID + 1;

  /** Takes ownership of `rootFd`, an O_PATH fd on the source directory. */
  constructor(rootFd: number) {
    const { inode } = this.remember(rootFd, ROOT_NODEID);
    this.root = inode;
  }

  get size(): number {
    return this.byNodeid.size;
  }

  /** The inode behind a nodeid the kernel sent. */
  get(nodeid: number): Inode {
    const inode = this.byNodeid.get(nodeid);
    // The kernel only sends nodeids it holds a lookup reference to.
    if (inode === undefined) throw new FuseError('ESTALE', `unknown nodeid ${nodeid}`);
    return inode;
  }

  /**
   * Takes ownership of `fd`, a freshly opened O_PATH fd, and returns its inode
   * with one more lookup reference, together with its stat. When the inode is
   * already known (another name of it, or the same name looked up again) the
   * new fd is closed and the known inode is returned.
   */
  remember(fd: number, nodeid?: number): { inode: Inode; stat: sys.Stat } {
    let stat: sys.Stat;
    try {
      stat = sys.fstat(fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    // Inode numbers past 2^53 (overlayfs xino, some NFS) are rounded in a JS
    // number; two files must never share a nodeid because of that.
    const key = Number.isSafeInteger(stat.ino) ? stat.ino : sys.lastStatDevIno().ino.toString();
    let onDev = this.bySource.get(stat.dev);
    if (onDev === undefined) {
      onDev = new Map();
      this.bySource.set(stat.dev, onDev);
    }
    let inode = onDev.get(key);
    if (inode !== undefined) {
      closeSync(fd);
    } else {
      inode = new Inode(nodeid ?? this.nextNodeid++, fd, stat.dev, stat.ino, stat.mode & S_IFMT, key);
      onDev.set(key, inode);
      this.byNodeid.set(inode.nodeid, inode);
    }
    inode.nlookup++;
    return { inode, stat };
  }

  /** One more lookup reference to a known inode (LINK answers with an existing one). */
  ref(inode: Inode): void {
    inode.nlookup++;
  }

  /** FORGET: drops n references; the fd is closed when none are left. */
  forget(nodeid: number, n: number): void {
    const inode = this.byNodeid.get(nodeid);
    if (inode === undefined || inode === this.root) return;
    inode.nlookup -= n;
    if (inode.nlookup > 0) return;
    this.byNodeid.delete(nodeid);
    const onDev = this.bySource.get(inode.dev);
    onDev?.delete(inode.key);
    if (onDev?.size === 0) this.bySource.delete(inode.dev);
    closeSync(inode.fd);
  }

  /** Closes every fd (the session has ended). */
  clear(): void {
    for (const inode of this.byNodeid.values()) closeSync(inode.fd);
    this.byNodeid.clear();
    this.bySource.clear();
  }
}
