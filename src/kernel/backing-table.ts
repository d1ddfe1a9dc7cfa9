// The per-inode passthrough state of one connection, in shared memory, for a session served by
// several threads (src/fs/threads.ts). The kernel's rule that all opens of an inode agree (one
// backing id per inode, or plain; src/kernel/backing.ts) holds across its cloned fds, and a
// RELEASE may arrive on another thread than its OPEN: so the inode's mode, backing id and count
// of opens must be one record every thread sees, and deciding it (including the BACKING_OPEN
// ioctl of the inode's first passthrough open) must happen under one lock, or two threads could
// register two ids for one inode and the second open would fail with EIO.
//
// A SharedArrayBuffer holds an open-addressing hash table keyed by nodeid (linear probing,
// backward-shift deletion, so no tombstones pile up), a lock, and the connection-wide flags and
// counters. A Map per thread plus messages to an owner thread would add a cross-thread hop to
// every open; the critical section here is a few loads and at most one ioctl (microseconds).
import { locked } from './atomics-lock';

/** Slots in the table: inodes with open files at the same time, past which opens are served plain. */
export const DEFAULT_BACKING_SLOTS = 1 << 16;

// Int32 header.
const LOCK = 0;
const ACTIVE = 1;
const WARNED = 2;
const COUNT = 3;
const HEADER_INTS = 8;
// Float64 counters, after the Int32 header.
const LIVE = 0;
const REGISTERED = 1;
const CLOSED = 2;
const FAILED = 3;
const COUNTERS = 4;
// Per slot: nodeid (Float64; 0 = empty, the kernel never names nodeid 0) and three Int32s.
const MODE_PLAIN = 1;
const MODE_PASSTHROUGH = 2;

/** One inode's record, as read under the lock. */
export interface SharedInodeBacking {
  mode: 'passthrough' | 'plain';
  backingId: number;
  opens: number;
}

export class SharedBackingTable {
  readonly buffer: SharedArrayBuffer;
  private readonly header: Int32Array;
  private readonly counters: Float64Array;
  private readonly keys: Float64Array;
  /** [mode, backingId, opens] per slot. */
  private readonly values: Int32Array;
  private readonly mask: number;

  /** A new table (`slots`: a power of two), or a view of one another thread created (`buffer`). */
  constructor(from: number | SharedArrayBuffer = DEFAULT_BACKING_SLOTS) {
    const slots = typeof from === 'number' ? from : SharedBackingTable.slotsOf(from);
    if (!(Number.isInteger(slots) && slots >= 16 && (slots & (slots - 1)) === 0)) throw new RangeError(`backing table slots must be a power of two >= 16, not ${slots}`);
    this.buffer = typeof from === 'number' ? new SharedArrayBuffer(SharedBackingTable.bytes(slots)) : from;
    this.header = new Int32Array(this.buffer, 0, HEADER_INTS);
    this.counters = new Float64Array(this.buffer, HEADER_INTS * 4, COUNTERS);
    const keysAt = HEADER_INTS * 4 + COUNTERS * 8;
    this.keys = new Float64Array(this.buffer, keysAt, slots);
    this.values = new Int32Array(this.buffer, keysAt + slots * 8, slots * 3);
    this.mask = slots - 1;
  }

  private static bytes(slots: number): number {
    return HEADER_INTS * 4 + COUNTERS * 8 + slots * 8 + slots * 12;
  }

  private static slotsOf(buffer: SharedArrayBuffer): number {
    return (buffer.byteLength - HEADER_INTS * 4 - COUNTERS * 8) / 20;
  }

  /** Runs `fn` holding the table's lock (a futex-style mutex on the header word). */
  locked<T>(fn: () => T): T {
    return locked(this.header, LOCK, fn);
  }

  /** Passthrough negotiated and not switched off by a session-wide refusal (any thread's). */
  get active(): boolean {
    return Atomics.load(this.header, ACTIVE) === 1;
  }

  set active(on: boolean) {
    Atomics.store(this.header, ACTIVE, on ? 1 : 0);
  }

  /** True for the first caller only: the connection-wide warning is said once, by one thread. */
  firstWarning(): boolean {
    return Atomics.exchange(this.header, WARNED, 1) === 0;
  }

