// Serving one mount on several threads: mount({ module, export, data }, mnt, { threads: N }).
//
// Design, chosen by measurement (throw-away benchmark, 2-core VM shared with other jobs, load
// average 10-15, Linux 6.18, Node 20: a raw filesystem answering LOOKUP/GETATTR/OPEN/RELEASE for
// one file with all timeouts 0; P client processes doing fs.statSync or open+close for 2 s; 3
// rounds alternating the designs; ops/s, and the server's CPU time per operation from
// /proc/PID/stat, which the load disturbs less):
//
//                                           stat P=1        stat P=4        open+close P=4
//                                           ops/s  µs CPU   ops/s  µs CPU   ops/s  µs CPU
//   main thread, epoll (single-threaded)    15-20k 26-38    14-20k 41-54    10-12k 70-73
//   1 worker on a clone, own epoll          7-19k  35-42    11-16k 42-48    10-11k 66-80
//   2 workers on clones, own epoll          3-19k  34-138   4-18k  50-107   6-12k  81-111
//   2 workers on clones, blocking read(2)   6-8k   59-66    13-21k 42-49    13-14k 63-79
//   main thread serving + 1 worker          7-12k  51-73    9-17k  40-75    7-13k  91-97
//
// - A worker thread polling its own cloned fd with its own event loop (the pipe-handle design of
//   src/kernel/transport.ts works inside a worker) costs what the main thread does: no
//   cross-thread hand-off per request, each thread decodes, dispatches and replies on its fd.
// - Every serving thread polls the connection's one request queue, so each request wakes every
//   thread's epoll (non-exclusive wait queue): two threads cost more CPU per request than one.
//   A blocking read(2) waits exclusively (one thread woken) and was the cheapest of the
//   two-thread designs, but a thread blocked in read(2) runs no callbacks, so an async handler's
//   reply (or a threadpool fsync) would wait for the next request: not usable for a general
//   Filesystem, whose handlers may await anything.
// - On this 2-core machine with its cores busy, two threads bring no throughput. On the same
//   machine quiet, `tsfuse bench --workloads clients` later measured two threads serving one
//   client's creates, reads and stats 1.2-1.5x faster than one (bench/README). The CLI's
//   default stays one thread (src/cli/commands/mount.ts says why). What several threads always
//   bring is that a slow handler (a cold lookup on a slow disk, a blocking syscall) stalls only
//   its own thread.
// - The main thread answers INIT and then stops reading (main thread + worker was the worst
//   mix): the serving threads are all alike, and the main thread stays free for the program
//   that mounted, which may even use the mount synchronously.
//
// What crosses threads: INIT's outcome (once, by message), INTERRUPT of a request another thread
// serves (rare: relayed by the main thread to all), statistics on demand, log lines. Passthrough
// state is one SharedBackingTable (src/kernel/backing-table.ts) all threads lock.
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SharedBackingTable } from '../kernel/backing-table';
import { abortConnection, connectionId } from '../kernel/device';
import { MountError } from '../kernel/errors';
import { mountFuse, unmount as unmountPath, type MountedDevice } from '../kernel/mount';
import { releaseWatchdog } from '../kernel/watchdog';
import { Session, type Dispatcher, type SessionStats } from '../kernel/session';
import { canPollDevice, deviceTransport } from '../kernel/transport';
import { Errno } from '../protocol/errors';
import type { InitWants, NegotiatedInit } from '../protocol/init';
import type { ThreadedFilesystem } from './api';
import { awaitInit, Handle, prepareMount, type MountHandle, type MountOptions } from './mount';
import type { FromThread, ThreadData, ThreadRings, ToThread } from './thread-worker';
import { possibleCpus, uringUnavailableReason } from '../kernel/uring';

/** More threads than this is a mistake, not a configuration (each holds an event loop and a heap). */
export const MAX_THREADS = 256;

