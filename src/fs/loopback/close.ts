import { close, closeSync } from 'node:fs';
import { fstat } from '../../sys/index';

/**
 * Closing an fd can be slow: when it is the last reference to a deleted file,
 * the kernel frees the file's pages inside close(). Measured on tmpfs: 1.3 ms
 * for a 10 MiB file (so over a second for 10 GiB), and unlinking 20 files of
 * 50 MiB through the mount stalled every other request of it for up to 56 ms.
 * The loopback serves all requests on one thread, so such closes go to libuv's
 * threadpool. The transport holds no threadpool thread (kernel/transport.ts),
 * so the pool is free for them.
 *
 * The fd stays open until the pool gets to it: the caller must forget the
 * number at once (it may be reused as soon as the close is done).
 */

/**
 * Past this many closes in flight the next ones are synchronous again: a
 * pending fd still counts against RLIMIT_NOFILE, and the inode table's bound
 * (maxInodeFds) no longer sees it.
 */
const MAX_IN_FLIGHT = 1024;

let inFlight = 0;
const idle: Array<() => void> = [];

/**
 * Closes `fd` on the threadpool, ignoring errors as a closeSync whose error
 * nobody could act on would; resolves once it is closed.
 */
export function closeInBackground(fd: number): Promise<void> {
  if (inFlight >= MAX_IN_FLIGHT) {
    try {
      closeSync(fd);
    } catch {
      // As below: the fd is gone either way.
    }
    return Promise.resolve();
  }
  inFlight++;
  return new Promise((resolve) => {
    // close(2) releases the fd even when it reports an error (EIO from a
    // network filesystem, EINTR): there is nothing to retry.
    close(fd, () => {
      if (--inFlight === 0) for (const wake of idle.splice(0)) wake();
      resolve();
    });
  });
}

/** Closes started by closeInBackground that have not finished yet (process-wide). */
export function closesInFlight(): number {
  return inFlight;
}

/** Resolves once no close started by closeInBackground is still in flight. */
export function closesSettled(): Promise<void> {
  return inFlight === 0 ? Promise.resolve() : new Promise((resolve) => idle.push(resolve));
}

/**
 * Past this much allocated data, the close of a deleted file's last fd goes to
 * the threadpool. Below it, freeing costs less than waking a threadpool thread,
 * which on this VM added 10-20 µs to every open of small files when RELEASE
 * closed in the background unconditionally.
 */
const FREEING_BYTES = 1 << 20;

/**
 * Closes `fd` where it is cheapest: on the threadpool (closeInBackground) only
 * when the close may free a deleted file's data (no links left, more than
 * FREEING_BYTES allocated); otherwise at once.
 */
export function closeFreeing(fd: number): void {
  let frees = true;
  try {
    const st = fstat(fd);
    frees = st.nlink === 0 && st.blocks * 512 > FREEING_BYTES;
  } catch {
    // Whatever fstat could not see, the threadpool can close.
  }
  if (frees) {
    void closeInBackground(fd);
    return;
  }
  try {
    closeSync(fd);
  } catch {
    // As in closeInBackground: the fd is gone either way.
  }
}
