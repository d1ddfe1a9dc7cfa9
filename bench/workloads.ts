/**
 * The workloads, as groups of timed steps that share files: a group writes
 * its files, reads them back, and removes them. Every step is synchronous
 * syscalls from this process or child processes (dd, fio, the concurrent
 * clients of clients.ts): the FUSE server runs in a process of its own, so
 * nothing here competes with its event loop.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { clientsGroup, type Client } from './clients';
import { fioStep, type FioJob } from './fio';

export const CONFIGS = ['native', 'fuse', 'passthrough'] as const;
export type ConfigName = (typeof CONFIGS)[number];

/** Where one configuration runs. */
export interface Target {
  config: ConfigName;
  /** Where the workloads run: the native directory, or the mount point. */
  dir: string;
  /** The directory that holds the files on disk: `dir` itself for native, the mount's SRC otherwise. */
  backing: string;
}

/** What a step may report instead of the wall time around it (fio's own figures). */
export interface Measured {
  seconds?: number;
  bytes?: number;
  ops?: number;
}

/** What is known of a step before it runs: for progress, skipping and the report. */
export interface StepInfo {
  /** e.g. '4k.read_cold'. */
  workload: string;
  /** Run after dropping the page cache; skipped where that is impossible. */
  cold: boolean;
  bytes: number;
  ops: number;
  /** What one operation is, for "µs per op": 'file', '4 KiB read', 'entry'. */
  op?: string;
  /** Client processes working at once (the concurrent workloads, reported as ops/s). */
  clients?: number;
  describe: string;
}

export interface Step extends StepInfo {
  /** Synchronous, or a promise when it waits for child processes that time themselves. */
  run(): Measured | void | Promise<Measured | void>;
}

/** One group on one target: setup and cleanup are not timed. */
export interface GroupRun {
  setup(): void;
  steps: Step[];
  cleanup(): void;
}

export interface Group {
  /** The --workloads name, and the prefix of its steps' names. */
  name: string;
  steps: StepInfo[];
  start(target: Target): GroupRun;
}

const KiB = 1024;
const MiB = 1024 * KiB;
/** Files per subdirectory: 25,000 names in one directory would measure the directory format as much as the files. */
const FILES_PER_DIR = 1000;
/** Reads and writes go in chunks of this size, as `dd bs=1M` and `cp` do. */
const CHUNK = MiB;

let pattern: Buffer | undefined;
/** Incompressible bytes, made once. */
function data(): Buffer {
  pattern ??= randomBytes(CHUNK);
  return pattern;
}

export function scaled(n: number, scale: number, min = 1): number {
  return Math.max(min, Math.round(n * scale));
}

function sizeName(bytes: number): string {
  return bytes >= MiB ? `${bytes / MiB}m` : `${bytes / KiB}k`;
}

function human(bytes: number): string {
  return bytes >= MiB ? `${bytes / MiB} MiB` : `${bytes / KiB} KiB`;
}

/** The paths of `count` files under `root`, FILES_PER_DIR to a subdirectory. */
export function filePaths(root: string, count: number): { dirs: string[]; files: string[] } {
  const dirs: string[] = [];
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    if (i % FILES_PER_DIR === 0) dirs.push(path.join(root, `d${String(i / FILES_PER_DIR).padStart(3, '0')}`));
    files.push(path.join(dirs[dirs.length - 1], `f${String(i).padStart(6, '0')}`));
  }
  return { dirs, files };
}

function writeFile(file: string, size: number): void {
  const buf = data();
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o644);
  try {
    for (let done = 0; done < size; ) done += fs.writeSync(fd, buf, 0, Math.min(CHUNK, size - done));
  } finally {
    fs.closeSync(fd);
  }
}

const readBuffer = Buffer.allocUnsafe(CHUNK);
/** Reads to EOF, as cat does. */
function readFile(file: string): number {
  const fd = fs.openSync(file, fs.constants.O_RDONLY);
  let total = 0;
  try {
    for (let n; (n = fs.readSync(fd, readBuffer, 0, CHUNK, null)) > 0; ) total += n;
  } finally {
    fs.closeSync(fd);
  }
  return total;
}

function readAll(files: readonly string[], size: number): void {
  for (const file of files) {
    const got = readFile(file);
    if (got !== size) throw new Error(`${file}: read ${got} bytes, expected ${size}`);
  }
}

/**
 * `count` files of `size` bytes: write all, read all warm, read all cold;
 * with `meta`, then stat every file, list the tree and unlink everything.
 */