  /** Inodes with opens recorded. */
  get size(): number {
    return Atomics.load(this.header, COUNT);
  }

  /** Totals since the start, like BackingRegistry.stats. Read without the lock: a snapshot. */
  get stats(): { registered: number; closed: number; failed: number; live: number } {
    const c = this.counters;
    return { registered: c[REGISTERED], closed: c[CLOSED], failed: c[FAILED], live: c[LIVE] };
  }

  /** Under the lock: a BACKING_OPEN succeeded (`ok`) or failed. */
  countRegistered(ok: boolean): void {
    if (ok) {
      this.counters[REGISTERED]++;
      this.counters[LIVE]++;
    } else {
      this.counters[FAILED]++;
    }
  }

  /** Under the lock: a BACKING_CLOSE was issued. */
  countClosed(): void {
    this.counters[CLOSED]++;
    this.counters[LIVE]--;
  }

  /** Under the lock: the record of `nodeid`, if it has opens. */
  get(nodeid: number): SharedInodeBacking | undefined {
    const slot = this.find(nodeid);
    if (slot < 0) return undefined;
    const v = this.values;
    return { mode: v[slot * 3] === MODE_PASSTHROUGH ? 'passthrough' : 'plain', backingId: v[slot * 3 + 1], opens: v[slot * 3 + 2] };
  }

  /**
   * Under the lock: records one more open of `nodeid` (a new record in `mode` with `backingId`
   * when it has none). False when the table is full: the caller serves the open plain, untracked.
   */
  addOpen(nodeid: number, mode: 'passthrough' | 'plain', backingId: number): boolean {
    let slot = this.find(nodeid);
    if (slot < 0) {
      if (this.header[COUNT] >= this.mask) return false; // one slot stays empty: probes end
      slot = this.hash(nodeid);
      while (this.keys[slot] !== 0) slot = (slot + 1) & this.mask;
      this.keys[slot] = nodeid;
      this.values[slot * 3] = mode === 'passthrough' ? MODE_PASSTHROUGH : MODE_PLAIN;
      this.values[slot * 3 + 1] = backingId;
      this.values[slot * 3 + 2] = 0;
      this.header[COUNT]++;
    }
    this.values[slot * 3 + 2]++;
    return true;
  }

  /**
   * Under the lock: one open of `nodeid` released. Returns the record as it was, or undefined
   * when there is none; the record is gone when that was its last open (`opens` was 1).
   */
  dropOpen(nodeid: number): SharedInodeBacking | undefined {
    const slot = this.find(nodeid);
    if (slot < 0) return undefined;
    const before = this.get(nodeid)!;
    if (--this.values[slot * 3 + 2] === 0) this.remove(slot);
    return before;
  }

  /** Under the lock: forgets every record (the connection is gone; the kernel dropped the ids). */
  clear(): void {
    this.keys.fill(0);
    this.header[COUNT] = 0;
    this.counters[LIVE] = 0;
    this.active = false;
  }

  private hash(nodeid: number): number {
    const lo = nodeid >>> 0;
    const hi = (nodeid / 0x100000000) >>> 0;
    return Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> 0 & this.mask;
  }

  private find(nodeid: number): number {
    for (let slot = this.hash(nodeid); ; slot = (slot + 1) & this.mask) {
      const k = this.keys[slot];
      if (k === nodeid) return slot;
      if (k === 0) return -1;
    }
  }

  /** Backward-shift deletion: later members of the probe run move up, so lookups still find them. */
  private remove(slot: number): void {
    const keys = this.keys;
    const v = this.values;
    let hole = slot;
    for (let next = (hole + 1) & this.mask; keys[next] !== 0; next = (next + 1) & this.mask) {
      const home = this.hash(keys[next]);
      // Moves into the hole unless its home lies cyclically in (hole, next].
      const stays = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (stays) continue;
      keys[hole] = keys[next];
      v.copyWithin(hole * 3, next * 3, next * 3 + 3);
      hole = next;
    }
    keys[hole] = 0;
    this.header[COUNT]--;
  }
}
