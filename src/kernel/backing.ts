// Passthrough backing files: one backing id per inode, registered with FUSE_DEV_IOC_BACKING_OPEN
// and shared by every open of that inode, closed with FUSE_DEV_IOC_BACKING_CLOSE when the last
// of them is released.
//
// The kernel's rules (fs/fuse/iomode.c, passthrough.c, backing.c; each measured on Linux
// 6.18) that shape this file:
//  - All opens of an inode must agree. While the inode has a passthrough open, an open reply
//    without FOPEN_PASSTHROUGH makes the application's open() fail with EIO; a passthrough
//    reply while the inode has cached (plain) opens fails the same way, and so does a second
//    passthrough open naming a different backing id. Hence one refcounted id per nodeid, and a
//    per-inode mode: an inode with passthrough opens passes every further open through (even
//    when the filesystem or its policy asked for a plain one), and an inode with plain opens
//    serves a passthrough request plain.
//  - The kernel looks the backing id up when the *opener* processes the reply, after our write
//    returned. Closing the id right after the write can therefore race the opener (EIO). The id
//    is closed only when every open that was answered with it has been RELEASEd: the kernel
//    sends RELEASE only after the open was processed (also when it failed: then at once).
//  - FOPEN_PASSTHROUGH combines only with FOPEN_DIRECT_IO, FOPEN_PARALLEL_DIRECT_WRITES and
//    FOPEN_NOFLUSH (FOPEN_PASSTHROUGH_MASK); any other flag, KEEP_CACHE included, is EINVAL
//    inside the kernel and EIO for the application.
//  - BACKING_OPEN fails with EPERM when passthrough was not negotiated or the server lacks
//    CAP_SYS_ADMIN in the initial user namespace, ENOTTY before Linux 6.9, EOPNOTSUPP without
//    CONFIG_FUSE_PASSTHROUGH: none of those gets better for the next file, so the session stops
//    trying and serves every open plain. ELOOP says the backing file's filesystem is stacked as
//    deep as max_stack_depth allows: that holds for every file of that filesystem (st_dev), not
//    for a submount beside it, so those files are served plain. EBADF, EINVAL (not a regular
//    file) and EISDIR are about one file: that open is served plain.
//  - With `require`, nothing that was asked to pass through is served plain: the refusals above
//    fail the open instead (with their errno), and are reported once. An open that fails must
//    not have changed SRC, so the filesystem's side effects wait for the decision (the open's
//    commit(), src/fs/bridge.ts), and before a CREATE makes a file, checkDir() asks the kernel
//    about its filesystem with a file that has no name. The kernel looks at the file's type
//    before its stack depth (a directory gets EISDIR even on overlayfs, measured on 6.18), so
//    only a regular file can tell.
//  - Backing ids belong to the connection, not to the fd that registered them: an open answered
//    on one cloned fd and released on another finds the same state here, because the session
//    keeps one registry for all its fds.
//
// The registry never calls the ioctl before INIT negotiated FUSE_PASSTHROUGH (`negotiated()`).
// It only borrows the backing fd for the duration of BACKING_OPEN: the kernel takes its own
// reference, and the filesystem may close its fd whenever it likes.
import * as fs from 'node:fs';
import * as os from 'node:os';
import {
  FOPEN_DIRECT_IO, FOPEN_NOFLUSH, FOPEN_PARALLEL_DIRECT_WRITES, FOPEN_PASSTHROUGH,
} from '../protocol/constants';
import type { ErrnoName } from '../protocol/errors';
import {
  encodeBackingMap, encodeU32Arg, FUSE_DEV_IOC_BACKING_CLOSE, FUSE_DEV_IOC_BACKING_OPEN,
} from '../protocol/ioctl';
import type { OpenOut } from '../protocol/types';
import { ioctl } from './device';
import { errnoCodeOf } from './errors';
import { explainBackingErrno } from './probe';
import type { SharedBackingTable } from './backing-table';
import { openTestFile } from './probe-live';

