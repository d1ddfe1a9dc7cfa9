// The live part of the probe: mount a throw-away FUSE filesystem, read the kernel's INIT offer,
// answer it asking for passthrough, and try FUSE_DEV_IOC_BACKING_OPEN/CLOSE on a temporary file
// (and on a file of the backing directory, to learn its stack depth); where INIT offers FUSE over
// io_uring, ask for it and register one ring entry per queue. Everything here is
// synchronous, ~12 ms per connection: a signal that arrives meanwhile is handled after the
// cleanup, never in the middle of it (withSignalsDeferred in probe.ts).
//
// Runs in the probe's own process when it may mount, and in a child inside a new user and mount
// namespace (probe-child.ts) when it may not: there the mount succeeds, but BACKING_OPEN still
// checks CAP_SYS_ADMIN in the initial user namespace, so the errno it returns is the one a
// non-root server would get.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { FILESYSTEM_MAX_STACK_DEPTH, Opcode } from '../protocol/constants';
import { decodeRequest } from '../protocol/decode';
import { negotiateInit, type InitOffer as ProtocolInitOffer } from '../protocol/init';
import { encodeBackingMap, encodeU32Arg, FUSE_DEV_IOC_BACKING_CLOSE, FUSE_DEV_IOC_BACKING_OPEN } from '../protocol/ioctl';
import { ioctl, openDevice } from './device';
import { mountArgs } from './mount';
import { codeOf } from './probe-host';
import { sys } from './sys-lazy';
import { possibleCpus } from './uring';

/**
 * The kernel's INIT request, as offered: the codec's InitOffer without the reply's unique
 * (plain data: it crosses from the namespace child as JSON).
 */
export type InitOffer = Omit<ProtocolInitOffer, 'unique' | 'header'>;

/** One BACKING_OPEN attempt (followed by BACKING_CLOSE of the id when it succeeded). */
export interface BackingAttempt {
  /** max_stack_depth this connection negotiated. */
  maxStackDepth: number;
  /** The id BACKING_OPEN returned, or null. */
  id: number | null;
  /** Errno name of BACKING_OPEN, or null when it succeeded. */
  errno: string | null;
  /** Errno name of BACKING_CLOSE, or null (also when there was nothing to close). */
  closeErrno: string | null;
}

export interface BackingDirReport {
  path: string;
  /** How the test file was obtained: 'O_TMPFILE' or 'existing file NAME (O_PATH)'; null: none. */
  file: string | null;
  /** Errno names of the attempts to get a file, when none was found. */
  fileErrors: string[];
  attempts: BackingAttempt[];
}

export interface LiveReport {
  mounted: boolean;
  /** What the mount attempt said, when it failed. */
  mountError: string | null;
  offer: InitOffer | null;
  /** Attempts on a temporary file in the probe's own directory, depth 1 then 2 on ELOOP. */
  backing: BackingAttempt[];
  backingDir: BackingDirReport | null;
  /**
   * FUSE over io_uring: null when INIT did not offer it (or no mount was made); else the errno
   * name with which the kernel refused the ring entries (or io_uring_setup failed), or null when
   * it took them.
   */
  ring: { errno: string | null; step: string } | null;
  /** A failure that kept the live check from finishing (not a verdict), else null. */
  error: string | null;
}

export interface LiveOptions {
  /** An empty directory to mount on; the caller creates and removes it. */
  mountpoint: string;
  /** A directory whose stack depth to measure. */
  backingDir?: string;
  /** Called while the first throw-away mount exists (tests use it to interrupt the probe). */
  onMounted?: (mountpoint: string) => void;
}

// The probe declares this max_write; the kernel rejects reads shorter than max_write + 80.
const PROBE_MAX_WRITE = 128 * 1024;
const READ_BUFFER_SIZE = PROBE_MAX_WRITE + 4096;
// Passthrough takes max_stack_depth 1..FILESYSTEM_MAX_STACK_DEPTH; 0 or 3 silently disable it.
export const KERNEL_MAX_STACK_DEPTH = FILESYSTEM_MAX_STACK_DEPTH;
const MOUNT_TIMEOUT_MS = 5000;

