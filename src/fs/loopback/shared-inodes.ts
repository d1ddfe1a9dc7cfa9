// The loopback's inode table in shared memory, for a loopback served on several threads
// (threaded.ts). A nodeid reaches any thread (a FORGET may come on another thread than its
// LOOKUP), and file descriptors are process-wide: so one table in a SharedArrayBuffer, where any
// thread resolves any nodeid with a few loads and no message to another thread.
//
// - nodeid = generation × capacity + slot: a thread finds the slot without a lookup, and a slot
//   used again after a FORGET gets the next generation, so it never yields an old nodeid.
// - (st_dev, st_ino) → slot: an open-addressing hash (linear probing, backward-shift deletion)
//   under one Atomics lock, like the backing table (src/kernel/backing-table.ts). Only table
//   updates run under the lock; the syscalls (openat, fstat, close) run outside it.
// - No fd is closed early: the single-threaded table reopens least recently used files by
//   their recorded name, which would mean shared names, and a rename on one thread racing a
//   reopen on another. Here every inode the kernel knows holds its O_PATH fd, so the open-file
//   limit (RLIMIT_NOFILE, raised as far as the process may; threaded.ts) bounds the inodes the
//   kernel may know at once: past it, LOOKUP fails with EMFILE.
import { closeSync } from 'node:fs';
import { locked } from '../../kernel/atomics-lock';
import * as sys from '../../sys/index';
import { FuseError } from '../errors';
import { S_IFMT } from './attr';
import { closeFreeing } from './close';
import { Inode, ROOT_NODEID, type InodeStore } from './inodes';

// Int32 header.
const LOCK = 0;
const COUNT = 1;
/** Slots below this have been used at least once; the rest never have. */
const NEXT = 2;
const FREE_TOP = 3;
const CLEARED = 4;
const HEADER_INTS = 8;

/** Slot 0 is never used (nodeid 0 means "no entry" to the kernel); slot 1 is the root. */
const FIRST_SLOT = 2;

export class SharedInodeTable implements InodeStore {
  readonly buffer: SharedArrayBuffer;
  readonly root: Inode;
  private readonly capacity: number;
  private readonly header: Int32Array;
  private readonly gen: Int32Array;
  /** The O_PATH fd; -1 while the slot is free. */
  private readonly fdOf: Int32Array;
  private readonly types: Int32Array;
  /** st_ino as two 32-bit halves: exact past 2^53 too. */
  private readonly inoLo: Uint32Array;
  private readonly inoHi: Uint32Array;
  private readonly devs: Float64Array;
  private readonly nlookups: Float64Array;
  /** (dev, ino) hash → slot + 1 (0: empty); twice the slots, so probe runs stay short. */
  private readonly index: Int32Array;
  private readonly free: Int32Array;
  /** This thread's Inode objects, by slot; valid while the slot's generation is theirs. */
  private readonly views: Array<Inode | undefined> = [];

  /**
   * A new table for `from` slots (a power of two) holding `rootFd` as the root, or a view of
   * one another thread created (`from`: its buffer).
   */
  constructor(from: number | SharedArrayBuffer, rootFd = -1) {
    const capacity = typeof from === 'number' ? from : SharedInodeTable.capacityOf(from);
    if (!(Number.isInteger(capacity) && capacity >= 16 && (capacity & (capacity - 1)) === 0)) {
      throw new RangeError(`inode table capacity must be a power of two >= 16, not ${capacity}`);
    }
    this.capacity = capacity;
    this.buffer = typeof from === 'number' ? new SharedArrayBuffer(SharedInodeTable.bytes(capacity)) : from;
    let at = 0;
    const ints = (n: number): Int32Array => {
      const a = new Int32Array(this.buffer, at, n);
      at += n * 4;
      return a;
    };
    this.header = ints(HEADER_INTS);
    this.gen = ints(capacity);
    this.fdOf = ints(capacity);
    this.types = ints(capacity);
    this.inoLo = new Uint32Array(this.buffer, at, capacity);
    at += capacity * 4;
    this.inoHi = new Uint32Array(this.buffer, at, capacity);
    at += capacity * 4;
    this.index = ints(capacity * 2);
    this.free = ints(capacity);
    this.devs = new Float64Array(this.buffer, at, capacity);
    at += capacity * 8;
    this.nlookups = new Float64Array(this.buffer, at, capacity);
    if (typeof from === 'number') {
      this.fdOf.fill(-1);
      this.header[NEXT] = FIRST_SLOT;
      const stat = sys.fstat(rootFd);
      this.fill(ROOT_NODEID, rootFd, stat, ...inoHalves(stat));
      this.nlookups[ROOT_NODEID] = 1;
      this.header[COUNT] = 1;
    }
    this.root = this.view(ROOT_NODEID);
  }

