// A randomized differential test: random file operations applied in lockstep to a native
// directory and to the same tree through a tsfuse loopback mount, every result compared (bytes
// read, errno, the stat fields that must match, listings, xattrs). On a difference it shrinks
// the operation log (delta debugging: drop chunks while some difference remains) and reports
// the seed and the shortest log that reproduces it. Driven with Node's synchronous fs calls:
// the server must run in another process (test/fixtures/loopback).
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as sys from '../../src/sys/index';
import { Rng } from './rng';

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND } = fs.constants;
const KiB = 1024;
const MiB = 1024 * KiB;
const FALLOC_FL_KEEP_SIZE = 1;
const FALLOC_FL_PUNCH_HOLE = 2;
const SLOTS = 6;
// The system python: a pyenv shim first in PATH took over a second per start on this machine.
export const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

export type Op =
  | { k: 'open'; slot: number; path: string; flags: number }
  | { k: 'close'; slot: number }
  | { k: 'pwrite'; slot: number; off: number; len: number; seed: number }
  | { k: 'write'; slot: number; len: number; seed: number }
  | { k: 'pread'; slot: number; off: number; len: number }
  | { k: 'ftruncate'; slot: number; len: number }
  | { k: 'truncate'; path: string; len: number }
  | { k: 'fallocate'; slot: number; mode: number; off: number; len: number }
  | { k: 'append'; path: string; len: number; seed: number }
  | { k: 'fsync'; slot: number }
  | { k: 'fstat'; slot: number }
  | { k: 'stat'; path: string }
  | { k: 'readfile'; path: string }
  | { k: 'rename'; from: string; to: string }
  | { k: 'link'; from: string; to: string }
  | { k: 'unlink'; path: string }
  | { k: 'mkdir'; path: string }
  | { k: 'rmdir'; path: string }
  | { k: 'chmod'; path: string; mode: number }
  | { k: 'setxattr'; path: string; name: string; len: number; seed: number }
  | { k: 'removexattr'; path: string; name: string }
  | { k: 'getxattr'; path: string; name: string }
  | { k: 'readdir'; path: string }
  | { k: 'mmap'; path: string; frac: number; len: number; seed: number };

export interface GenOptions {
  /** Include mmap writes + msync (a python3 child per operation: slow, so rare). */
  mmap?: boolean;
}

const DIRS = ['.', 'd0', 'd1', 'd0/e'];
const NAMES = ['f0', 'f1', 'f2', 'f3', 'd0', 'd1', 'e'];

/** A random operation; paths come from a small fixed set so operations keep meeting the same files. */
export function randomOp(rng: Rng, o: GenOptions = {}): Op {
  const p = (): string => path.posix.join(rng.pick(DIRS), rng.pick(NAMES));
  const slot = rng.int(SLOTS);
  const size = (): number => rng.pick([0, 1, 100, 4095, 4096, 4097, rng.int(10000), rng.int(70000), 128 * KiB + 1, MiB + 5]);
  const off = (): number => {
    const r = rng.int(4);
    if (r === 0) return rng.int(20000);
    if (r === 1) return 4096 * rng.int(5) + rng.range(-3, 3) + 3;
    if (r === 2) return MiB * rng.range(1, 2) + rng.range(-4100, 4100);
    return 0;
  };
  const seed = rng.int(1 << 30);
  const w = rng.int(100);
  if (w < 12) {
    let flags = rng.pick([O_RDONLY, O_WRONLY, O_RDWR, O_RDWR]);
    if (rng.chance(0.5)) flags |= O_CREAT;
    if (rng.chance(0.1)) flags |= O_EXCL;
    if (rng.chance(0.1)) flags |= O_TRUNC;
    if (rng.chance(0.15)) flags |= O_APPEND;
    return { k: 'open', slot, path: p(), flags };
  }
  if (w < 17) return { k: 'close', slot };
  if (w < 32) return { k: 'pwrite', slot, off: off(), len: size(), seed };
  if (w < 36) return { k: 'write', slot, len: size(), seed };
  if (w < 48) return { k: 'pread', slot, off: off(), len: size() };
  if (w < 51) return { k: 'ftruncate', slot, len: off() };
  if (w < 53) return { k: 'truncate', path: p(), len: off() };
  if (w < 56) return { k: 'fallocate', slot, mode: rng.pick([0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE]), off: off(), len: size() };
  if (w < 59) return { k: 'append', path: p(), len: size(), seed };
  if (w < 60) return { k: 'fsync', slot };
  if (w < 64) return { k: 'fstat', slot };
  if (w < 69) return { k: 'stat', path: p() };
  if (w < 72) return { k: 'readfile', path: p() };
  if (w < 76) return { k: 'rename', from: p(), to: p() };
  if (w < 78) return { k: 'link', from: p(), to: p() };
  if (w < 82) return { k: 'unlink', path: p() };
  if (w < 85) return { k: 'mkdir', path: p() };
  if (w < 87) return { k: 'rmdir', path: p() };
  if (w < 89) return { k: 'chmod', path: p(), mode: rng.pick([0o600, 0o644, 0o755, 0o4755, 0o2755, 0o000]) };
  if (w < 92) return { k: 'setxattr', path: p(), name: rng.pick(['user.a', 'user.b']), len: rng.pick([0, 1, 100, 4000]), seed };
  if (w < 93) return { k: 'removexattr', path: p(), name: rng.pick(['user.a', 'user.b']) };
  if (w < 95) return { k: 'getxattr', path: p(), name: rng.pick(['user.a', 'user.b']) };
  if (w < 99 || !o.mmap) return { k: 'readdir', path: rng.pick(DIRS) };
  return { k: 'mmap', path: p(), frac: rng.next(), len: rng.pick([1, 100, 4096, 5000]), seed };
}