/**
 * ioctl(2) as ioctl-napi exposes it: (fd, request as uint32, argument buffer) -> result; throws
 * an Error whose `code` is the errno number as a string. Tests inject their own to make the
 * kernel refuse (e.g. `code: '1'`, EPERM).
 */
export type IoctlFunction = (fd: number, request: number, arg: Buffer) => number;

/** The flags FOPEN_PASSTHROUGH may be combined with (the kernel's FOPEN_PASSTHROUGH_MASK). */
export const FOPEN_PASSTHROUGH_MASK = FOPEN_PASSTHROUGH | FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES | FOPEN_NOFLUSH;

/**
 * Errnos of BACKING_OPEN that hold for every file of the session: the first one switches
 * passthrough off for good (or, with `require`, fails every open asked to pass through).
 */
export const SESSION_WIDE_ERRNOS: ReadonlySet<ErrnoName> = new Set<ErrnoName>(['EPERM', 'ENOTTY', 'EOPNOTSUPP']);
/** Errnos that are about the one file: that open is served plain, quietly. */
const PER_FILE_ERRNOS: ReadonlySet<ErrnoName> = new Set<ErrnoName>(['EBADF', 'EINVAL', 'EISDIR']);

/** What the filesystem answered to an OPEN/CREATE/TMPFILE, in wire terms. */
export interface OpenIntent {
  fh: number;
  /** FOPEN_* flags the filesystem asked for. A FOPEN_PASSTHROUGH bit here counts as `passthrough: true`. */
  openFlags: number;
  /** The filesystem asks for passthrough to `backingFd`. */
  passthrough?: boolean;
  /** An fd open on the backing file (any access mode, O_PATH too); needed for the inode's first passthrough open. */
  backingFd?: number;
}

/** One inode's opens: all passthrough with one backing id, or all plain. */
export interface InodeBackingState {
  readonly mode: 'passthrough' | 'plain';
  /** 0 for plain. */
  readonly backingId: number;
  /** Opens answered and not yet released. */
  readonly opens: number;
}

export interface BackingRegistryOptions {
  /** The session's /dev/fuse fd (any clone of the connection would do). */
  deviceFd: number;
  /**
   * `require`: a kernel that does not grant passthrough is fatal (negotiated(), check() and
   * open() throw PassthroughUnavailableError) instead of a warning and plain opens.
   */
  require?: boolean;
  /** Default: ioctl() of src/kernel/device.ts, which loads ioctl-napi at its first call. */
  ioctl?: IoctlFunction;
  /** Once per session at most: why passthrough is off and what to do. */
  warn?: (message: string) => void;
  /** Per-open decisions worth seeing with --debug. */
  debug?: (message: string) => void;
  /**
   * The connection's per-inode state when several threads serve it (src/kernel/backing-table.ts):
   * opens and releases of every thread meet there instead of in this registry's own map.
   */
  shared?: SharedBackingTable;
}

/** Passthrough was required (`--passthrough require`) and the kernel does not allow it. */
export class PassthroughUnavailableError extends Error {
  /** Errno name of BACKING_OPEN, or null when INIT did not negotiate passthrough. */
  readonly code: ErrnoName | null;
  readonly reason: string;
  readonly advice: string;

  constructor(code: ErrnoName | null, reason: string, advice: string) {
    super(`FUSE passthrough is required but unavailable: ${reason}; ${advice}`);
    this.name = 'PassthroughUnavailableError';
    this.code = code;
    this.reason = reason;
    this.advice = advice;
  }
}

interface InodeEntry {
  mode: 'passthrough' | 'plain';
  backingId: number;
  opens: number;
  /** fh -> number of live opens answered with it (filesystems may hand out one fh for many opens). */
  fhs: Map<number, number>;
}