export function liveProbe(options: LiveOptions): LiveReport {
  const report: LiveReport = { mounted: false, mountError: null, offer: null, backing: [], backingDir: null, ring: null, error: null };
  const targets: { fd: number; attempts: BackingAttempt[] }[] = [];
  try {
    // Opened before the mount hides the directory; anonymous, so nothing is left to remove.
    const tmp = openTestFile(options.mountpoint, true);
    if ('fd' in tmp) targets.push({ fd: tmp.fd, attempts: report.backing });
    else report.error = `no temporary file for BACKING_OPEN: ${tmp.errors.join(', ')}`;
    if (options.backingDir !== undefined) {
      const dir = openTestFile(options.backingDir, false);
      const attempts: BackingAttempt[] = [];
      report.backingDir = { path: options.backingDir, file: 'fd' in dir ? dir.how : null, fileErrors: 'fd' in dir ? [] : dir.errors, attempts };
      if ('fd' in dir) targets.push({ fd: dir.fd, attempts });
    }

    // max_stack_depth 1 first, as a server on a plain filesystem would; a file that gets ELOOP
    // (its filesystem is stacked itself) is tried again on a connection that declares 2.
    for (const maxStackDepth of [1, KERNEL_MAX_STACK_DEPTH]) {
      const pending = targets.filter((t) => t.attempts.length === 0 || t.attempts[t.attempts.length - 1].errno === 'ELOOP');
      if (maxStackDepth > 1 && pending.length === 0) break;
      const conn = connect(options.mountpoint, maxStackDepth);
      try {
        if (!conn.mounted) {
          report.mountError = conn.mountError;
          break;
        }
        report.mounted = true;
        if (conn.offer === null) {
          report.error = conn.initError;
          break;
        }
        report.offer ??= conn.offer;
        if (maxStackDepth === 1) options.onMounted?.(options.mountpoint);
        for (const t of pending) t.attempts.push(tryBacking(conn.fd!, t.fd, maxStackDepth));
        if (maxStackDepth === 1 && conn.maxPages !== null) report.ring = tryRing(conn.fd!, conn.maxPages);
      } finally {
        disconnect(conn, options.mountpoint);
      }
    }
  } catch (err) {
    report.error = err instanceof Error ? err.message : String(err);
  } finally {
    for (const t of targets) fs.closeSync(t.fd);
  }
  return report;
}

interface Connection {
  fd: number | null;
  mounted: boolean;
  /** Set once INIT was read and answered. */
  offer: InitOffer | null;
  /** max_pages INIT settled, when FUSE over io_uring was offered and asked for; else null. */
  maxPages: number | null;
  mountError: string | null;
  initError: string | null;
}

/** Opens /dev/fuse, mounts it on `mountpoint`, reads INIT and answers it. Never throws. */
function connect(mountpoint: string, maxStackDepth: number): Connection {
  const conn: Connection = { fd: null, mounted: false, offer: null, maxPages: null, mountError: null, initError: null };
  try {
    conn.fd = openDevice();
  } catch (err) {
    conn.mountError = (err as Error).message;
    return conn;
  }
  // Unlike mount.ts's mountDevice, synchronous, and without its root check: the probe wants the
  // kernel's own answer, and mount(2) returns before INIT is answered, so nothing can wait on us.
  const r = spawnSync('mount', mountArgs(mountpoint, { fsname: 'tsfuse-probe', subtype: 'tsfuse-probe' }), {
    stdio: ['ignore', 'ignore', 'pipe', conn.fd],
    timeout: MOUNT_TIMEOUT_MS,
    encoding: 'utf8',
  });
  if (r.error !== undefined || r.status !== 0) {
    conn.mountError = `mount(8): ${r.error?.message ?? (r.stderr.trim().split('\n')[0] || `exit ${r.status ?? r.signal}`)}`;
    return conn;
  }
  conn.mounted = true;
  try {
    const init = answerInit(conn.fd, maxStackDepth);
    conn.offer = init.offer;
    conn.maxPages = init.uringMaxPages;
  } catch (err) {
    conn.initError = err instanceof Error ? err.message : String(err);
  }
  return conn;
}

/**
 * Reads the kernel's INIT and replies asking for passthrough, and for FUSE over io_uring when
 * offered; returns the offer, and max_pages when io_uring was granted.
 */
function answerInit(fd: number, maxStackDepth: number): { offer: InitOffer; uringMaxPages: number | null } {
  const buf = Buffer.alloc(READ_BUFFER_SIZE);
  // A kernel with a newer major takes our major and sends INIT again (the header's version rule).
  for (let round = 0; round < 2; round++) {
    const n = fs.readSync(fd, buf, 0, buf.length, null);
    const req = decodeRequest(buf, n);
    if ('kind' in req || req.opcode !== Opcode.INIT) {
      throw new Error(`expected INIT as the first request, got ${'kind' in req ? req.message : `opcode ${req.opcode}`}`);
    }
    const init = negotiateInit(req, { passthrough: true, maxStackDepth, maxWrite: PROBE_MAX_WRITE, flags: ['FUSE_OVER_IO_URING'] });
    fs.writeSync(fd, init.reply);
    if (init.status === 'ok') {
      const offer = { major: req.major, minor: req.minor, maxReadahead: req.maxReadahead, flags: req.flags, flags2: req.flags2 };
      const n = init.negotiated;
      return { offer, uringMaxPages: n !== null && n.flags.includes('FUSE_OVER_IO_URING') ? n.maxPages : null };
    }
    if (init.status === 'error') throw new Error(`INIT refused: ${init.warnings.join('; ')}`);
  }
  throw new Error('the kernel sent INIT a third time');
}

