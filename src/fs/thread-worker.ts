// One serving thread of a ThreadedFilesystem (see threads.ts): makes its own Filesystem with the
// user's factory, and once the main thread has INIT negotiated, serves its own cloned /dev/fuse
// fd, polled by this thread's event loop exactly as DeviceTransport does on the main thread.
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { SharedBackingTable } from '../kernel/backing-table';
import { cloneDevice } from '../kernel/device';
import { Session } from '../kernel/session';
import { deviceTransport, type Transport } from '../kernel/transport';
import { UringTransport, type IoUringMode } from '../kernel/uring';
import { sys } from '../kernel/sys-lazy';
import type { NegotiatedInit } from '../protocol/init';
import type { Filesystem, FilesystemFactory } from './api';
import { Bridge } from './bridge';

/** What the main thread gives every serving thread (threads.ts). */
export interface ThreadData {
  module: string;
  export: string;
  data: unknown;
  thread: number;
  backingTable: SharedArrayBuffer;
  requirePassthrough: boolean;
  debug: boolean;
  /** The mount asked for io_uring: the thread's rings come with a 'rings' message after INIT. */
  ioUring: boolean;
}

/**
 * The io_uring queues one thread serves, and the CPU it is pinned to when it serves one: on the
 * CPU whose queue it serves, since the kernel queues a request on its caller's CPU, serving it
 * there needs no wakeup of another CPU (src/kernel/uring.ts).
 */
export interface ThreadRings {
  queues: number[];
  cpu: number | null;
  mode: IoUringMode;
}

/** Messages from the main thread. */
export type ToThread =
  | { type: 'init'; negotiated: NegotiatedInit; sessionFd: number }
  | { type: 'rings'; rings: ThreadRings }
  | { type: 'interrupt'; unique: number }
  | { type: 'stats' };

/** Messages to the main thread. */
export type FromThread =
  | { type: 'ready'; wants: ReturnType<Bridge['initWants']>; maxWrite: number }
  | { type: 'failed'; message: string }
  | { type: 'serving' }
  | { type: 'rings'; error: string | null }
  | { type: 'interrupt'; unique: number }
  | { type: 'stats'; stats: ReturnType<Session['stats']> }
  | { type: 'log'; line: string }
  | { type: 'debug'; line: string }
  | { type: 'ended'; error: string | null; stats: ReturnType<Session['stats']> };

const port = parentPort!;
const config = workerData as ThreadData;
const post = (m: FromThread): void => port.postMessage(m);
const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

// import() as written: tsc would turn it into require(), which loads neither ES modules nor
// TypeScript through the loaders the worker inherits.
const importModule = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Record<string, unknown>>;

async function instantiate(): Promise<Filesystem> {
  let exports: Record<string, unknown>;
  try {
    exports = await importModule(pathToFileURL(config.module).href);
  } catch (err) {
    // A TypeScript loader registered for require() only (node -r ts-node/register, which
    // `npm run stress` uses) leaves import() unable to load .ts: require() can.
    if ((err as NodeJS.ErrnoException).code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw err;
    exports = require(config.module) as Record<string, unknown>;
  }
  // A CommonJS module's exports are also its default export.
  const factory = exports[config.export] ?? (exports.default as Record<string, unknown> | undefined)?.[config.export];
  if (typeof factory !== 'function') {
    throw new Error(`${config.module} has no function export '${config.export}' (found: ${Object.keys(exports).join(', ') || 'none'})`);
  }
  const fs = await (factory as FilesystemFactory)(config.data, config.thread);
  if (fs === null || typeof fs !== 'object') throw new Error(`${config.module}: ${config.export}() returned ${String(fs)}, not a Filesystem`);
  return fs;
}

async function main(): Promise<void> {
  let bridge: Bridge;
  try {
    bridge = new Bridge(await instantiate());
  } catch (err) {
    post({ type: 'failed', message: `thread ${config.thread}: ${message(err)}` });
    return;
  }
  let session: Session | null = null;
  let negotiated: NegotiatedInit | null = null;
  port.on('message', (m: ToThread) => {
    switch (m.type) {
      case 'init':
        bridge.init(m.negotiated).then(() => {
          negotiated = m.negotiated;
          session = serve(bridge, m.negotiated, m.sessionFd);
          post({ type: 'serving' });
        }, (err: unknown) => post({ type: 'failed', message: `thread ${config.thread}: init(): ${message(err)}` }));
        break;
      case 'rings':
        // After INIT's reply: the kernel refuses ring entries (EAGAIN) before it.
        try {
          if (m.rings.cpu !== null) sys().setAffinity(m.rings.cpu);
          uring?.initialized(negotiated!, m.rings);
          post({ type: 'rings', error: null });
        } catch (err) {
          post({ type: 'rings', error: `thread ${config.thread}: ${message(err)}` });
        }
        break;
      case 'interrupt':
        session?.interrupt(m.unique);
        break;
      case 'stats':
        if (session !== null) post({ type: 'stats', stats: session.stats() });
        break;
    }
  });
  post({ type: 'ready', wants: bridge.initWants(), maxWrite: bridge.maxWrite });
}

/** This thread's transport when the mount asked for io_uring: its rings are set up on 'rings'. */
let uring: UringTransport | null = null;

function serve(bridge: Bridge, negotiated: NegotiatedInit, sessionFd: number): Session {
  const fd = cloneDevice(sessionFd);
  const log = (line: string): void => post({ type: 'log', line });
  const debug = config.debug ? (line: string) => post({ type: 'debug', line: `[thread ${config.thread}] ${line}` }) : undefined;
  // As mount() sizes it: the kernel fails reads into buffers shorter than max_write + 80 bytes.
  let transport: Transport = deviceTransport(fd, bridge.maxWrite + 4096, 'epoll');
  if (config.ioUring) transport = uring = new UringTransport(transport, fd, { log, debug });
  const session = new Session(transport, bridge, {
    log,
    debug,
    backing: { deviceFd: fd, require: config.requirePassthrough, shared: new SharedBackingTable(config.backingTable) },
    joined: negotiated,
    onForeignInterrupt: (unique) => post({ type: 'interrupt', unique }),
  });
  session.start();
  void session.closed.then(() => {
    post({ type: 'ended', error: session.endError === null ? null : session.endError.message, stats: session.stats() });
    port.close();
  });
  return session;
}

void main();