export function filesGroup(count: number, size: number, meta: boolean): Group {
  const name = sizeName(size);
  const bytes = count * size;
  const what = `${count.toLocaleString('en')} × ${human(size)}`;
  const infos: StepInfo[] = [
    { workload: `${name}.write`, cold: false, bytes, ops: count, op: 'file', describe: `write ${what} files` },
    { workload: `${name}.read_warm`, cold: false, bytes, ops: count, op: 'file', describe: `read back ${what} files, page cache warm` },
    { workload: `${name}.read_cold`, cold: true, bytes, ops: count, op: 'file', describe: `read back ${what} files after dropping caches` },
  ];
  if (meta) {
    infos.push(
      { workload: 'meta.stat', cold: false, bytes: 0, ops: count, op: 'file', describe: `stat each of the ${what} files` },
      { workload: 'meta.list', cold: false, bytes: 0, ops: count, op: 'entry', describe: `list the ${what} files' tree recursively` },
      { workload: 'meta.unlink', cold: false, bytes: 0, ops: count, op: 'file', describe: `unlink the ${what} files and their directories` },
    );
  }
  return {
    name,
    steps: infos,
    start(target) {
      const root = path.join(target.dir, name);
      let dirs: string[] = [];
      let files: string[] = [];
      const actions: Record<string, () => void> = {
        [`${name}.write`]: () => {
          fs.mkdirSync(root);
          for (const d of dirs) fs.mkdirSync(d);
          for (const f of files) writeFile(f, size);
        },
        [`${name}.read_warm`]: () => readAll(files, size),
        [`${name}.read_cold`]: () => readAll(files, size),
        'meta.stat': () => {
          for (const f of files) fs.statSync(f);
        },
        'meta.list': () => {
          const seen = listTree(root);
          if (seen !== count + dirs.length) throw new Error(`listed ${seen} entries under ${root}, expected ${count + dirs.length}`);
        },
        'meta.unlink': () => {
          for (const f of files) fs.unlinkSync(f);
          for (const d of dirs) fs.rmdirSync(d);
          fs.rmdirSync(root);
        },
      };
      return {
        setup() {
          ({ dirs, files } = filePaths(root, count));
        },
        steps: infos.map((info) => ({ ...info, run: actions[info.workload] })),
        cleanup() {
          fs.rmSync(root, { recursive: true, force: true });
        },
      };
    },
  };
}

/** Entries under `dir`, recursively, by readdir alone (what `find` does). */
function listTree(dir: string): number {
  let n = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    n++;
    if (entry.isDirectory()) n += listTree(path.join(dir, entry.name));
  }
  return n;
}

function run(command: string, args: string[]): void {
  const r = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.status ?? r.signal}`}`);
}

/** The issue's dd: 2000 MiB written with fdatasync and without keeping the page cache, then read back cold. */
export function ddGroup(mib: number): Group {
  const infos: StepInfo[] = [
    { workload: 'dd.write', cold: false, bytes: mib * MiB, ops: 0, describe: `dd if=/dev/zero bs=1M count=${mib} oflag=nocache conv=fdatasync` },
    { workload: 'dd.read', cold: true, bytes: mib * MiB, ops: 0, describe: `dd of=/dev/null bs=1M of that file, after dropping caches` },
  ];
  return {
    name: 'dd',
    steps: infos,
    start(target) {
      const root = path.join(target.dir, 'dd');
      const file = path.join(root, 'f');
      const actions: Record<string, () => void> = {
        'dd.write': () => run('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${mib}`, 'oflag=nocache', 'conv=fdatasync', 'status=none']),
        'dd.read': () => run('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M', 'status=none']),
      };
      return {
        setup: () => fs.mkdirSync(root),
        steps: infos.map((info) => ({ ...info, run: actions[info.workload] })),
        cleanup: () => fs.rmSync(root, { recursive: true, force: true }),
      };
    },
  };
}

/** Page indices from a fixed seed (xorshift32): every configuration reads the same offsets. */
export function randomPages(count: number, pages: number, seed = 0x9e3779b9): Uint32Array {
  const out = new Uint32Array(count);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x % pages;
  }
  return out;
}

/**
 * 4 KiB preads at random offsets in one file whose data is in the backing
 * page cache: nothing but the per-read cost is left, and no readahead hides a
 * round trip to the server.
 */
export function randomReadGroup(fileMiB: number, reads: number): Group {
  const info: StepInfo = {
    workload: 'rand4k.read',
    cold: false,
    bytes: reads * 4 * KiB,
    ops: reads,
    op: '4 KiB read',
    describe: `${reads.toLocaleString('en')} random 4 KiB preads in a ${fileMiB} MiB file (backing data cached)`,
  };
  return {
    name: 'rand4k',
    steps: [info],
    start(target) {
      const root = path.join(target.dir, 'rand4k');
      const offsets = randomPages(reads, (fileMiB * MiB) / (4 * KiB));
      const buf = Buffer.allocUnsafe(4 * KiB);
      return {
        setup() {
          // Written beside the mount, not through it: the mount's own page cache starts empty.
          const backingRoot = path.join(target.backing, 'rand4k');
          fs.mkdirSync(backingRoot);
          const file = path.join(backingRoot, 'f');
          writeFile(file, fileMiB * MiB);
          const fd = fs.openSync(file, 'r');
          try {
            fs.fsyncSync(fd);
          } finally {
            fs.closeSync(fd);
          }
        },
        steps: [
          {
            ...info,
            run() {
              const fd = fs.openSync(path.join(root, 'f'), 'r');
              try {
                for (let i = 0; i < offsets.length; i++) {
                  if (fs.readSync(fd, buf, 0, buf.length, offsets[i] * 4 * KiB) !== buf.length) throw new Error('short read');
                }
              } finally {
                fs.closeSync(fd);
              }
            },
          },
        ],
        cleanup: () => fs.rmSync(root, { recursive: true, force: true }),
      };
    },
  };
}

