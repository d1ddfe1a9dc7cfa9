// mount(): a Filesystem on a directory, served by this process until unmounted.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { abortConnection, connectionId, openDevice } from '../kernel/device';
import { MountError } from '../kernel/errors';
import { checkMountpoint, mountDevice, requireRoot, resolveMountOptions, unmount as unmountPath } from '../kernel/mount';
import type { MountOptions as KernelMountOptions } from '../kernel/mount';
import type { IoctlFunction } from '../kernel/backing';
import { Session } from '../kernel/session';
import { deviceTransport } from '../kernel/transport';
import type { Filesystem } from './api';
import { Bridge } from './bridge';

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
   * [passthrough wiring, helper-2] With `features.passthrough`: fail the mount when the kernel
   * does not grant passthrough or refuses backing files (`--passthrough require`), instead of
   * one warning and serving every open through the server.
   */
  requirePassthrough?: boolean;
  /** [passthrough wiring, helper-2] Test switch: replaces ioctl-napi for BACKING_OPEN/CLOSE (e.g. to inject EPERM). */
  backingIoctl?: IoctlFunction;
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
}

const DEFAULT_INIT_TIMEOUT_MS = 10000;

/**
 * Mounts `filesystem` on `mountpoint` (needs root) and serves it from this process's event loop.
 * Resolves once the kernel's INIT has been answered, i.e. when the mount is usable. Fails with
 * a MountError that says why: not root, mountpoint missing or not a directory, mountpoint a
 * dead FUSE mount (clear it with `umount -l`) or a live one (EBUSY: unmount it first),
 * /dev/fuse missing, mount(8) failing, or invalid options.
 */
export async function mount(filesystem: Filesystem, target: string, options: MountOptions = {}): Promise<MountHandle> {
  resolveMountOptions(target, options); // invalid options fail before anything is opened
  requireRoot(target);
  await checkMountpoint(target, options.rootMode);
  // As mount(8) and /proc/self/mountinfo will name it; resolved now, while no request of it
  // can come back to this process.
  const mountpoint = await fs.promises.realpath(path.resolve(target));
  const bridge = new Bridge(filesystem);
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
  return new Handle(mountpoint, session, connectionId(mountpoint));
}

class Handle implements MountHandle {
  readonly closed: Promise<void>;

  constructor(readonly mountpoint: string, readonly session: Session, private readonly connection: number | undefined) {
    this.closed = session.closed;
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