/** st_dev of the file `fd` is open on (O_PATH fds too); -1 if it cannot be statted. */
function deviceOf(fd: number): number {
  try {
    return fs.fstatSync(fd).dev;
  } catch {
    return -1;
  }
}

/** The errno name of an ioctl error: ioctl-napi's (`code` = '1'), a Node-style one (`code` = 'EPERM') or a number. */
export function ioctlErrno(err: unknown): ErrnoName {
  return errnoCodeOf(err) ?? 'EIO';
}

export class BackingRegistry {
  private readonly deviceFd: number;
  private readonly require: boolean;
  private readonly ioctl: IoctlFunction;
  private readonly warnFn: (message: string) => void;
  private readonly debugFn: ((message: string) => void) | undefined;
  private readonly inodes = new Map<number, InodeEntry>();
  private readonly ids = new Set<number>();
  /** Passthrough negotiated at INIT and not switched off since. */
  private active = false;
  private isNegotiated = false;
  /** INIT was answered without the filesystem asking for passthrough. */
  private notAsked = false;
  private reasonOff: string | null = 'INIT not answered yet';
  private warned = false;
  private maxStackDepth = 1;
  private readonly perFileWarned = new Set<ErrnoName>();
  /** st_dev of filesystems whose files BACKING_OPEN refused with ELOOP (stacked too deep). */
  private readonly tooDeep = new Set<number>();
  /** st_dev of filesystems whose nameless test file BACKING_OPEN accepted (probe()). */
  private readonly admitted = new Set<number>();
  private totals = { registered: 0, closed: 0, failed: 0 };
  /** ioctl arguments, reused: one BACKING_OPEN per inode's first open, one BACKING_CLOSE per last release. */
  private readonly mapArg = encodeBackingMap(-1);
  private readonly idArg = encodeU32Arg(0);
  private readonly shared: SharedBackingTable | undefined;

  constructor(options: BackingRegistryOptions) {
    this.shared = options.shared;
    this.deviceFd = options.deviceFd;
    this.require = options.require ?? false;
    this.ioctl = options.ioctl ?? ioctl;
    this.warnFn = options.warn ?? ((message) => process.emitWarning(message, 'TsfusePassthroughWarning'));
    this.debugFn = options.debug;
  }

  /**
   * Call once INIT has been answered. `granted`: FUSE_PASSTHROUGH is in the reply (negotiated
   * .passthrough). `wanted`: the filesystem asked for it — only then is a refusal worth a
   * warning; `why` says what kept it off (negotiateInit's warnings about it). Throws
   * PassthroughUnavailableError when required and not granted.
   */
  negotiated(granted: boolean, wanted = granted, why?: string, maxStackDepth = 1): void {
    this.isNegotiated = granted;
    this.notAsked = !wanted;
    this.maxStackDepth = maxStackDepth;
    this.active = granted;
    if (this.shared !== undefined) this.shared.active = granted;
    if (granted) {
      this.reasonOff = null;
      return;
    }
    this.reasonOff = why ?? 'the kernel did not offer FUSE_PASSTHROUGH in INIT';
    if (!wanted && !this.require) return;
    const advice = 'use Linux 6.9 or later built with CONFIG_FUSE_PASSTHROUGH=y (see `tsfuse probe`)';
    if (this.require) throw new PassthroughUnavailableError(null, this.reasonOff, advice);
    this.warnOnce(`passthrough off: ${this.reasonOff}; ${advice}; until then READ/WRITE go through the server.`);
  }

  /** Passthrough was negotiated and has not been switched off: open() may register backing files. */
  get enabled(): boolean {
    return this.shared !== undefined ? this.isNegotiated && this.shared.active : this.active;
  }