/** fio's sequential and random jobs on one file (psync engine, one job each). */
export function fioGroup(fio: string, fileMiB: number, randomMiB: number): Group {
  const jobs: FioJob[] = [
    { workload: 'fio.seq_write', rw: 'write', bs: '1M', sizeMiB: fileMiB, ioMiB: fileMiB, cold: false },
    { workload: 'fio.seq_read', rw: 'read', bs: '1M', sizeMiB: fileMiB, ioMiB: fileMiB, cold: true },
    { workload: 'fio.rand_read', rw: 'randread', bs: '4k', sizeMiB: fileMiB, ioMiB: randomMiB, cold: false },
    { workload: 'fio.rand_write', rw: 'randwrite', bs: '4k', sizeMiB: fileMiB, ioMiB: randomMiB, cold: false },
  ];
  const infos: StepInfo[] = jobs.map((j) => ({
    workload: j.workload,
    cold: j.cold,
    bytes: j.ioMiB * MiB,
    ops: j.bs === '4k' ? (j.ioMiB * MiB) / (4 * KiB) : 0,
    op: j.bs === '4k' ? '4 KiB I/O' : undefined,
    describe: `fio --rw=${j.rw} --bs=${j.bs} --size=${j.sizeMiB}M --io_size=${j.ioMiB}M${j.cold ? ', after dropping caches' : ''}`,
  }));
  return {
    name: 'fio',
    steps: infos,
    start(target) {
      const root = path.join(target.dir, 'fio');
      const file = path.join(root, 'f');
      return {
        setup: () => fs.mkdirSync(root),
        steps: jobs.map((job, i) => ({ ...infos[i], run: () => fioStep(fio, job, file) })),
        cleanup: () => fs.rmSync(root, { recursive: true, force: true }),
      };
    },
  };
}

export const GROUP_NAMES = ['4k', '64k', '1m', '10m', 'dd', 'rand4k', 'fio', 'clients'] as const;
export type GroupName = (typeof GROUP_NAMES)[number];

/** Files of the concurrent workloads at scale 1, shared among the P clients. */
export const CLIENT_FILES = 5000;

export interface GroupChoice {
  scale: number;
  only: readonly GroupName[];
  /** fio's path, or null: its jobs are left out. */
  fio: string | null;
  /** The P of each concurrent group, and the client they run (needed when `only` has 'clients'). */
  clients?: readonly number[];
  client?: Client;
}

/**
 * The issue's workloads at `scale` (1: 25,000 × 4 KiB … a 2000 MiB dd, a 1 GiB random-read file,
 * 5,000 × 4 KiB files shared among P clients for each P).
 */
export function buildGroups(o: GroupChoice): Group[] {
  const { scale, fio } = o;
  const groups: Group[] = [];
  const want = (name: GroupName): boolean => o.only.includes(name);
  if (want('4k')) groups.push(filesGroup(scaled(25_000, scale), 4 * KiB, true));
  if (want('64k')) groups.push(filesGroup(scaled(10_000, scale), 64 * KiB, false));
  if (want('1m')) groups.push(filesGroup(scaled(1_000, scale), MiB, false));
  if (want('10m')) groups.push(filesGroup(scaled(100, scale), 10 * MiB, false));
  if (want('dd')) groups.push(ddGroup(scaled(2000, scale)));
  if (want('rand4k')) groups.push(randomReadGroup(scaled(1024, scale, 16), scaled(50_000, scale, 100)));
  if (want('fio') && fio !== null) groups.push(fioGroup(fio, scaled(1024, scale, 16), scaled(128, scale, 4)));
  if (want('clients') && o.client !== undefined) {
    // At least 500 files (a quarter of a second of creates through FUSE here), and 20 a client:
    // fewer, and the start of a step, before every client is busy, would weigh in the time.
    for (const p of o.clients ?? []) groups.push(clientsGroup(p, Math.max(scaled(CLIENT_FILES, scale), 500, 20 * p), 4 * KiB, o.client));
  }
  return groups;
}

/**
 * The group without its cold steps, for a run that must not drop the machine's caches
 * (--no-drop-caches). The warm steps of a group do not depend on its cold ones.
 */
export function warmOnly(group: Group): Group {
  return {
    name: group.name,
    steps: group.steps.filter((s) => !s.cold),
    start(target) {
      const run = group.start(target);
      return { ...run, steps: run.steps.filter((s) => !s.cold) };
    },
  };
}
