// mount(): a Filesystem on a directory, served by this process until unmounted.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { abortConnection, connectionId } from '../kernel/device';
import { MountError } from '../kernel/errors';
import { checkHandedFd, handedFd, mountpointOfConnection } from '../kernel/handed-fd';
import { checkMountpoint, mountFuse, requireRoot, resolveMountOptions, unmount as unmountPath } from '../kernel/mount';
import type { MountedDevice, MountOptions as KernelMountOptions } from '../kernel/mount';
import { releaseWatchdog } from '../kernel/watchdog';
import type { IoctlFunction } from '../kernel/backing';
import { Session, type SessionStats } from '../kernel/session';
import { deviceTransport } from '../kernel/transport';
import { UringTransport } from '../kernel/uring';
import type { Filesystem, Notifier, ThreadedFilesystem } from './api';
import { sessionNotifier } from './notifier';
import type { NegotiatedInit } from '../protocol/init';
import { Bridge } from './bridge';
import { Errno } from '../protocol/errors';
import { REQUEST_TIMEOUT_MAX } from '../protocol/init';
import { mountThreaded } from './threads';

export interface MountOptions extends KernelMountOptions {
  /** One line per unexpected failure (a handler throwing a non-errno error). Default: console.error. */
  log?: (line: string) => void;
  /** One line per request and per reply (opcode, nodeid, arguments, result, time taken). */
  debug?: (line: string) => void;
  /**
   * How requests are read: 'epoll' (the device polled by the main event loop; the fastest),
   * 'worker' (a reader thread), or 'auto' (default: epoll where this Node allows it).
   */
  transport?: 'auto' | 'epoll' | 'worker';
  /** Milliseconds to wait for the kernel's INIT after mounting (default 10000). */
  initTimeout?: number;
  /**
   * With `features.passthrough`: fail the mount when the kernel
   * does not grant passthrough or refuses backing files (`--passthrough require`), instead of
   * one warning and serving every open through the server.
   */
  requirePassthrough?: boolean;
  /** Test switch: replaces ioctl-napi for BACKING_OPEN/CLOSE (e.g. to inject EPERM). */
  backingIoctl?: IoctlFunction;
  /**
   * Serving threads for a ThreadedFilesystem (default 1), each on its own cloned /dev/fuse fd;
   * the main thread only answers INIT (src/fs/threads.ts). A Filesystem object is served by the
   * main thread alone.
   */
  threads?: number;
  /**
   * Seconds a request may stay unanswered before the kernel aborts the connection, so that a
   * server that hangs fails its callers (ECONNABORTED, then ENOTCONN) instead of blocking them
   * forever (FUSE_REQUEST_TIMEOUT, Linux 6.14+; a whole number 1..65535; 0 or absent: never).
   * The kernel checks about every 15 s, so a request fails between the timeout and the timeout
   * plus 15 s. A kernel without it gets one log line.
   */
  requestTimeout?: number;
  /**
   * Idmapped mounts of this mount may be made (mount_setattr(2) MOUNT_ATTR_IDMAP, e.g. for a
   * container): asks for FUSE_ALLOW_IDMAP (Linux 6.12+). Needs `defaultPermissions`, the
   * kernel's rule: it then checks permissions against the idmapped owners itself. Creating
   * requests carry the mapped uid/gid; other requests made through an idmapped mount carry
   * FUSE_INVALID_UIDGID.
   */
  allowIdmap?: boolean;
  /**
   * Take requests through io_uring ring queues, one per CPU (FUSE_OVER_IO_URING, Linux 6.14+,
   * with the fuse module's `enable_uring` on): `true` uses them when the kernel offers them and
   * otherwise serves over /dev/fuse with one log line saying why; `'require'` fails the mount
   * instead. Default: off.
   */
  ioUring?: boolean | 'require';
}