  /**
   * For a session joining a connection whose INIT another session answered (negotiated() ran
   * there): takes what INIT settled; whether passthrough is still on is the shared table's.
   */
  join(granted: boolean, maxStackDepth = 1): void {
    this.isNegotiated = granted;
    this.maxStackDepth = maxStackDepth;
    this.active = granted;
    this.reasonOff = granted ? null : 'the kernel did not offer FUSE_PASSTHROUGH in INIT';
    // Joining sessions start before the INIT reply is written, so before negotiated() and check()
    // run on the session that answers it (which may still switch passthrough off).
    if (this.shared !== undefined) this.shared.active = granted;
  }

  /** Why passthrough is off (null while it is on). */
  get disabledReason(): string | null {
    return this.reasonOff;
  }

  /** Backing ids registered with the kernel and not closed yet. 0 once every file is closed. */
  get registeredIds(): number {
    return this.shared !== undefined ? this.shared.stats.live : this.ids.size;
  }

  /** Opens answered and not released, over all inodes. */
  get openCount(): number {
    let n = 0;
    for (const entry of this.inodes.values()) n += entry.opens;
    return n;
  }

  /**
   * Backing files registered for opens, BACKING_CLOSEs of them, BACKING_OPENs that failed (the
   * checks' included), since the start.
   */
  get stats(): { registered: number; closed: number; failed: number; live: number } {
    if (this.shared !== undefined) return this.shared.stats;
    return { ...this.totals, live: this.ids.size };
  }

  /** The inode's current opens (undefined: none). */
  inode(nodeid: number): InodeBackingState | undefined {
    const shared = this.shared;
    if (shared !== undefined) return shared.locked(() => shared.get(nodeid));
    const entry = this.inodes.get(nodeid);
    return entry === undefined ? undefined : { mode: entry.mode, backingId: entry.backingId, opens: entry.opens };
  }

  /**
   * Decides the open reply for `nodeid` and takes one reference on the inode's backing id.
   * Call it when encoding the OPEN/CREATE/TMPFILE reply, write the reply, and then either
   * `release()` at RELEASE or `notDelivered()` if the write failed (the kernel then never
   * sends a RELEASE for it).
   *
   * Throws PassthroughUnavailableError only with `require`, when the kernel refuses
   * passthrough for the whole session; the open is then not counted.
   */
  open(nodeid: number, intent: OpenIntent): OpenOut {
    const wants = intent.passthrough === true || (intent.openFlags & FOPEN_PASSTHROUGH) !== 0;
    const flags = intent.openFlags & ~FOPEN_PASSTHROUGH;
    if (!this.isNegotiated) {
      // A filesystem that hands out backing files without having asked at INIT would otherwise
      // be served plain without a word (the kernel cannot be asked after INIT).
      if (wants && this.notAsked) {
        this.warnOnce(`passthrough off: an open reply (nodeid ${nodeid}) asked for passthrough, but the filesystem did not ask for it at INIT: set \`features: { passthrough: true }\` on it; until then READ/WRITE go through the server.`);
      }
      return { fh: intent.fh, openFlags: flags };
    }
    const shared = this.shared;
    if (shared !== undefined) return shared.locked(() => this.openShared(shared, nodeid, intent, wants, flags));

    let entry = this.inodes.get(nodeid);
    if (entry === undefined) {
      let backingId = 0;
      if (wants && this.active) {
        if (intent.backingFd === undefined) this.debug(`nodeid ${nodeid}: passthrough asked without a backingFd; served plain`);
        else backingId = this.register(nodeid, intent.backingFd);
      }
      entry = { mode: backingId > 0 ? 'passthrough' : 'plain', backingId, opens: 0, fhs: new Map() };
      this.inodes.set(nodeid, entry);
    } else if (entry.mode === 'plain' && wants) {
      this.debug(`nodeid ${nodeid}: passthrough asked, served plain: the inode has ${entry.opens} plain open(s)`);
    } else if (entry.mode === 'passthrough' && !wants) {
      this.debug(`nodeid ${nodeid}: plain open passes through to backing id ${entry.backingId}: the inode has ${entry.opens} passthrough open(s)`);
    }
    entry.opens++;
    entry.fhs.set(intent.fh, (entry.fhs.get(intent.fh) ?? 0) + 1);
    if (entry.mode === 'plain') return { fh: intent.fh, openFlags: flags };
    return { fh: intent.fh, openFlags: (flags & FOPEN_PASSTHROUGH_MASK) | FOPEN_PASSTHROUGH, backingId: entry.backingId };
  }

