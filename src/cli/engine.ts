/**
 * The one place the CLI meets the library: the loopback filesystem, the
 * kernel mount and unmount. Commands see only these small shapes.
 */
import type { FuseMountOptions, PassthroughMode } from './options';
import { CliError } from './errors';

export interface ServeOptions {
  src: string;
  mnt: string;
  fuse: FuseMountOptions;
  attrTimeout: number;
  entryTimeout: number;
  negativeTimeout: number;
  passthrough: PassthroughMode;
  maxStackDepth: 1 | 2;
  /** Called with one decoded line per request and per reply (--debug). */
  debug?: (line: string) => void;
}

export interface Served {
  /** Unmounts; rejects with a CliError whose `busy` is true when the mount is in use. */
  unmount(options: { lazy: boolean }): Promise<void>;
  /** Settles when the session has ended (after unmount, or if the kernel connection died). */
  readonly closed: Promise<void>;
  /** Requests seen so far per opcode name, every opcode present (0 when never seen). */
  requestCounts(): Record<string, number>;
  /** Whether the kernel granted FUSE_PASSTHROUGH at INIT. */
  readonly passthroughGranted: boolean;
}

export class BusyError extends CliError {
  constructor(mnt: string) {
    super(`${mnt}: target is busy`);
  }
}

export async function serve(options: ServeOptions): Promise<Served> {
  void options;
  throw new CliError('mounting is not wired yet (waiting for src/fs/mount.ts and src/fs/loopback)');
}

export async function unmountPath(mnt: string, options: { lazy: boolean }): Promise<void> {
  void mnt;
  void options;
  throw new CliError('unmounting is not wired yet (waiting for src/kernel/mount.ts)');
}
