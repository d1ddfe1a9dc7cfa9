// How requests get from /dev/fuse to the session and replies back.
//
// Design, chosen by measurement (throw-away benchmark on this 2-core VM, Linux 6.18, Node 20; a
// raw FUSE server answering LOOKUP/GETATTR for one file with all timeouts 0, driven by a separate
// node process doing fs.statSync (2 requests per stat) or open+close; best of several runs,
// µs per stat / per open+close / per stat with 2 clients in parallel):
//
//   C server, read(2)/write(2) loop, 1 thread (the floor)         15-18 / 27-36 / 37-45
//   epoll: the device fd in a libuv pipe handle, main thread      26    / 41    / 55-64   <- chosen
//   worker thread doing readSync + handling + writeSync itself     21-25 / 33-36 / 45-47  (not an
//     option: the filesystem's handlers live on the main thread)
//   worker readSync -> postMessage(transferred ArrayBuffer) -> main  51-69 / 96-125 / 83-119
//   worker readSync -> SharedArrayBuffer + Atomics.waitAsync on main 66-70 / 113-128 / 97-126
//     (and it hung with two workers)
//   N async fs.read on the threadpool (UV_THREADPOOL_SIZE=8)      57-99 / 110-155 / 104-267
//
// Every design that reads on another thread pays a second cross-thread wakeup per request (the
// reader wakes the main loop), which on this VM costs as much as the kernel round trip itself.
// The epoll design has none: /dev/fuse supports poll(2), so the fd is handed to libuv as a pipe
// handle (uv_pipe_open does not care that it is a character device) and the main loop's epoll
// wakes directly when a request is queued; libuv then read(2)s it (up to 32 per wakeup) into a
// buffer we supply (net.Socket's `onread`), sized max_write + 4 KiB as the kernel requires.
// It also meets the other constraints: no libuv threadpool thread is held (measured: the
// threadpool design with the default pool of 4 delayed an unrelated fs.stat by up to 2 s), the
// event loop stays free for timers and signal handlers while idle, handlers may be async with
// many requests in flight, and a single fd means replies always go to the fd the request came
// from. Replies are written synchronously (fs.writeSync/writevSync): a write to /dev/fuse never
// blocks. Notifications are the exception: the kernel may have to wait for a reply of ours
// before it can apply them (INVAL_ENTRY takes the directory lock a pending LOOKUP holds), so
// they are written from the threadpool.
//
// Node has no public API to wrap an fd in a pipe handle; process.binding('pipe_wrap') is the
// documented-deprecated (DEP0111, documentation-only) way. Where it is unavailable, a reader
// worker thread takes over (WorkerTransport), at about twice the per-request cost.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { Worker } from 'node:worker_threads';
import type { NegotiatedInit } from '../protocol/init';
import { errnoCodeOf, errnoError } from './errors';

/** Where replies to one request go: the fd that delivered it. */
export interface ReplyChannel {
  /**
   * Writes one complete reply with one write(2) (a list is written with writev(2)). Throws an
   * errno error: ENOENT when the kernel no longer waits for that request, ENODEV when the
   * connection is gone, EINVAL for a malformed reply.
   */
  write(data: Buffer | readonly Buffer[]): void;
}

export interface TransportSink {
  /**
   * One request in buf[0, length). Return true when the decoded request keeps views into `buf`
   * after this call (a WRITE payload): the transport then reads into another buffer until
   * release(buf).
   */
  request(buf: Buffer, length: number, channel: ReplyChannel): boolean;
  /** The connection ended: `err` is null when the kernel said ENODEV (unmounted or aborted). */
  end(err: Error | null): void;
}

export interface RingStats {
  /** Requests are being taken from io_uring rings (the kernel accepted the registration). */
  active: boolean;
  /** Ring queues this transport serves. */
  queues: number;
  /** Requests that came through the rings (the rest came over /dev/fuse). */
  requests: number;
}