/** One serving thread as the main thread sees it. */
class ServingThread {
  readonly worker: Worker;
  /** Its session has ended (or the thread is gone). */
  ended = false;
  /** Its session's counters as they were when it ended: what stats() reports after the unmount. */
  finalStats: SessionStats | null = null;
  private readonly waiting = new Map<string, (m: FromThread) => void>();

  constructor(entry: string, data: ThreadData, private readonly onMessage: (t: ServingThread, m: FromThread) => void) {
    // By file URL, so that the entry loads however this module was: compiled .js, or through a
    // TypeScript loader the worker inherits with the parent's execArgv (tests).
    // trackUnmanagedFds off: fds are the process's, not the thread's. A filesystem may close on
    // one thread an fd another opened (a RELEASE served elsewhere than its OPEN), and with the
    // default a thread that exits closes every fd it opened and did not close itself: by then the
    // number may name another thread's fd (a clone, an epoll fd), and libuv aborts the process.
    this.worker = new Worker(pathToFileURL(entry), { workerData: data, trackUnmanagedFds: false });
    this.worker.on('message', (m: FromThread) => {
      const wake = this.waiting.get(m.type);
      if (wake !== undefined) {
        this.waiting.delete(m.type);
        wake(m);
      }
      this.onMessage(this, m);
    });
  }

  /** The next message of `type` (or 'failed'), rejecting when the thread fails or exits first. */
  next<T extends FromThread['type']>(type: T): Promise<Extract<FromThread, { type: T }>> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number): void => reject(new Error(`the thread exited (code ${code})`));
      const onError = (err: Error): void => reject(err);
      const done = (): void => {
        this.worker.off('exit', onExit);
        this.worker.off('error', onError);
        this.waiting.delete(type);
        this.waiting.delete('failed');
      };
      this.waiting.set(type, (m) => {
        done();
        resolve(m as Extract<FromThread, { type: T }>);
      });
      this.waiting.set('failed', (m) => {
        done();
        reject(new Error((m as { message: string }).message));
      });
      this.worker.once('exit', onExit);
      this.worker.once('error', onError);
    });
  }

  send(m: ToThread): void {
    this.worker.postMessage(m);
  }
}