export function generate(seed: number, count: number, o: GenOptions = {}): Op[] {
  const rng = new Rng(seed);
  const ops: Op[] = [];
  for (let i = 0; i < count; i++) ops.push(randomOp(rng, o));
  return ops;
}

// Data written is a slice of one fixed pattern, chosen by the operation's seed.
const PATTERN = Buffer.alloc(2 * MiB + 4096);
for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = (i * 7 + (i >> 12)) % 251;
function data(seed: number, len: number): Buffer {
  const start = seed % 4096;
  return PATTERN.subarray(start, start + len);
}

function digest(b: Buffer): string {
  return crypto.createHash('sha1').update(b).digest('hex').slice(0, 16);
}

function code(err: unknown): string {
  const c = (err as NodeJS.ErrnoException).code;
  if (typeof c === 'string') return c;
  throw err;
}

/** The stat fields that must agree between the native tree and the mount. */
/*
 * st_blocks is not compared unless TSFUSE_DIFF_BLOCKS=1: the kernel keeps a file's attributes
 * for attr_timeout (the loopback's default: 1 s) and updates only the size on a write, so
 * st_blocks through the mount may be one or more pages behind the backing file's (seed 778,
 * passthrough off: 2088 vs 2096 right after a write, then 2104 vs 2096, the same bytes).
 * Read at each call: `npm run stress --blocks` sets it after this module is loaded.
 */
function statLine(s: fs.Stats): string {
  const blocks = process.env.TSFUSE_DIFF_BLOCKS !== '1' ? '' : ` blocks=${s.blocks}`;
  return `mode=${s.mode.toString(8)} size=${s.size} nlink=${s.nlink} uid=${s.uid} gid=${s.gid}${blocks}`;
}

/** One side of the lockstep: a root directory and the fds opened under it. */
export class Side {
  readonly fds: (number | undefined)[] = new Array(SLOTS).fill(undefined);
  constructor(readonly root: string) {}

  private abs(p: string): string {
    return path.join(this.root, p);
  }

  closeAll(): void {
    for (let i = 0; i < SLOTS; i++) this.close(i);
  }

  private close(slot: number): string {
    const fd = this.fds[slot];
    if (fd === undefined) return 'none';
    this.fds[slot] = undefined;
    fs.closeSync(fd);
    return 'ok';
  }

  /** Applies `op`; the result is a string both sides must agree on. */
  apply(op: Op): string {
    try {
      return this.run(op);
    } catch (err) {
      return code(err);
    }
  }

  private fd(slot: number): number {
    const fd = this.fds[slot];
    if (fd === undefined) throw Object.assign(new Error('no fd in slot'), { code: 'NOSLOT' });
    return fd;
  }