  /**
   * RELEASE of an open this registry answered: drops its reference and closes the backing id
   * with the inode's last open. Returns false for an open it does not know (not counted, e.g.
   * answered before passthrough was negotiated, or released twice).
   */
  release(nodeid: number, fh: number): boolean {
    const shared = this.shared;
    if (shared !== undefined) return shared.locked(() => this.releaseShared(shared, nodeid, fh));
    const entry = this.inodes.get(nodeid);
    const n = entry?.fhs.get(fh);
    if (entry === undefined || n === undefined) {
      if (this.isNegotiated) this.debug(`RELEASE of nodeid ${nodeid} fh ${fh}: no open recorded`);
      return false;
    }
    if (n === 1) entry.fhs.delete(fh);
    else entry.fhs.set(fh, n - 1);
    if (--entry.opens === 0) {
      this.inodes.delete(nodeid);
      if (entry.mode === 'passthrough') this.close(entry.backingId);
    }
    return true;
  }

  /**
   * open() with the state in shared memory, under its lock. Opens are counted per inode only:
   * a per-fh count would need a map every thread can see, and the kernel releases each open it
   * was given exactly once.
   */
  private openShared(shared: SharedBackingTable, nodeid: number, intent: OpenIntent, wants: boolean, flags: number): OpenOut {
    const entry = shared.get(nodeid);
    let mode: 'passthrough' | 'plain';
    let backingId: number;
    if (entry === undefined) {
      backingId = 0;
      if (wants && shared.active) {
        if (intent.backingFd === undefined) this.debug(`nodeid ${nodeid}: passthrough asked without a backingFd; served plain`);
        else backingId = this.register(nodeid, intent.backingFd);
      }
      mode = backingId > 0 ? 'passthrough' : 'plain';
      if (!shared.addOpen(nodeid, mode, backingId)) {
        // Every slot holds an inode with open files: this one goes plain and is not counted, so a
        // passthrough open of it later would fail (EIO). The table is sized far past that.
        if (backingId > 0) this.close(backingId);
        this.debug(`nodeid ${nodeid}: the shared backing table is full; served plain`);
        return { fh: intent.fh, openFlags: flags };
      }
    } else {
      ({ mode, backingId } = entry);
      if (mode === 'plain' && wants) this.debug(`nodeid ${nodeid}: passthrough asked, served plain: the inode has ${entry.opens} plain open(s)`);
      else if (mode === 'passthrough' && !wants) this.debug(`nodeid ${nodeid}: plain open passes through to backing id ${backingId}: the inode has ${entry.opens} passthrough open(s)`);
      shared.addOpen(nodeid, mode, backingId);
    }
    if (mode === 'plain') return { fh: intent.fh, openFlags: flags };
    return { fh: intent.fh, openFlags: (flags & FOPEN_PASSTHROUGH_MASK) | FOPEN_PASSTHROUGH, backingId };
  }

  private releaseShared(shared: SharedBackingTable, nodeid: number, fh: number): boolean {
    const was = shared.dropOpen(nodeid);
    if (was === undefined) {
      if (this.isNegotiated) this.debug(`RELEASE of nodeid ${nodeid} fh ${fh}: no open recorded`);
      return false;
    }
    if (was.opens === 1 && was.mode === 'passthrough') this.close(was.backingId);
    return true;
  }

  /** The reply carrying this open never reached the kernel (its write failed): no RELEASE will come. */
  notDelivered(nodeid: number, fh: number): boolean {
    return this.release(nodeid, fh);
  }