/** mount() for a ThreadedFilesystem (see api.ts). */
export async function mountThreaded(spec: ThreadedFilesystem, target: string, options: MountOptions = {}): Promise<MountHandle> {
  const n = options.threads ?? 1;
  if (!(Number.isInteger(n) && n >= 1 && n <= MAX_THREADS)) {
    throw new MountError('EINVAL', target, `invalid threads ${String(n)}: needs a whole number from 1 to ${MAX_THREADS}`);
  }
  if (!path.isAbsolute(spec.module)) {
    throw new MountError('EINVAL', target, `ThreadedFilesystem.module must be an absolute path, not ${JSON.stringify(spec.module)}: each thread require()s it`);
  }
  if (!canPollDevice()) {
    throw new MountError('ENOTSUP', target, 'serving on several threads needs process.binding("pipe_wrap"), which this Node lacks');
  }
  const mountpoint = await prepareMount(target, options);
  const log = options.log ?? ((line: string) => console.error(line));
  const table = new SharedBackingTable();
  const entry = require.resolve('./thread-worker');
  let session: Session | null = null;
  let finish: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    finish = resolve;
  });
  let live = n;
  const onMessage = (from: ServingThread, m: FromThread): void => {
    switch (m.type) {
      case 'log':
        log(m.line);
        break;
      case 'debug':
        options.debug?.(m.line);
        break;
      case 'interrupt':
        // The kernel sent it on another clone than the request's: every other thread looks.
        for (const t of threads) if (t !== from) t.send({ type: 'interrupt', unique: m.unique });
        break;
      case 'ended':
        from.ended = true;
        from.finalStats = m.stats;
        if (m.error !== null) log(`tsfuse: thread ${threads.indexOf(from)}: ${m.error}`);
        break;
    }
  };
  const threads: ServingThread[] = [];
  for (let i = 0; i < n; i++) {
    const data: ThreadData = {
      module: spec.module,
      export: spec.export ?? 'create',
      data: spec.data,
      thread: i,
      backingTable: table.buffer,
      requirePassthrough: options.requirePassthrough ?? false,
      debug: options.debug !== undefined,
      ioUring: options.ioUring !== undefined && options.ioUring !== false,
    };
    let t: ServingThread;
    try {
      t = new ServingThread(entry, data, onMessage);
    } catch (err) {
      // `data` that cannot be cloned (a function, a class instance with private state …).
      await Promise.all(threads.map((s) => s.worker.terminate()));
      throw new MountError('EINVAL', mountpoint, `cannot start serving thread ${i}: ${(err as Error).message}`, { cause: err });
    }
    threads.push(t);
    t.worker.on('exit', () => {
      const normal = t.ended; // its session ended first (unmount, abort)
      t.ended = true;
      if (--live > 0 && !normal && session !== null && !sessionEnded) {
        // A thread that died (an uncaught exception in the filesystem) would leave requests it
        // had read unanswered for ever: end the whole connection, as a crashed single-threaded
        // server does.
        log(`tsfuse: serving thread ${threads.indexOf(t)} exited; aborting the FUSE connection`);
        abortThreaded();
      }
      if (live === 0) {
        session?.close();
        finish();
      }
    });
  }
  let sessionEnded = false;
  const abortThreaded = (): void => {
    if (sessionEnded) return;
    sessionEnded = true;
    const id = connectionId(mountpoint);
    if (id !== undefined) {
      try {
        abortConnection(id);
      } catch {
        // Closing every fd below aborts it too.
      }
    }
    for (const t of threads) void t.worker.terminate();
    session?.close();
  };
  let ready: Extract<FromThread, { type: 'ready' }>[];
  try {
    ready = await Promise.all(threads.map((t) => t.next('ready')));
  } catch (err) {
    await Promise.all(threads.map((t) => t.worker.terminate()));
    throw new MountError('EINVAL', mountpoint, `the filesystem module failed to start: ${(err as Error).message}`, { cause: err });
  }
  const wants: InitWants = ready[0].wants;
  const maxWrite = ready[0].maxWrite;
  if (!(Number.isInteger(maxWrite) && maxWrite >= 4096 && maxWrite <= 16 * 1024 * 1024)) {
    await Promise.all(threads.map((t) => t.worker.terminate()));
    throw new MountError('EINVAL', mountpoint, `invalid features.maxWrite ${maxWrite}: needs 4096..16 MiB`);
  }
  // Mounted before the main session exists: INIT waits on the fd until the session reads it.
  let device: MountedDevice;
  try {
    device = await mountFuse(mountpoint, options);
  } catch (err) {
    await Promise.all(threads.map((t) => t.worker.terminate()));
    throw err;
  }
  const fd = device.fd;
  // auto_unmount: released once every thread's session has ended, so only our death wakes it.
  if (device.watch !== undefined) {
    const watch = device.watch;
    void closed.then(() => releaseWatchdog(watch));
  }
  // INIT only: the serving threads learn its outcome and start on their clones before the reply
  // goes out, so no request can come before they are ready to take it.
  let rings: ((i: number, n: number) => ThreadRings) | null = null;
  const initOnly: Dispatcher = {
    initWants: () => wants,
    init: async (negotiated) => {
      rings = ringsOf(negotiated, options, log);
      for (const t of threads) t.send({ type: 'init', negotiated, sessionFd: fd });
      await Promise.all(threads.map((t) => t.next('serving')));
    },
    dispatch: () => Errno.EIO,
  };
  session = new Session(deviceTransport(fd, maxWrite + 4096, 'epoll'), initOnly, {
    log,
    debug: options.debug,
    backing: { deviceFd: fd, require: options.requirePassthrough, shared: table },
    initOnly: true,
    requestTimeout: options.requestTimeout,
    allowIdmap: options.allowIdmap,
    overIoUring: options.ioUring !== undefined && options.ioUring !== false,
  });
  session.start();
  try {
    await awaitInit(session, mountpoint, options);
  } catch (err) {
    await Promise.all(threads.map((t) => t.worker.terminate()));
    throw err;
  }
  // Assigned by INIT's callback above, which TypeScript's narrowing cannot see.
  const plan = rings as ((i: number, n: number) => ThreadRings) | null;
  if (plan !== null) {
    const answers = await Promise.all(threads.map((t, i) => {
      const answer = t.next('rings').catch((err: Error) => ({ type: 'rings' as const, error: err.message }));
      t.send({ type: 'rings', rings: plan(i, n) });
      return answer;
    }));
    const refused = answers.find((a) => a.error !== null);
    if (refused !== undefined && options.ioUring === 'require') {
      abortThreaded();
      await unmountPath(mountpoint, { lazy: true }).catch(() => {});
      throw new MountError('EOPNOTSUPP', mountpoint, refused.error!);
    }
  }
  // The connection ends on every clone at once (unmount, abort): each thread's session ends
  // and its worker exits; the last one closes the main thread's fd.
  const handle = new Handle(mountpoint, session, connectionId(mountpoint), closed);
  handle.stats = () => threadStats(threads, table, session!);
  const abort = handle.abort.bind(handle);
  handle.abort = async () => {
    abortThreaded();
    await abort();
  };
  return handle;
}