export interface Transport {
  start(sink: TransportSink): void;
  /** Gives back a buffer request() kept. */
  release(buf: Buffer): void;
  /** Writes a notification without blocking the thread that serves requests. */
  notify(data: Buffer | readonly Buffer[]): Promise<void>;
  /** Stops reading and closes the device fds. */
  close(): void;
  /**
   * Stops reading requests, the fd staying open (other fds of the connection serve them); a
   * transport that cannot stop (a reader thread blocked in read(2)) leaves it out.
   */
  pause?(): void;
  /**
   * INIT has been answered: a transport with a second way of taking requests (io_uring) sets it
   * up now. Throws when the mount requires that way and it cannot be had.
   */
  initialized?(negotiated: NegotiatedInit): void;
  /** Counters of a transport with io_uring rings. */
  ringStats?(): RingStats;
  /** Whether the open transport keeps the process alive (default: it does). */
  ref(): void;
  unref(): void;
}

function writeTo(fd: number, data: Buffer | readonly Buffer[]): void {
  if (Buffer.isBuffer(data)) fs.writeSync(fd, data);
  else fs.writevSync(fd, data as Buffer[]);
}

function writeAsync(fd: number, data: Buffer | readonly Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err: NodeJS.ErrnoException | null): void => (err ? reject(err) : resolve());
    if (Buffer.isBuffer(data)) fs.write(fd, data, done);
    else fs.writev(fd, data as Buffer[], done);
  });
}

/** End of a connection: ENODEV is the kernel's normal "unmounted"; anything else is an error. */
function endError(err: unknown): Error | null {
  return errnoCodeOf(err) === 'ENODEV' ? null : err instanceof Error ? err : new Error(String(err));
}

interface PipeBinding {
  Pipe: new (type: number) => { open(fd: number): number };
  constants: { SOCKET: number };
}

function pipeBinding(): PipeBinding | undefined {
  try {
    return (process as unknown as { binding(name: string): PipeBinding }).binding('pipe_wrap');
  } catch {
    return undefined;
  }
}

/**
 * A libuv pipe handle on `fd` (a device or an eventfd), to give to a net.Socket so that the
 * thread's event loop polls it (see the design note above).
 */
export function pipeHandle(fd: number): unknown {
  const binding = pipeBinding();
  if (binding === undefined) throw new Error('process.binding("pipe_wrap") is not available: use WorkerTransport');
  const handle = new binding.Pipe(binding.constants.SOCKET);
  const rc = handle.open(fd);
  if (rc < 0) throw errnoError(errnoCodeOf(-rc) ?? 'EIO', `cannot poll fd ${fd}`);
  return handle;
}

/** Whether this Node can poll the device from the main loop (see the design note above). */
export function canPollDevice(): boolean {
  return pipeBinding() !== undefined;
}

/** The device fd polled by the main loop's epoll (the chosen design, see above). */
export class DeviceTransport implements Transport {
  private socket: net.Socket | null = null;
  private current: Buffer;
  private kept = false;
  private readonly spare: Buffer[] = [];
  private readonly channel: ReplyChannel;
  private closed = false;

  /** `bufferSize`: at least max_write + 80 (else the kernel fails reads with EINVAL). */
  constructor(private readonly fd: number, readonly bufferSize: number) {
    this.current = Buffer.allocUnsafeSlow(bufferSize);
    this.channel = { write: (data) => writeTo(fd, data) };
  }

  start(sink: TransportSink): void {
    const handle = pipeHandle(this.fd);
    let ended = false;
    const end = (err: Error | null): void => {
      if (ended) return;
      ended = true;
      sink.end(err);
    };
    const options = {
      handle,
      readable: true,
      writable: false,
      allowHalfOpen: true,
      onread: {
        // Called after every read: a buffer the last request kept is swapped for a spare.
        buffer: (): Buffer => this.nextBuffer(),
        callback: (n: number, buf: Uint8Array): void => {
          this.kept = sink.request(buf as Buffer, n, this.channel);
        },
      },
    };
    const socket = new net.Socket(options as unknown as net.SocketConstructorOpts);
    this.socket = socket;
    socket.on('error', (err) => end(endError(err)));
    socket.on('end', () => end(null));
    socket.on('close', () => end(null));
  }