export interface MountHandle {
  readonly mountpoint: string;
  /** Notifications to the kernel: invalidate a name or an inode's cache, store, retrieve, poll wakeup. */
  readonly notify: Notifier;
  /** What INIT settled with the kernel (flags by name, max_write, passthrough …). */
  readonly negotiated: NegotiatedInit | null;
  /** Null while passthrough is on; else why it is not (not negotiated, or refused by the kernel). */
  readonly passthroughOff: string | null;
  /** Why the session ended, when an error ended it (null while it runs, or after a clean end). */
  readonly endError: Error | null;
  /**
   * Unmounts with umount(8). Rejects with MountError EBUSY while files are open, unless `lazy`:
   * then the mount is detached at once and the session goes on serving the open files until the
   * last one is closed. Resolves when umount(8) is done; `closed` tells when the session ended.
   */
  unmount(options?: { lazy?: boolean }): Promise<void>;
  /**
   * For emergencies: aborts the kernel connection (fusectl), so every waiting and future access
   * fails with ENOTCONN instead of hanging, and detaches the mount lazily.
   */
  abort(): Promise<void>;
  /** Resolves when the session has ended (after unmount, abort, or when the connection died). */
  readonly closed: Promise<void>;
  /** session.stats(), summed over the serving threads of a ThreadedFilesystem. */
  stats(): Promise<SessionStats>;
}

const DEFAULT_INIT_TIMEOUT_MS = 10000;

/**
 * Mounts `filesystem` on `mountpoint` and serves it from this process's event loop: with
 * mount(8) as root, through fusermount3 otherwise (see `via`). A
 * mountpoint `/dev/fd/N` is a /dev/fuse fd a privileged parent already mounted: it is served as
 * it is. Resolves once the kernel's INIT has been answered, i.e. when the mount is usable. Fails
 * with a MountError that says why: mountpoint missing or not a directory, mountpoint a dead FUSE
 * mount (clear it with `umount -l`), /dev/fuse missing, mount(8) or fusermount3 failing, or
 * invalid options. A ThreadedFilesystem is served on `threads` threads (root only for now).
 */
export async function mount(filesystem: Filesystem | ThreadedFilesystem, target: string, options: MountOptions = {}): Promise<MountHandle> {
  checkRequestTimeout(target, options.requestTimeout);
  if (options.allowIdmap && !options.defaultPermissions) {
    throw new MountError('EINVAL', target, 'allowIdmap needs defaultPermissions (-o allow_idmap,default_permissions): the kernel fails INIT otherwise');
  }
  if (typeof (filesystem as ThreadedFilesystem).module === 'string') {
    return mountThreaded(filesystem as ThreadedFilesystem, target, options);
  }
  if (options.threads !== undefined && options.threads !== 1) {
    throw new MountError('EINVAL', target, `threads: ${options.threads}: a Filesystem object is served by one thread; give { module, export, data } to serve on several (see ThreadedFilesystem)`);
  }
  const handed = handedFd(target);
  if (handed === undefined) resolveMountOptions(target, options); // invalid options fail before anything is opened
  const bridge = new Bridge(filesystem as Filesystem);
  if (handed === undefined && options.allowRoot) {
    allowOwnerAndRoot(bridge, resolveMountOptions(target, options).userId);
  }
  const maxWrite = bridge.maxWrite;
  if (!(Number.isInteger(maxWrite) && maxWrite >= 4096 && maxWrite <= 16 * 1024 * 1024)) {
    throw new MountError('EINVAL', target, `invalid features.maxWrite ${maxWrite}: needs 4096..16 MiB`);
  }
  let mountpoint: string;
  let device: MountedDevice;
  if (handed !== undefined) {
    // The parent mounted it and unmounts it; where, is only for unmount() and messages.
    mountpoint = mountpointOfConnection(checkHandedFd(handed)) ?? target;
    device = { fd: handed };
  } else {
    await checkMountpoint(target, options.rootMode);
    // As mount(8) and /proc/self/mountinfo will name it; resolved now, while no request of it
    // can come back to this process.
    mountpoint = await fs.promises.realpath(path.resolve(target));
    device = await mountFuse(mountpoint, options);
  }
  const session = serve(device, bridge, options, mountpoint);
  // auto_unmount: the session ends when the mount is gone; only our death may wake the watchdog.
  if (device.watch !== undefined) {
    const watch = device.watch;
    void session.closed.then(() => releaseWatchdog(watch));
  }
  session.start();
  await awaitInit(session, mountpoint, options, handed === undefined);
  return new Handle(mountpoint, session, connectionId(mountpoint));
}

/**
 * The root route's checks for a ThreadedFilesystem (src/fs/threads.ts): the options, root and
 * the mountpoint; returns the mountpoint as mountinfo will name it.
 */