  /**
   * Checks at start that this process may register backing files at all, so that a refusal
   * shows at mount time instead of at the first open: one BACKING_OPEN of `fd` (and
   * BACKING_CLOSE if it registered). The kernel tests the connection and CAP_SYS_ADMIN (EPERM)
   * before it looks at the file (EBADF, EISDIR, EINVAL for other non-regular files, ELOOP for
   * its stack depth), so a directory fd is enough: EISDIR means allowed, and registers nothing.
   * EPERM/ENOTTY/EOPNOTSUPP switch passthrough off (with `require`, throw). Returns whether
   * passthrough stays on; no ioctl when it is off.
   */
  check(fd: number): boolean {
    if (!this.enabled) return false;
    let id: number;
    try {
      id = this.ioctl(this.deviceFd, FUSE_DEV_IOC_BACKING_OPEN, encodeBackingMap(fd));
    } catch (err) {
      const code = ioctlErrno(err);
      if (code === 'EPERM' || code === 'ENOTTY' || code === 'EOPNOTSUPP') {
        // At start a refusal is thrown to whoever mounts, who says it once: no warning too.
        if (this.require) throw this.unavailable(code);
        this.switchOff(code);
        return false;
      }
      this.debug(`passthrough check: BACKING_OPEN of fd ${fd} answered ${code}: allowed`);
      return true;
    }
    try {
      this.ioctl(this.deviceFd, FUSE_DEV_IOC_BACKING_CLOSE, encodeU32Arg(id));
    } catch (err) {
      this.debug(`passthrough check: BACKING_CLOSE of id ${id} failed with ${ioctlErrno(err)}`);
    }
    return true;
  }

  /**
   * At start: whether the kernel takes backing files from the filesystem the directory `dirFd`
   * (the source) is on, asked with a file there that has no name (probe()); without one, the
   * directory itself checks the capability (check()). A refusal of the whole session is
   * handled as check() does. ELOOP (stacked too deep): with `require` this throws
   * PassthroughUnavailableError, since every open would fail; otherwise that filesystem's
   * files are served plain from now on, after one warning. Returns whether passthrough may
   * still work for the source's files.
   */
  checkSource(dirFd: number): boolean {
    if (!this.active) return false;
    const code = this.probe(dirFd);
    if (code === undefined) return this.check(dirFd);
    if (code === null) return true;
    if (SESSION_WIDE_ERRNOS.has(code)) {
      // At start a refusal is thrown to whoever mounts, who says it once: no warning too.
      if (this.require) throw this.unavailable(code);
      this.switchOff(code);
      return false;
    }
    if (code !== 'ELOOP') return true;
    const { advice } = this.explain('ELOOP');
    const reason = `ELOOP: the source's filesystem is stacked too deep for this mount's max_stack_depth ${this.maxStackDepth}`;
    if (this.require) throw new PassthroughUnavailableError('ELOOP', reason, advice);
    this.warnFn(`passthrough off for the files of the source's filesystem: ${reason}; ${advice}; they go through the server.`);
    return false;
  }

  /**
   * With `require`, before a CREATE makes a file in the directory `dirFd`: throws
   * PassthroughUnavailableError when the kernel refuses the files of its filesystem, so that the
   * open fails with nothing made. The answer is kept per filesystem (st_dev); a filesystem
   * where no test file can be had is left to the open itself. Without `require` a refused open
   * is served plain, so there is nothing to check.
   */
  checkDir(dirFd: number): void {
    if (!this.require || !this.active) return;
    const dev = deviceOf(dirFd);
    // A refusal of a named file there outweighs the probe's answer.
    if (this.tooDeep.has(dev)) this.refuseRequired('ELOOP');
    if (this.admitted.has(dev)) return;
    const code = this.probe(dirFd);
    if (code === 'ELOOP') this.refuseRequired('ELOOP');
    if (code !== null && code !== undefined && SESSION_WIDE_ERRNOS.has(code)) this.switchOff(code);
  }

