// What a path filesystem answers getattr with, turned into the kernel's struct fuse_attr.
// Accepted: an fs.Stats or fs.BigIntStats as it comes from fs.stat(), or a partial object with
// defaults for what it leaves out — so that `{ type: 'file', size: 11 }` is a whole answer.
import type { Attr } from '../../protocol/types';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK } from './constants';

/** File types by the short names fuse-native's examples use (and `ls -l` would show). */
export type FileType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block';

const TYPE_BITS: Record<FileType, number> = {
  file: S_IFREG, dir: S_IFDIR, symlink: S_IFLNK, fifo: S_IFIFO, socket: S_IFSOCK, char: S_IFCHR, block: S_IFBLK,
};

/**
 * A point in time: a Date, milliseconds since the epoch (a number, as Date.now() and
 * Stats.mtimeMs), nanoseconds (a bigint, as BigIntStats.mtimeNs), or seconds + nanoseconds.
 */
export type TimeInput = Date | number | bigint | Timespec;

/** Seconds + nanoseconds since the epoch, as the kernel keeps file times. */
export interface Timespec {
  sec: number;
  nsec: number;
}

type Num = number | bigint;

/**
 * A getattr answer. Every field is optional:
 * - type: `type` ('file', 'dir' …), else the S_IFMT bits of a numeric `mode`, else a `mode`
 *   given as a type name ('dir'), else a regular file;
 * - permissions: the low 12 bits of a numeric `mode`, else 0o755 for directories and 0o644
 *   for everything else;
 * - times: `mtimeNs` / `mtimeMs` / `mtime` (first found), else the time the filesystem was made;
 * - nlink 1 (2 for directories), uid/gid of this process, size 0, blksize 4096, blocks from
 *   the size, rdev 0; ino: the node's number in the table when absent or 0.
 */
export interface StatInput {
  type?: FileType;
  mode?: Num | FileType;
  size?: Num;
  nlink?: Num;
  uid?: Num;
  gid?: Num;
  rdev?: Num;
  blksize?: Num;
  blocks?: Num;
  ino?: Num;
  atime?: TimeInput;
  mtime?: TimeInput;
  ctime?: TimeInput;
  atimeMs?: Num;
  mtimeMs?: Num;
  ctimeMs?: Num;
  atimeNs?: bigint;
  mtimeNs?: bigint;
  ctimeNs?: bigint;
}

const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;

function fromNs(ns: bigint): Timespec {
  let sec = ns / NS_PER_S;
  let nsec = ns % NS_PER_S;
  if (nsec < 0n) {
    nsec += NS_PER_S;
    sec -= 1n;
  }
  return { sec: Number(sec), nsec: Number(nsec) };
}

function fromMs(ms: number): Timespec {
  const sec = Math.floor(ms / 1000);
  // Stats.mtimeMs carries sub-millisecond digits; keep what a double holds of them.
  const nsec = Math.min(999_999_999, Math.max(0, Math.round((ms - sec * 1000) * 1e6)));
  return { sec, nsec };
}

/** Any TimeInput as seconds + nanoseconds; throws a TypeError naming `what` for anything else. */
export function toTimespec(t: TimeInput, what = 'time'): Timespec {
  if (t instanceof Date) {
    const ms = t.getTime();
    if (Number.isNaN(ms)) throw new TypeError(`${what} is an invalid Date`);
    return fromMs(ms);
  }
  if (typeof t === 'bigint') return fromNs(t);
  if (typeof t === 'number' && Number.isFinite(t)) return fromMs(t);
  if (t !== null && typeof t === 'object' && Number.isInteger(t.sec) && Number.isInteger(t.nsec) && t.nsec >= 0 && t.nsec < 1e9) {
    return { sec: t.sec, nsec: t.nsec };
  }
  throw new TypeError(`${what} must be a Date, milliseconds, bigint nanoseconds or { sec, nsec }: got ${String(t)}`);
}

function count(v: Num | undefined, what: string, dflt: number): number {
  if (v === undefined || v === null) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new TypeError(`${what} must be a non-negative integer: got ${String(v)}`);
  return n;
}

function typeBits(st: StatInput): number {
  if (st.type !== undefined) {
    const bits = TYPE_BITS[st.type];
    if (bits === undefined) throw new TypeError(`type must be one of ${Object.keys(TYPE_BITS).join(', ')}: got ${String(st.type)}`);
    return bits;
  }
  if (typeof st.mode === 'string') {
    const bits = TYPE_BITS[st.mode];
    if (bits === undefined) throw new TypeError(`mode must be a number or one of ${Object.keys(TYPE_BITS).join(', ')}: got ${st.mode}`);
    return bits;
  }
  const fromMode = st.mode === undefined ? 0 : Number(st.mode) & S_IFMT;
  return fromMode === 0 ? S_IFREG : fromMode;
}

function time(st: StatInput, which: 'a' | 'm' | 'c', dflt: Timespec): Timespec {
  const ns = st[`${which}timeNs`];
  if (typeof ns === 'bigint') return fromNs(ns);
  const ms = st[`${which}timeMs`];
  if (ms !== undefined && ms !== null) return toTimespec(typeof ms === 'bigint' ? ms * NS_PER_MS : ms, `${which}timeMs`);
  const t = st[`${which}time`];
  return t === undefined || t === null ? dflt : toTimespec(t, `${which}time`);
}

export interface AttrDefaults {
  /** Used when the answer has no ino (or 0). */
  ino: number;
  uid: number;
  gid: number;
  /** Used for times the answer leaves out. */
  time: Timespec;
}

/**
 * struct fuse_attr from a getattr answer. Throws a TypeError that says what is wrong with a
 * value that is not a stat object (the session answers EIO and logs it).
 */
export function toAttr(st: StatInput, d: AttrDefaults): Attr {
  if (st === null || typeof st !== 'object') throw new TypeError(`expected a stat object, got ${st === null ? 'null' : typeof st}`);
  const type = typeBits(st);
  const numericMode = typeof st.mode === 'string' || st.mode === undefined ? undefined : Number(st.mode);
  if (numericMode !== undefined && !(Number.isInteger(numericMode) && numericMode >= 0)) throw new TypeError(`mode must be a non-negative integer: got ${String(st.mode)}`);
  const perms = numericMode !== undefined ? numericMode & 0o7777 : type === S_IFDIR ? 0o755 : 0o644;
  const size = count(st.size, 'size', 0);
  const atime = time(st, 'a', d.time);
  const mtime = time(st, 'm', d.time);
  const ctime = time(st, 'c', d.time);
  return {
    ino: count(st.ino, 'ino', 0) || d.ino,
    size,
    blocks: count(st.blocks, 'blocks', Math.ceil(size / 512)),
    atime: atime.sec, atimensec: atime.nsec,
    mtime: mtime.sec, mtimensec: mtime.nsec,
    ctime: ctime.sec, ctimensec: ctime.nsec,
    mode: type | perms,
    nlink: count(st.nlink, 'nlink', type === S_IFDIR ? 2 : 1),
    uid: count(st.uid, 'uid', d.uid),
    gid: count(st.gid, 'gid', d.gid),
    rdev: count(st.rdev, 'rdev', 0),
    blksize: count(st.blksize, 'blksize', 4096),
    flags: 0,
  };
}

/** Current time as a Timespec (UTIME_NOW resolved by the server). */
export function nowTimespec(): Timespec {
  return fromMs(Date.now());
}