  private nextBuffer(): Buffer {
    if (this.kept) {
      this.kept = false;
      this.current = this.spare.pop() ?? Buffer.allocUnsafeSlow(this.bufferSize);
    }
    return this.current;
  }

  release(buf: Buffer): void {
    // A few spares cover the WRITEs in flight at once (the kernel's max_background is 12 by default).
    if (this.spare.length < 16 && buf.length === this.bufferSize && buf !== this.current) this.spare.push(buf);
  }

  notify(data: Buffer | readonly Buffer[]): Promise<void> {
    return writeAsync(this.fd, data);
  }

  pause(): void {
    // readStop on the handle: libuv's read loop checks it before each of its up to 32 reads.
    this.socket?.pause();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.socket !== null) this.socket.destroy(); // closes the fd with the handle
    else fs.closeSync(this.fd);
  }

  ref(): void {
    this.socket?.ref();
  }

  unref(): void {
    this.socket?.unref();
  }
}

// The reader thread of WorkerTransport: a blocking read loop that hands each request over in a
// transferred ArrayBuffer of its exact size.
const READER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { fd, size } = workerData;
const buf = Buffer.allocUnsafeSlow(size);
for (;;) {
  let n;
  try {
    n = fs.readSync(fd, buf, 0, size, null);
  } catch (err) {
    if (err.code === 'EINTR' || err.code === 'EAGAIN') continue;
    parentPort.postMessage({ end: err.code || String(err) });
    break;
  }
  const ab = new ArrayBuffer(n);
  new Uint8Array(ab).set(buf.subarray(0, n));
  parentPort.postMessage(ab, [ab]);
}
`;

/**
 * The fallback design: a worker thread blocks in readSync on the device and posts each request
 * to the main thread, which handles it and writes the reply on the same fd. About twice the
 * per-request latency of DeviceTransport (see above). A worker blocked in read(2) cannot be
 * stopped until a request or ENODEV arrives, so close() only detaches it: the unmount (or an
 * abort) ends it.
 */
export class WorkerTransport implements Transport {
  private worker: Worker | null = null;
  private readonly channel: ReplyChannel;
  private closed = false;

  constructor(private readonly fd: number, readonly bufferSize: number) {
    this.channel = { write: (data) => writeTo(fd, data) };
  }

  start(sink: TransportSink): void {
    const worker = new Worker(READER_SOURCE, { eval: true, workerData: { fd: this.fd, size: this.bufferSize } });
    this.worker = worker;
    let ended = false;
    const end = (err: Error | null): void => {
      if (ended) return;
      ended = true;
      sink.end(err);
    };
    worker.on('message', (m: ArrayBuffer | { end: string }) => {
      if (m instanceof ArrayBuffer) sink.request(Buffer.from(m), m.byteLength, this.channel);
      else end(m.end === 'ENODEV' ? null : errnoError(errnoCodeOf({ code: m.end }) ?? 'EIO', `read /dev/fuse: ${m.end}`));
    });
    worker.on('error', (err) => end(err));
    worker.on('exit', () => end(null));
  }

  release(): void {
    // Every request arrives in a buffer of its own.
  }

  notify(data: Buffer | readonly Buffer[]): Promise<void> {
    return writeAsync(this.fd, data);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.worker?.unref();
    if (this.worker === null) fs.closeSync(this.fd);
    // Otherwise the fd stays open for the blocked reader; it ends with the connection.
  }

  ref(): void {
    this.worker?.ref();
  }

  unref(): void {
    this.worker?.unref();
  }
}

/** The transport for a device fd: DeviceTransport where Node allows it, else WorkerTransport. */
export function deviceTransport(fd: number, bufferSize: number, kind: 'auto' | 'epoll' | 'worker' = 'auto'): Transport {
  if (kind === 'worker' || (kind === 'auto' && !canPollDevice())) return new WorkerTransport(fd, bufferSize);
  return new DeviceTransport(fd, bufferSize);
}
