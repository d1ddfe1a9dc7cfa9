// mount(): a Filesystem on a directory, served by this process until unmounted.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { abortConnection, connectionId, openDevice } from '../kernel/device';
import { MountError } from '../kernel/errors';
import { checkMountpoint, mountDevice, requireRoot, resolveMountOptions, unmount as unmountPath } from '../kernel/mount';
import type { MountOptions as KernelMountOptions } from '../kernel/mount';
import type { IoctlFunction } from '../kernel/backing';
import { Session, type SessionStats } from '../kernel/session';
import { deviceTransport } from '../kernel/transport';
import type { Filesystem, ThreadedFilesystem } from './api';
import { Bridge } from './bridge';
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
}

export interface MountHandle {
  readonly mountpoint: string;
  /** Counters (session.stats()), notifications (session.notifyInvalEntry …), negotiated INIT. */
  readonly session: Session;
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
 * Mounts `filesystem` on `mountpoint` (needs root) and serves it from this process's event loop.
 * Resolves once the kernel's INIT has been answered, i.e. when the mount is usable. Fails with
 * a MountError that says why: not root, mountpoint missing or not a directory, mountpoint a
 * dead FUSE mount (clear it with `umount -l`) or a live one (EBUSY: unmount it first),
 * /dev/fuse missing, mount(8) failing, or invalid options.
 */
export async function mount(filesystem: Filesystem | ThreadedFilesystem, target: string, options: MountOptions = {}): Promise<MountHandle> {
  if (typeof (filesystem as ThreadedFilesystem).module === 'string') {
    return mountThreaded(filesystem as ThreadedFilesystem, target, options);
  }
  if (options.threads !== undefined && options.threads !== 1) {
    throw new MountError('EINVAL', target, `threads: ${options.threads}: a Filesystem object is served by one thread; give { module, export, data } to serve on several (see ThreadedFilesystem)`);
  }
  const mountpoint = await prepareMount(target, options);
  const bridge = new Bridge(filesystem as Filesystem);
  const maxWrite = bridge.maxWrite;
  if (!(Number.isInteger(maxWrite) && maxWrite >= 4096 && maxWrite <= 16 * 1024 * 1024)) {
    throw new MountError('EINVAL', mountpoint, `invalid features.maxWrite ${maxWrite}: needs 4096..16 MiB`);
  }
  const fd = openDevice();
  // The kernel fails reads into buffers shorter than max_write + 80 bytes with EINVAL.
  const transport = deviceTransport(fd, maxWrite + 4096, options.transport);
  const session = new Session(transport, bridge, {
    log: options.log,
    debug: options.debug,
    backing: { deviceFd: fd, require: options.requirePassthrough, ioctl: options.backingIoctl },
  });
  try {
    await mountDevice(fd, mountpoint, options);
  } catch (err) {
    transport.close();
    throw err;
  }
  session.start();
  await awaitInit(session, mountpoint, options);
  return new Handle(mountpoint, session, connectionId(mountpoint));
}

/** Checks the options, root and the mountpoint; returns the mountpoint as mountinfo will name it. */
export async function prepareMount(target: string, options: MountOptions): Promise<string> {
  resolveMountOptions(target, options); // invalid options fail before anything is opened
  requireRoot(target);
  await checkMountpoint(target, options.rootMode);
  // As mount(8) and /proc/self/mountinfo will name it; resolved now, while no request of it
  // can come back to this process.
  return fs.promises.realpath(path.resolve(target));
}

/** Waits for INIT to be answered; on failure (or none within initTimeout) detaches the mount. */
export async function awaitInit(session: Session, mountpoint: string, options: MountOptions): Promise<void> {
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
    await unmountPath(mountpoint, { lazy: true }).catch(() => {});
    throw err instanceof MountError ? err : new MountError('EIO', mountpoint, `mounting ${mountpoint} failed at INIT: ${(err as Error).message}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

export class Handle implements MountHandle {
  readonly closed: Promise<void>;

  constructor(readonly mountpoint: string, readonly session: Session, private readonly connection: number | undefined,
    closed: Promise<void> = session.closed) {
    this.closed = closed;
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