/**
 * With io_uring asked for and offered, which queues thread i of n serves: queue q goes to thread
 * q mod n, and a thread serving one queue is pinned to its CPU. Not offered: one line (the threads
 * serve /dev/fuse), or with 'require' an error that fails the mount. Null: no rings.
 */
function ringsOf(negotiated: NegotiatedInit, options: MountOptions, log: (line: string) => void): ((i: number, n: number) => ThreadRings) | null {
  if (options.ioUring === undefined || options.ioUring === false) return null;
  const mode = options.ioUring === 'require' ? 'require' : 'auto';
  const why = uringUnavailableReason(negotiated);
  if (why !== null) {
    if (mode === 'require') throw new Error(`io_uring required but unavailable: ${why}`);
    log(`tsfuse: serving over /dev/fuse, not io_uring: ${why}`);
    return null;
  }
  const count = possibleCpus();
  return (i, n) => {
    const queues = [...Array(count).keys()].filter((q) => q % n === i);
    return { queues, cpu: queues.length === 1 ? queues[0] : null, mode };
  };
}

/**
 * Every thread's session.stats() (live, or as it ended), summed with the main thread's (INIT);
 * the backing ids are the connection's.
 */
async function threadStats(threads: readonly ServingThread[], table: SharedBackingTable, main: Session): Promise<SessionStats> {
  const all = await Promise.all(threads.map((t) => {
    if (t.ended) return t.finalStats === null ? null : { stats: t.finalStats };
    const answer = t.next('stats').catch(() => null);
    t.send({ type: 'stats' });
    return answer;
  }));
  const sum: SessionStats = {
    requests: {}, errors: {}, inFlight: 0, orphanedReplies: 0,
    backing: { enabled: table.active, ...table.stats },
  };
  for (const m of [{ stats: main.stats() }, ...all]) {
    if (m === null) continue;
    const s = m.stats;
    for (const [k, v] of Object.entries(s.requests)) sum.requests[k] = (sum.requests[k] ?? 0) + v;
    for (const [k, v] of Object.entries(s.errors)) sum.errors[k] = (sum.errors[k] ?? 0) + v;
    sum.inFlight += s.inFlight;
    sum.orphanedReplies += s.orphanedReplies;
    sum.backing.enabled = s.backing.enabled;
    if (s.ioUring !== undefined) {
      const r = (sum.ioUring ??= { active: false, queues: 0, requests: 0 });
      r.active ||= s.ioUring.active;
      r.queues += s.ioUring.queues;
      r.requests += s.ioUring.requests;
    }
  }
  return sum;
}