  /**
   * BACKING_OPEN (and BACKING_CLOSE) of a regular file on the filesystem of the directory
   * `dirFd` that leaves nothing behind there: an O_TMPFILE, else an existing file opened O_PATH.
   * Remembers the answer for the st_dev of the directory and of the file (on overlayfs with
   * layers on several filesystems they differ). Returns null when the kernel accepted it, its
   * errno when it refused, undefined when no test file could be had.
   */
  private probe(dirFd: number): ErrnoName | null | undefined {
    const file = openTestFile(`/proc/self/fd/${dirFd}`, false);
    if ('errors' in file) {
      this.debug(`no test file for BACKING_OPEN in fd ${dirFd}: ${file.errors.join(', ')}`);
      return undefined;
    }
    try {
      const devs = [deviceOf(dirFd), deviceOf(file.fd)].filter((dev) => dev >= 0);
      let id: number;
      try {
        id = this.ioctl(this.deviceFd, FUSE_DEV_IOC_BACKING_OPEN, encodeBackingMap(file.fd, 0, this.mapArg));
      } catch (err) {
        this.totals.failed++;
        const code = ioctlErrno(err);
        this.debug(`BACKING_OPEN of a test file (${file.how}) in fd ${dirFd} answered ${code}`);
        if (code === 'ELOOP') for (const dev of devs) this.tooDeep.add(dev);
        return code;
      }
      try {
        this.ioctl(this.deviceFd, FUSE_DEV_IOC_BACKING_CLOSE, encodeU32Arg(id, this.idArg));
      } catch (err) {
        this.debug(`BACKING_CLOSE of the test file's id ${id} failed with ${ioctlErrno(err)}`);
      }
      for (const dev of devs) this.admitted.add(dev);
      return null;
    } finally {
      fs.closeSync(file.fd);
    }
  }

  /**
   * The connection is gone (unmount, ENODEV): forget everything without ioctls, which would
   * fail now, and which the kernel made moot by dropping the connection's ids.
   */
  clear(): void {
    this.inodes.clear();
    this.ids.clear();
    this.active = false;
    this.shared?.locked(() => this.shared!.clear());
    // Handlers still finishing answer plain, untracked: their replies are not written any more.
    this.isNegotiated = false;
    this.notAsked = false;
  }

  /** BACKING_OPEN; 0 when the kernel refused this file (or, from now on, every file). */
  private register(nodeid: number, fd: number): number {
    if (this.tooDeep.size > 0 && this.tooDeep.has(deviceOf(fd))) return this.onTooDeep(nodeid);
    let id: number;
    try {
      id = this.ioctl(this.deviceFd, FUSE_DEV_IOC_BACKING_OPEN, encodeBackingMap(fd, 0, this.mapArg));
    } catch (err) {
      this.totals.failed++;
      this.shared?.countRegistered(false);
      const code = ioctlErrno(err);
      if (SESSION_WIDE_ERRNOS.has(code)) {
        this.switchOff(code);
      } else if (code === 'ELOOP') {
        return this.onTooDeep(nodeid, deviceOf(fd));
      } else if (PER_FILE_ERRNOS.has(code)) {
        this.debug(`nodeid ${nodeid}: BACKING_OPEN of fd ${fd} failed with ${code}; served plain`);
      } else if (!this.perFileWarned.has(code)) {
        // Not a refusal we know (ENOMEM, EMFILE …): this open goes plain, later ones try again.
        this.perFileWarned.add(code);
        this.warnFn(`passthrough: BACKING_OPEN failed with ${code} (nodeid ${nodeid}); that file is served through the server. Further ${code} failures are not reported.`);
      }
      return 0;
    }
    if (!(Number.isInteger(id) && id >= 1)) {
      // The kernel returns ids >= 1; anything else in a reply would be EIO for the application.
      this.totals.failed++;
      this.shared?.countRegistered(false);
      this.debug(`nodeid ${nodeid}: BACKING_OPEN returned ${id}; served plain`);
      return 0;
    }
    this.totals.registered++;
    this.shared?.countRegistered(true);
    this.ids.add(id);
    this.debug(`nodeid ${nodeid}: backing id ${id} registered (fd ${fd})`);
    return id;
  }