export async function prepareMount(target: string, options: MountOptions): Promise<string> {
  resolveMountOptions(target, options); // invalid options fail before anything is opened
  requireRoot(target);
  await checkMountpoint(target, options.rootMode);
  // As mount(8) and /proc/self/mountinfo will name it; resolved now, while no request of it
  // can come back to this process.
  return fs.promises.realpath(path.resolve(target));
}

/**
 * Waits for INIT to be answered; on failure (or none within initTimeout) ends the session and,
 * when the mount is ours (`detach`), detaches it.
 */
export async function awaitInit(session: Session, mountpoint: string, options: MountOptions, detach = true): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = options.initTimeout ?? DEFAULT_INIT_TIMEOUT_MS;
  try {
    await Promise.race([
      session.ready,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new MountError('ETIMEDOUT', mountpoint, `the kernel sent no INIT within ${timeout} ms after mounting ${mountpoint}`)), timeout);
      }),
    ]);
  } catch (err) {
    session.close();
    if (detach) await unmountPath(mountpoint, { lazy: true }).catch(() => {});
    throw err instanceof MountError ? err : new MountError('EIO', mountpoint, `mounting ${mountpoint} failed at INIT: ${(err as Error).message}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

/** The session on a mounted device fd; a failure here unmounts what was just mounted. */
function serve({ fd, watch }: MountedDevice, bridge: Bridge, options: MountOptions, mountpoint: string): Session {
  try {
    // The kernel fails reads into buffers shorter than max_write + 80 bytes with EINVAL.
    const device = deviceTransport(fd, bridge.maxWrite + 4096, options.transport);
    const transport = options.ioUring === undefined || options.ioUring === false
      ? device
      : new UringTransport(device, fd, { mode: options.ioUring === 'require' ? 'require' : 'auto', log: options.log, debug: options.debug });
    return new Session(transport, bridge, {
      log: options.log,
      debug: options.debug,
      backing: { deviceFd: fd, require: options.requirePassthrough, ioctl: options.backingIoctl },
      requestTimeout: options.requestTimeout,
      allowIdmap: options.allowIdmap,
      overIoUring: transport !== device,
    });
  } catch (err) {
    fs.closeSync(fd);
    if (watch !== undefined) releaseWatchdog(watch);
    void unmountPath(mountpoint, { lazy: true }).catch(() => {});
    throw err;
  }
}

function checkRequestTimeout(target: string, seconds: number | undefined): void {
  if (seconds === undefined) return;
  if (!(Number.isInteger(seconds) && seconds >= 0 && seconds <= REQUEST_TIMEOUT_MAX)) {
    throw new MountError('EINVAL', target, `requestTimeout: ${String(seconds)}: expected whole seconds from 0 (none) to ${REQUEST_TIMEOUT_MAX}`);
  }
}

/** allow_root: requests of users other than the owner and root are refused, as libfuse does. */
function allowOwnerAndRoot(bridge: Bridge, owner: number): void {
  const dispatch = bridge.dispatch.bind(bridge);
  bridge.dispatch = (req, ctx) => (ctx.uid === owner || ctx.uid === 0 ? dispatch(req, ctx) : Errno.EACCES);
}

export class Handle implements MountHandle {
  readonly closed: Promise<void>;
  readonly notify: Notifier;

  /** @internal `session` is not part of MountHandle: users get notify, stats() and the getters. */
  constructor(readonly mountpoint: string, readonly session: Session, private readonly connection: number | undefined,
    closed: Promise<void> = session.closed) {
    this.closed = closed;
    this.notify = sessionNotifier(session);
  }

  get negotiated(): NegotiatedInit | null {
    return this.session.negotiated;
  }

  get passthroughOff(): string | null {
    const backing = this.session.backing;
    if (backing === null || !backing.enabled) return backing?.disabledReason ?? 'not negotiated';
    return null;
  }

  get endError(): Error | null {
    return this.session.endError;
  }

  stats(): Promise<SessionStats> {
    return Promise.resolve(this.session.stats());
  }

  async unmount(options: { lazy?: boolean } = {}): Promise<void> {
    try {
      await unmountPath(this.mountpoint, options);
    } catch (err) {
      // Unmounted from outside already: what was asked for is done.
      if (err instanceof MountError && err.code === 'EINVAL') return;
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (this.connection !== undefined) {
      try {
        abortConnection(this.connection);
      } catch {
        // No fusectl: closing our device fd below aborts the connection as well.
      }
    }
    this.session.close();
    await unmountPath(this.mountpoint, { lazy: true }).catch(() => {});
  }
}