  private run(op: Op): string {
    switch (op.k) {
      case 'open': {
        this.close(op.slot);
        this.fds[op.slot] = fs.openSync(this.abs(op.path), op.flags, 0o644);
        return 'ok';
      }
      case 'close':
        return this.close(op.slot);
      case 'pwrite':
        return String(fs.writeSync(this.fd(op.slot), data(op.seed, op.len), 0, op.len, op.off));
      case 'write':
        return String(fs.writeSync(this.fd(op.slot), data(op.seed, op.len), 0, op.len));
      case 'pread': {
        const buf = Buffer.alloc(op.len);
        const n = fs.readSync(this.fd(op.slot), buf, 0, op.len, op.off);
        return `${n}:${digest(buf.subarray(0, n))}`;
      }
      case 'ftruncate':
        fs.ftruncateSync(this.fd(op.slot), op.len);
        return 'ok';
      case 'truncate':
        fs.truncateSync(this.abs(op.path), op.len);
        return 'ok';
      case 'fallocate':
        if (op.len === 0) return 'skip'; // EINVAL on both sides, by definition
        sys.fallocate(this.fd(op.slot), op.mode, op.off, op.len);
        return 'ok';
      case 'append':
        fs.appendFileSync(this.abs(op.path), data(op.seed, op.len));
        return 'ok';
      case 'fsync':
        fs.fsyncSync(this.fd(op.slot));
        return 'ok';
      case 'fstat':
        return statLine(fs.fstatSync(this.fd(op.slot)));
      case 'stat':
        return statLine(fs.lstatSync(this.abs(op.path)));
      case 'readfile':
        return digest(fs.readFileSync(this.abs(op.path)));
      case 'rename':
        fs.renameSync(this.abs(op.from), this.abs(op.to));
        return 'ok';
      case 'link':
        fs.linkSync(this.abs(op.from), this.abs(op.to));
        return 'ok';
      case 'unlink':
        fs.unlinkSync(this.abs(op.path));
        return 'ok';
      case 'mkdir':
        fs.mkdirSync(this.abs(op.path), 0o755);
        return 'ok';
      case 'rmdir':
        fs.rmdirSync(this.abs(op.path));
        return 'ok';
      case 'chmod':
        fs.chmodSync(this.abs(op.path), op.mode);
        return 'ok';
      case 'setxattr':
        sys.lsetxattr(this.abs(op.path), op.name, data(op.seed, op.len));
        return 'ok';
      case 'removexattr':
        sys.lremovexattr(this.abs(op.path), op.name);
        return 'ok';
      case 'getxattr':
        return digest(sys.lgetxattr(this.abs(op.path), op.name));
      case 'readdir':
        return fs.readdirSync(this.abs(op.path)).sort().join(',');
      case 'mmap': {
        const script = 'import mmap,os,sys\n'
          + 'p,frac,n,seed=sys.argv[1],float(sys.argv[2]),int(sys.argv[3]),int(sys.argv[4])\n'
          + 'try:\n fd=os.open(p,os.O_RDWR)\nexcept OSError as e:\n print("errno",e.errno); sys.exit()\n'
          + 'size=os.fstat(fd).st_size\n'
          + 'if size==0:\n print("empty"); sys.exit()\n'
          + 'm=mmap.mmap(fd,size); off=int(frac*size); n=min(n,size-off)\n'
          + 'm[off:off+n]=bytes((seed+i)%251 for i in range(n)); m.flush(); m.close(); os.close(fd); print("ok",off,n)\n';
        const r = spawnSync(PYTHON, ['-c', script, this.abs(op.path), String(op.frac), String(op.len), String(op.seed % 251)], { encoding: 'utf8' });
        return (r.stdout || r.stderr.split('\n').filter(Boolean).pop() || '').trim();
      }
    }
  }

  /** Every name under the root with its type, stat line (no times) and content digest. */
  snapshot(): string[] {
    const out: string[] = [];
    const walk = (rel: string): void => {
      for (const name of fs.readdirSync(this.abs(rel)).sort()) {
        const p = path.posix.join(rel, name);
        const s = fs.lstatSync(this.abs(p));
        if (s.isDirectory()) {
          out.push(`${p}/ ${statLine(s).replace(/ size=\d+| blocks=\d+/g, '')}`);
          walk(p);
        } else out.push(`${p} ${statLine(s)} ${s.isFile() ? digest(fs.readFileSync(this.abs(p))) : ''}`);
      }
    };
    walk('.');
    return out;
  }
}

export interface Difference {
  index: number;
  op: Op;
  native: string;
  mounted: string;
}