  private close(id: number): void {
    this.ids.delete(id);
    this.totals.closed++;
    this.shared?.countClosed();
    try {
      this.ioctl(this.deviceFd, FUSE_DEV_IOC_BACKING_CLOSE, encodeU32Arg(id, this.idArg));
      this.debug(`backing id ${id} closed`);
    } catch (err) {
      // The kernel keeps the backing file alive for files still using it; a failed close only
      // leaks the id until the connection ends.
      this.warnFn(`passthrough: BACKING_CLOSE of backing id ${id} failed with ${ioctlErrno(err)}`);
    }
  }

  /**
   * A session-wide refusal: no more BACKING_OPENs; inodes already passing through keep their
   * ids. With `require` passthrough stays on and this open fails (and so will the next).
   */
  private switchOff(code: ErrnoName): void {
    if (this.require) this.refuseRequired(code);
    const { reason, advice } = this.explain(code);
    this.active = false;
    if (this.shared !== undefined) this.shared.active = false;
    this.reasonOff = reason;
    const meanwhile = advice.includes('through the server') ? '' : '; until then READ/WRITE go through the server';
    this.warnOnce(`passthrough off: ${reason}; ${advice}${meanwhile}.`);
  }

  /**
   * ELOOP: the file's filesystem is stacked too deep. Its files are served plain from now on
   * (`newDev`: its st_dev, when this BACKING_OPEN found out; else an earlier one did), other
   * filesystems in SRC (submounts) keep passing through. With `require`, the open fails instead.
   */
  private onTooDeep(nodeid: number, newDev?: number): number {
    if (this.require) this.refuseRequired('ELOOP');
    if (newDev !== undefined) {
      if (newDev >= 0) this.tooDeep.add(newDev);
      const { reason, advice } = this.explain('ELOOP');
      this.warnFn(`passthrough off for the files of one filesystem in the source (first: nodeid ${nodeid}): ${reason}; ${advice}; its files go through the server.`);
    }
    this.debug(`nodeid ${nodeid}: its filesystem is stacked too deep for passthrough; served plain`);
    return 0;
  }

  /** `require`: this open fails rather than being served plain; said once. */
  private refuseRequired(code: ErrnoName): never {
    const error = this.unavailable(code);
    this.warnOnce(`passthrough refused: ${error.reason}; ${error.advice}. With --passthrough=require the opens it refuses fail (${code}) instead of going through the server.`);
    throw error;
  }

  private unavailable(code: ErrnoName): PassthroughUnavailableError {
    const { reason, advice } = this.explain(code);
    return new PassthroughUnavailableError(code, reason, advice);
  }

  private explain(code: ErrnoName): { reason: string; advice: string } {
    // Passthrough was negotiated (else there would be no ioctl), so EPERM means the capability.
    const { reason, advice } = explainBackingErrno(code, { release: os.release(), capSysAdmin: code === 'EPERM' ? false : undefined });
    if (code === 'ELOOP' && this.maxStackDepth < 2) {
      return { reason, advice: `${advice}, or mount with --max-stack-depth 2 (then nothing can be stacked on this mount)` };
    }
    return { reason, advice };
  }

  private warnOnce(message: string): void {
    if (this.warned) return;
    this.warned = true;
    if (this.shared !== undefined && !this.shared.firstWarning()) return;
    this.warnFn(message);
  }

  private debug(message: string): void {
    this.debugFn?.(`backing: ${message}`);
  }
}