  private static bytes(capacity: number): number {
    return HEADER_INTS * 4 + capacity * (4 * 5 + 4 * 2 + 4 + 8 * 2);
  }

  private static capacityOf(buffer: SharedArrayBuffer): number {
    return (buffer.byteLength - HEADER_INTS * 4) / (4 * 5 + 4 * 2 + 4 + 8 * 2);
  }

  get size(): number {
    return Atomics.load(this.header, COUNT);
  }

  /** Every known inode holds its fd. */
  get fds(): number {
    return this.size;
  }

  get(nodeid: number): Inode {
    const slot = nodeid % this.capacity;
    const view = this.views[slot];
    // The kernel names only nodeids it holds a lookup reference to: a cached view of this very
    // nodeid is current. A generation check still catches a peer that names a forgotten one.
    if (view !== undefined && view.nodeid === nodeid && Atomics.load(this.gen, slot) === (nodeid - slot) / this.capacity) return view;
    const inode = this.locked(() => (this.live(nodeid) ? this.view(slot) : undefined));
    if (inode === undefined) throw new FuseError('ESTALE', `unknown nodeid ${nodeid}`);
    return inode;
  }

  /**
   * The inode of a RELEASE: it may have been forgotten by another thread already (the kernel
   * may send the FORGET before the RELEASE reaches the thread serving it). Then an Inode without
   * an fd, whose release must close the file's fd as possibly the last reference.
   */
  resolve(nodeid: number): Inode {
    try {
      return this.get(nodeid);
    } catch {
      return new Inode(nodeid, -1, 0, 0, 0, 0, undefined, '', true);
    }
  }

  fd(inode: Inode): number {
    if (inode.fd < 0) throw new FuseError('ESTALE', `node ${inode.nodeid} was forgotten`);
    return inode.fd;
  }