function tryBacking(deviceFd: number, fileFd: number, maxStackDepth: number): BackingAttempt {
  let id: number;
  try {
    id = ioctl(deviceFd, FUSE_DEV_IOC_BACKING_OPEN, encodeBackingMap(fileFd));
  } catch (err) {
    return { maxStackDepth, id: null, errno: codeOf(err), closeErrno: null };
  }
  try {
    ioctl(deviceFd, FUSE_DEV_IOC_BACKING_CLOSE, encodeU32Arg(id));
    return { maxStackDepth, id, errno: null, closeErrno: null };
  } catch (err) {
    return { maxStackDepth, id, errno: null, closeErrno: codeOf(err) };
  }
}

/**
 * Sets up an io_uring and registers one ring entry on every queue of the connection, as the
 * io_uring transport does (src/kernel/uring.ts); a refusal comes back at once as a completion.
 * The ring is closed before the connection (its pending commands hold the device open).
 */
function tryRing(deviceFd: number, maxPages: number): { errno: string | null; step: string } {
  const { uringSetup, uringRegister, uringReap, uringClose } = sys();
  const queues = possibleCpus();
  let ring: ReturnType<typeof uringSetup>[0];
  let eventFd: number;
  try {
    [ring, eventFd] = uringSetup(Math.max(8, queues), queues);
  } catch (err) {
    return { errno: codeOf(err), step: 'io_uring_setup' };
  }
  try {
    const payloadSize = Math.max(8192, PROBE_MAX_WRITE, maxPages * 4096);
    for (let q = 0; q < queues; q++) {
      const entry = Buffer.alloc(288 + payloadSize);
      ringBuffers.push(entry);
      uringRegister(ring, deviceFd, q, q, entry.subarray(0, 288), entry.subarray(288));
    }
    const out = new Float64Array(2 * queues);
    const n = uringReap(ring, out);
    for (let i = 0; i < n; i++) if (out[2 * i + 1] < 0) return { errno: codeOf({ errno: -out[2 * i + 1] }), step: 'FUSE_IO_URING_CMD_REGISTER' };
    return { errno: null, step: 'FUSE_IO_URING_CMD_REGISTER' };
  } catch (err) {
    return { errno: codeOf(err), step: 'FUSE_IO_URING_CMD_REGISTER' };
  } finally {
    uringClose(ring);
    fs.closeSync(eventFd);
  }
}

// The kernel may still copy a request into a registered entry while it cancels its command:
// the probe's ring buffers live as long as the process.
const ringBuffers: Buffer[] = [];

/**
 * Closes the device first: that aborts the connection, so nothing umount(8) does can wait on a
 * request we will never answer; the dead mount is then detached lazily.
 */
function disconnect(conn: Connection, mountpoint: string): void {
  if (conn.fd !== null) fs.closeSync(conn.fd);
  if (!conn.mounted) return;
  const r = spawnSync('umount', ['-l', mountpoint], { stdio: ['ignore', 'ignore', 'pipe'], timeout: MOUNT_TIMEOUT_MS, encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) {
    throw new Error(`umount -l ${mountpoint}: ${r.error?.message ?? r.stderr.trim()}`);
  }
}

/** The first regular file listed in `dir`: read only as far as that (a mount's SRC may be huge). */
function firstFile(dir: string): fs.Dirent | undefined {
  const d = fs.opendirSync(dir);
  try {
    for (let e = d.readSync(); e !== null; e = d.readSync()) if (e.isFile()) return e;
    return undefined;
  } finally {
    d.closeSync();
  }
}

/**
 * A regular file in `dir` for BACKING_OPEN: an anonymous O_TMPFILE; failing that, in our own
 * directory, a file created and unlinked at once; in someone else's, an existing regular file
 * opened O_PATH (BACKING_OPEN accepts O_PATH fds, and it needs no read permission). Only in our
 * own directory does anything change there.
 */
export function openTestFile(dir: string, ours: boolean): { fd: number; how: string } | { errors: string[] } {
  const errors: string[] = [];
  try {
    return { fd: fs.openSync(dir, sys().O_TMPFILE | fs.constants.O_RDWR, 0o600), how: 'O_TMPFILE' };
  } catch (err) {
    errors.push(`O_TMPFILE: ${codeOf(err)}`);
  }
  if (ours) {
    const name = path.join(dir, `.tsfuse-probe-${process.pid}`);
    try {
      const fd = fs.openSync(name, 'wx+', 0o600);
      fs.unlinkSync(name);
      return { fd, how: 'created and unlinked' };
    } catch (err) {
      errors.push(`create: ${codeOf(err)}`);
    }
    return { errors };
  }
  try {
    const file = firstFile(dir);
    if (file !== undefined) {
      // O_NOFOLLOW: a name swapped for a symlink meanwhile must not lead to another filesystem.
      return { fd: fs.openSync(path.join(dir, file.name), sys().O_PATH | fs.constants.O_NOFOLLOW), how: `existing file ${file.name} (O_PATH)` };
    }
    errors.push('no regular file in the directory');
  } catch (err) {
    errors.push(`readdir: ${codeOf(err)}`);
  }
  return { errors };
}
