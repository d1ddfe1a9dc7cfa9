// A mutex on one Int32 word of a SharedArrayBuffer, for the tables several serving threads
// share (backing-table.ts, src/fs/loopback/shared-inodes.ts). Their critical sections are a few
// loads and stores (at most one ioctl): an uncontended lock is one compareExchange, and a
// waiter sleeps in Atomics.wait (a futex) rather than spinning on a busy core.

/** Runs `fn` holding the lock in `words[at]`: 0 free, 1 held, 2 held with waiters. */
export function locked<T>(words: Int32Array, at: number, fn: () => T): T {
  if (Atomics.compareExchange(words, at, 0, 1) !== 0) {
    while (Atomics.exchange(words, at, 2) !== 0) Atomics.wait(words, at, 2);
  }
  try {
    return fn();
  } finally {
    if (Atomics.exchange(words, at, 0) === 2) Atomics.notify(words, at, 1);
  }
}