  remember(fd: number, _parent: Inode | undefined, _name: string | Buffer): { inode: Inode; stat: sys.Stat } {
    let stat: sys.Stat;
    try {
      stat = sys.fstat(fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    const [lo, hi] = inoHalves(stat);
    let adopted = false;
    const inode = this.locked(() => {
      let s = this.find_(stat.dev, lo, hi);
      if (s < 0) {
        s = this.allocate();
        if (s < 0) return undefined;
        this.fill(s, fd, stat, lo, hi);
        this.insert(s);
        this.header[COUNT]++;
        adopted = true;
      }
      this.nlookups[s]++;
      return this.view(s);
    });
    // The known inode's fd holds the same file: this one goes.
    if (!adopted) closeSync(fd);
    if (inode === undefined) throw new FuseError('EMFILE', `the inode table is full (${this.capacity} inodes)`);
    return { inode, stat };
  }

  find(stat: sys.Stat): Inode | undefined {
    const [lo, hi] = inoHalves(stat);
    return this.locked(() => {
      const slot = this.find_(stat.dev, lo, hi);
      return slot < 0 ? undefined : this.view(slot);
    });
  }

  /** Names are not recorded: no fd is ever reopened by name here. */
  renamed(): void {}

  pin(): void {}

  ref(inode: Inode): void {
    this.locked(() => {
      if (this.live(inode.nodeid)) this.nlookups[inode.nodeid % this.capacity]++;
    });
  }

  forget(nodeid: number, n: number): void {
    if (nodeid === ROOT_NODEID) return;
    const slot = nodeid % this.capacity;
    const fd = this.locked(() => {
      if (!this.live(nodeid)) return -1;
      if ((this.nlookups[slot] -= n) > 0) return -1;
      return this.release(slot);
    });
    // A file unlinked through the mount is forgotten right after: this fd is its last reference.
    if (fd >= 0) closeFreeing(fd);
  }

  /** Closes every fd, once for all threads (the session has ended). */
  clear(): void {
    const fds = this.locked(() => {
      if (this.header[CLEARED] === 1) return [];
      this.header[CLEARED] = 1;
      const all: number[] = [];
      for (let slot = ROOT_NODEID; slot < this.header[NEXT]; slot++) {
        const fd = this.fdOf[slot];
        if (fd < 0) continue;
        all.push(fd);
        this.fdOf[slot] = -1;
        this.gen[slot]++;
      }
      this.index.fill(0);
      this.header[COUNT] = 0;
      return all;
    });
    for (const fd of fds) closeSync(fd);
  }

  private locked<T>(fn: () => T): T {
    return locked(this.header, LOCK, fn);
  }

  /** Under the lock: `nodeid` names a slot in use, in its current generation. */
  private live(nodeid: number): boolean {
    const slot = nodeid % this.capacity;
    return this.fdOf[slot] >= 0 && this.gen[slot] === (nodeid - slot) / this.capacity;
  }

  private nodeidOf(slot: number): number {
    return this.gen[slot] * this.capacity + slot;
  }

  /**
   * This thread's Inode for a slot in use (its fields never change while the slot is in use).
   * Its nopen and lockOwners are this thread's alone and unused: no fd is trimmed here, and the
   * kernel keeps POSIX locks (threaded.ts).
   */
  private view(slot: number): Inode {
    const nodeid = this.nodeidOf(slot);
    const cached = this.views[slot];
    if (cached !== undefined && cached.nodeid === nodeid) return cached;
    const ino = this.inoHi[slot] * 0x100000000 + this.inoLo[slot];
    const inode = new Inode(nodeid, this.fdOf[slot], this.devs[slot], ino, this.types[slot], ino, undefined, '', true);
    this.views[slot] = inode;
    return inode;
  }

  private fill(slot: number, fd: number, stat: sys.Stat, lo: number, hi: number): void {
    this.fdOf[slot] = fd;
    this.types[slot] = stat.mode & S_IFMT;
    this.devs[slot] = stat.dev;
    this.inoLo[slot] = lo;
    this.inoHi[slot] = hi;
    this.nlookups[slot] = 0;
  }

  /** Under the lock: a free slot, or -1 when all are in use. */
  private allocate(): number {
    const h = this.header;
    if (h[FREE_TOP] > 0) return this.free[--h[FREE_TOP]];
    if (h[NEXT] < this.capacity) return h[NEXT]++;
    return -1;
  }

  /** Under the lock: frees `slot` for its next generation; returns its fd, now the caller's. */
  private release(slot: number): number {
    this.remove(slot);
    const fd = this.fdOf[slot];
    this.fdOf[slot] = -1;
    this.gen[slot]++;
    this.free[this.header[FREE_TOP]++] = slot;
    this.header[COUNT]--;
    return fd;
  }

  private home(dev: number, lo: number, hi: number): number {
    const h = Math.imul(lo ^ Math.imul(hi, 0x85ebca6b) ^ Math.imul(dev >>> 0, 0xc2b2ae35), 0x9e3779b1) >>> 0;
    return h & (this.index.length - 1);
  }

  private find_(dev: number, lo: number, hi: number): number {
    const index = this.index;
    const mask = index.length - 1;
    for (let i = this.home(dev, lo, hi); ; i = (i + 1) & mask) {
      const s = index[i] - 1;
      if (s < 0) return -1;
      if (this.inoLo[s] === lo && this.inoHi[s] === hi && this.devs[s] === dev) return s;
    }
  }

  private insert(slot: number): void {
    const index = this.index;
    const mask = index.length - 1;
    let i = this.home(this.devs[slot], this.inoLo[slot], this.inoHi[slot]);
    while (index[i] !== 0) i = (i + 1) & mask;
    index[i] = slot + 1;
  }

  /** Backward-shift deletion: later members of the probe run move up, so lookups still find them. */
  private remove(slot: number): void {
    const index = this.index;
    const mask = index.length - 1;
    let hole = this.home(this.devs[slot], this.inoLo[slot], this.inoHi[slot]);
    while (index[hole] !== slot + 1) hole = (hole + 1) & mask;
    for (let next = (hole + 1) & mask; index[next] !== 0; next = (next + 1) & mask) {
      const s = index[next] - 1;
      const home = this.home(this.devs[s], this.inoLo[s], this.inoHi[s]);
      // Moves into the hole unless its home lies cyclically in (hole, next].
      const stays = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (stays) continue;
      index[hole] = index[next];
      hole = next;
    }
    index[hole] = 0;
  }
}

/** st_ino as [low, high] 32-bit halves, exact also past 2^53 (overlayfs xino, some NFS). */
function inoHalves(stat: sys.Stat): [number, number] {
  if (Number.isSafeInteger(stat.ino)) return [stat.ino >>> 0, Math.floor(stat.ino / 0x100000000) >>> 0];
  const ino = sys.lastStatDevIno().ino;
  return [Number(ino & 0xffffffffn), Number(ino >> 32n)];
}