/** Runs `ops` on fresh `nativeRoot` and `mountRoot`; the first difference, or null. */
export function runOps(ops: readonly Op[], nativeRoot: string, mountRoot: string, o: { snapshotEvery?: number } = {}): Difference | null {
  for (const r of [nativeRoot, mountRoot]) fs.mkdirSync(r, { recursive: true });
  const a = new Side(nativeRoot);
  const b = new Side(mountRoot);
  const every = o.snapshotEvery ?? 1000;
  try {
    for (let i = 0; i < ops.length; i++) {
      const x = a.apply(ops[i]);
      const y = b.apply(ops[i]);
      if (x !== y) return { index: i, op: ops[i], native: x, mounted: y };
      if ((i + 1) % every === 0 || i === ops.length - 1) {
        const sx = a.snapshot().join('\n');
        const sy = b.snapshot().join('\n');
        if (sx !== sy) return { index: i, op: { k: 'readdir', path: '(whole tree)' }, native: sx, mounted: sy };
      }
    }
    return null;
  } finally {
    a.closeAll();
    b.closeAll();
  }
}

/**
 * Delta debugging (ddmin, simplified): drops chunks of the log, halving the chunk size, while
 * some difference remains. Each replay runs in fresh directories from `fresh()`.
 */
export function shrink(ops: readonly Op[], fresh: () => [string, string], budget = 300): { ops: Op[]; diff: Difference | null; replays: number } {
  let cur = ops.slice();
  let replays = 0;
  const fails = (candidate: Op[]): Difference | null => {
    replays++;
    const [n, m] = fresh();
    try {
      return runOps(candidate, n, m, { snapshotEvery: candidate.length });
    } finally {
      // Hundreds of replays of files up to a few MiB would fill the temp filesystem.
      for (const dir of [n, m]) fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  let last = fails(cur);
  if (last === null) return { ops: cur, diff: null, replays };
  cur = cur.slice(0, last.index + 1);
  let chunk = Math.max(1, Math.floor(cur.length / 2));
  while (replays < budget) {
    let removed = false;
    for (let start = 0; start < cur.length && replays < budget; ) {
      const candidate = cur.slice(0, start).concat(cur.slice(start + chunk));
      const d = candidate.length > 0 ? fails(candidate) : null;
      if (d !== null) {
        cur = candidate.slice(0, d.index + 1);
        last = d;
        removed = true;
      } else start += chunk;
    }
    if (chunk === 1 && !removed) break;
    if (!removed) chunk = Math.max(1, Math.floor(chunk / 2));
  }
  return { ops: cur, diff: last, replays };
}

export interface DifferentialResult {
  seed: number;
  ops: number;
  differences: number;
  first?: Difference;
  /** The shortest reproducing log found, as JSON lines. */
  shortest?: Op[];
  /** The difference the shortest log shows. */
  shortestDiff?: Difference;
}

/** `count` random operations from `seed` in `nativeRoot` vs `mountRoot`; shrinks the first difference. */
export function differential(seed: number, count: number, nativeRoot: string, mountRoot: string,
  o: GenOptions & { shrinkBudget?: number; progress?: (done: number) => void } = {}): DifferentialResult {
  const ops = generate(seed, count, o);
  const d = runOps(ops, nativeRoot, mountRoot);
  o.progress?.(d === null ? count : d.index + 1);
  if (d === null) return { seed, ops: count, differences: 0 };
  let k = 0;
  const fresh = (): [string, string] => {
    k++;
    return [`${nativeRoot}.shrink${k}`, `${mountRoot}.shrink${k}`];
  };
  const s = shrink(ops.slice(0, d.index + 1), fresh, o.shrinkBudget ?? 300);
  return { seed, ops: d.index + 1, differences: 1, first: d, shortest: s.diff !== null ? s.ops : undefined, shortestDiff: s.diff ?? undefined };
}

/** The report of a difference: the seed, what differed, and the shortest log, one op per line. */
export function describe(r: DifferentialResult): string {
  if (r.differences === 0) return `seed ${r.seed}: ${r.ops} operations, no difference`;
  const f = r.first!;
  const lines = [
    `seed ${r.seed}: difference at operation ${f.index}: ${JSON.stringify(f.op)}`,
    `  native:  ${f.native.slice(0, 2000)}`,
    `  mounted: ${f.mounted.slice(0, 2000)}`,
  ];
  if (r.shortest) {
    lines.push(`shortest reproducing log (${r.shortest.length} operations):`);
    for (const op of r.shortest) lines.push('  ' + JSON.stringify(op));
    const d = r.shortestDiff;
    if (d) lines.push(`  → at operation ${d.index}: native ${d.native.slice(0, 2000)} / mounted ${d.mounted.slice(0, 2000)}`);
  } else lines.push('(the difference did not reproduce from a fresh start: timing or state outside the log)');
  return lines.join('\n');
}
