// FUSE over io_uring (Linux 6.14+, Documentation/filesystems/fuse-io-uring.rst): requests taken
// from per-CPU ring queues instead of read(2) on /dev/fuse.
//
// How the kernel does it (fs/fuse/dev_uring.c, Linux 6.18):
// - The connection has one queue per possible CPU; a request is queued on the queue of the CPU
//   its caller runs on. The server registers ring entries on every queue (an IORING_OP_URING_CMD
//   FUSE_IO_URING_CMD_REGISTER each, with a header buffer and a payload buffer); only when every
//   queue has one does the kernel switch the connection's requests to the ring ("ready"). Until
//   then, and always for FORGET, INTERRUPT and INIT, requests come over /dev/fuse: that fd stays
//   served by its own transport.
// - A registered entry's command completes when a request has been copied into its buffers; the
//   reply is written into the same buffers and handed back with COMMIT_AND_FETCH, which also
//   makes the entry wait for the next request: one io_uring_enter answers one request and asks
//   for the next. An entry holds one request at a time, so the number of entries per queue bounds
//   the requests in flight from one CPU.
// - The command block is struct fuse_uring_cmd_req (qid, commit_id = the request's unique); the
//   header buffer is struct fuse_uring_req_header (include/uapi/linux/fuse.h, Linux 6.18): the
//   fuse_in_header (fuse_out_header in a reply) at 0, the opcode's own header (fuse_write_in, …;
//   empty for opcodes without one) at 128, and fuse_uring_ent_in_out at 256, whose payload_sz
//   (at 272) gives the size of the rest (names, data) placed in the payload buffer. A reply puts
//   its out header at 0 and everything after it in the payload, with its size in payload_sz.
// - The kernel sizes the payload buffer it needs as max(8 KiB, max_write, max_pages pages), and
//   refuses a smaller one with EINVAL.
//
// Each entry is one allocation: the header buffer at 0, the payload buffer at PAYLOAD. The gap
// between them takes a copy of the in header and the opcode header placed right before the
// payload, so that the request is one contiguous buffer for the decoder (src/protocol/decode.ts)
// without copying the payload (a WRITE's data is decoded in place).
//
// The thread that creates a ring serves it: the kernel copies requests into the buffers in that
// thread's context (task work), and its completions are signalled on an eventfd polled by the
// thread's event loop like the /dev/fuse fd (src/kernel/transport.ts), so that handlers may be
// async and the loop is never blocked in io_uring_enter.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { Opcode } from '../protocol/constants';
import { Errno, errnoName as protocolErrnoName } from '../protocol/errors';
import type { NegotiatedInit } from '../protocol/init';
import { errnoError } from './errors';
import { sys } from './sys-lazy';
import type { UringRing } from '../sys/native';
import { pipeHandle, type ReplyChannel, type RingStats, type Transport, type TransportSink } from './transport';

const HEADER_SIZE = 288; // sizeof(struct fuse_uring_req_header)
const OP_IN = 128; // offsetof(struct fuse_uring_req_header, op_in)
const OP_IN_MAX = 128; // FUSE_URING_OP_IN_OUT_SZ
const PAYLOAD_SZ = 272; // offsetof(..., ring_ent_in_out) + offsetof(fuse_uring_ent_in_out, payload_sz)
const IN_HEADER_SIZE = 40;
const OUT_HEADER_SIZE = 16;
const PAYLOAD = 512; // >= HEADER_SIZE + IN_HEADER_SIZE + OP_IN_MAX
const FUSE_MIN_READ_BUFFER = 8192;
const PAGE_SIZE = 4096;

/** What the mount asked for: use io_uring when it can be had, or refuse to serve without it. */
export type IoUringMode = 'off' | 'auto' | 'require';

export interface UringOptions {
  /** Queues this transport registers (default: all of them, see possibleCpus()). */
  queues?: readonly number[];
  /** Ring entries per queue: requests one CPU may have in flight at once. */
  depth?: number;
  /** 'require': initialized() throws instead of falling back to /dev/fuse. */
  mode?: IoUringMode;
  /** One line for a fallback or a failure. */
  log?: (line: string) => void;
  debug?: (line: string) => void;
}

/** Ring entries per queue when not given: libfuse's default queue depth. */
export const DEFAULT_RING_DEPTH = 8;

/**
 * The number of ring queues the kernel creates: one per possible CPU (num_possible_cpus()), the
 * CPU numbers counted from the ranges in /sys/devices/system/cpu/possible ("0-1", "0,2-3").
 */
export function possibleCpus(text?: string): number {
  const s = text ?? fs.readFileSync('/sys/devices/system/cpu/possible', 'latin1');
  let highest = -1;
  for (const part of s.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (m === null) throw new Error(`cannot read the possible CPUs from ${JSON.stringify(s)}`);
    highest = Math.max(highest, Number(m[2] ?? m[1]));
  }
  return highest + 1;
}

/** Why io_uring cannot be used here, or null when nothing stands in the way that can be read. */
export function uringUnavailableReason(negotiated: NegotiatedInit): string | null {
  if (negotiated.flags.includes('FUSE_OVER_IO_URING')) return null;
  let enabled: string | null = null;
  try {
    enabled = fs.readFileSync('/sys/module/fuse/parameters/enable_uring', 'latin1').trim();
  } catch {
    return 'the kernel does not offer FUSE_OVER_IO_URING (Linux 6.14+ with CONFIG_FUSE_IO_URING)';
  }
  if (enabled === 'N') {
    return 'the kernel does not offer FUSE_OVER_IO_URING: the fuse module\'s enable_uring is off (as root: echo Y > /sys/module/fuse/parameters/enable_uring)';
  }
  return 'the kernel does not offer FUSE_OVER_IO_URING';
}

function ioUringDisabledHint(): string {
  try {
    const v = fs.readFileSync('/proc/sys/kernel/io_uring_disabled', 'latin1').trim();
    if (v !== '0') return ` (kernel.io_uring_disabled is ${v}; 0 allows it)`;
  } catch {
    // Older kernels have no such switch.
  }
  return '';
}

/** One registered ring entry: its buffers, and the reply channel of the request it holds. */
class RingEntry implements ReplyChannel {
  readonly region: Buffer;
  unique = 0;
  /** Whether the request it holds has been answered (committed). */
  answered = true;
  /** Its command failed (connection ending, or refused): it takes no more requests. */
  dead = false;

  constructor(
    private readonly transport: UringTransport,
    readonly qid: number,
    readonly slot: number,
    payloadSize: number,
  ) {
    // Its own ArrayBuffer, never pooled: the kernel writes into it until the entry is gone.
    this.region = Buffer.allocUnsafeSlow(PAYLOAD + payloadSize);
  }

  get header(): Buffer {
    return this.region.subarray(0, HEADER_SIZE);
  }

  get payload(): Buffer {
    return this.region.subarray(PAYLOAD);
  }

  /** Answers the request it holds with an out header alone: `error` 0 (a no-reply request) or an errno. */
  answer(error: number): void {
    const region = this.region;
    region.writeUInt32LE(OUT_HEADER_SIZE, 0);
    region.writeInt32LE(-error, 4);
    region.writeUInt32LE(this.unique % 0x100000000, 8);
    region.writeUInt32LE(Math.floor(this.unique / 0x100000000), 12);
    region.writeUInt32LE(0, PAYLOAD_SZ);
    this.answered = true;
    this.transport.commit(this);
  }

  write(data: Buffer | readonly Buffer[]): void {
    if (this.answered) throw errnoError('ENOENT', `ring entry ${this.qid}/${this.slot} holds no request`);
    const region = this.region;
    let body = 0;
    if (Buffer.isBuffer(data)) {
      data.copy(region, 0, 0, OUT_HEADER_SIZE);
      body = data.copy(region, PAYLOAD, OUT_HEADER_SIZE);
    } else {
      // The out header is the first 16 bytes of the concatenation, the rest is the payload.
      let pos = 0;
      for (const part of data) {
        let from = 0;
        if (pos < OUT_HEADER_SIZE) {
          from = Math.min(part.length, OUT_HEADER_SIZE - pos);
          part.copy(region, pos, 0, from);
          pos += from;
        }
        if (from < part.length) {
          const n = part.copy(region, PAYLOAD + body, from);
          body += n;
          pos += n;
        }
      }
    }
    region.writeUInt32LE(body, PAYLOAD_SZ);
    this.answered = true;
    this.transport.commit(this);
  }
}

/**
 * /dev/fuse for INIT, FORGET and INTERRUPT (the transport given), and io_uring ring queues for
 * every other request once INIT has been answered. initialized() sets the rings up; where they
 * cannot be had it says why in one line and the mount keeps serving over /dev/fuse, unless the
 * mode is 'require'.
 */
export class UringTransport implements Transport {
  private sink: TransportSink | null = null;
  // The addon, once the rings are set up: sys() is a require() per call, which measured 2-4 µs
  // per request (server CPU per STATX 20 µs -> 15 µs).
  private sys: ReturnType<typeof sys> | null = null;
  private ring: UringRing | null = null;
  private socket: net.Socket | null = null;
  private entries: RingEntry[] = [];
  private readonly regions = new Set<ArrayBufferLike>();
  private readonly cqes = new Float64Array(2 * 64);
  private draining = false;
  private pendingSubmit = false;
  private connectionEnded = false;
  private closed = false;
  private refed = true;
  private mode: IoUringMode;
  private readonly log: (line: string) => void;
  /** Whether requests are being taken from the rings (registration accepted). */
  active = false;
  private queueCount = 0;
  private ringRequests = 0;
  /** Why the kernel refused a ring entry, while initialized() registers them. */
  private refused: string | null = null;

  constructor(
    private readonly device: Transport,
    private readonly fd: number,
    private readonly options: UringOptions = {},
  ) {
    this.mode = options.mode ?? 'auto';
    this.log = options.log ?? ((line) => console.error(line));
  }

  start(sink: TransportSink): void {
    this.sink = {
      request: (buf, length, channel) => sink.request(buf, length, channel),
      end: (err) => {
        this.connectionEnded = true;
        sink.end(err);
      },
    };
    this.device.start(this.sink);
  }

  /**
   * Sets the rings up, now that INIT has been answered; `plan` overrides the options' queues and
   * mode (a serving thread learns them from the main thread).
   */
  initialized(negotiated: NegotiatedInit, plan?: { queues: readonly number[]; mode: IoUringMode }): void {
    if (plan !== undefined) this.mode = plan.mode;
    if (this.mode === 'off' || this.closed || this.ring !== null) return;
    const why = uringUnavailableReason(negotiated);
    if (why !== null) return this.fallBack(why);
    const queues = plan?.queues ?? this.options.queues ?? [...Array(possibleCpus()).keys()];
    if (queues.length === 0) return;
    const depth = this.options.depth ?? DEFAULT_RING_DEPTH;
    const payloadSize = Math.max(FUSE_MIN_READ_BUFFER, negotiated.maxWrite, negotiated.maxPages * PAGE_SIZE);
    this.sys = sys();
    const { uringSetup, uringRegister, uringSubmit } = this.sys;
    let ring: UringRing;
    let eventFd: number;
    try {
      // One SQE per entry at most is queued between submissions (its registration, later its
      // commits); the kernel rounds the size up to a power of two.
      [ring, eventFd] = uringSetup(Math.max(8, queues.length * depth), queues.length * depth);
    } catch (err) {
      return this.fallBack(`io_uring_setup failed: ${(err as Error).message}${ioUringDisabledHint()}`);
    }
    this.ring = ring;
    this.pollCompletions(eventFd);
    for (const qid of queues) {
      for (let i = 0; i < depth; i++) {
        const entry = new RingEntry(this, qid, this.entries.length, payloadSize);
        this.entries.push(entry);
        this.regions.add(entry.region.buffer);
      }
    }
    try {
      for (const e of this.entries) uringRegister(ring, this.fd, e.qid, e.slot, e.header, e.payload);
      uringSubmit(ring);
    } catch (err) {
      this.stopRings();
      return this.fallBack(`registering the ring entries failed: ${(err as Error).message}`);
    }
    // A refused registration completes at once; a good one only when a request arrives.
    this.refused = null;
    this.drain();
    if (this.refused !== null) {
      const why = `the kernel refused the ring entries: ${this.refused}`;
      this.stopRings();
      return this.fallBack(why);
    }
    this.active = true;
    this.queueCount = queues.length;
    this.options.debug?.(`io_uring: ${queues.length} queue(s) x ${depth} entries of ${payloadSize} bytes`);
  }

  private fallBack(why: string): void {
    if (this.mode === 'require') throw errnoError('EOPNOTSUPP', `io_uring required but unavailable: ${why}`);
    this.log(`tsfuse: serving over /dev/fuse, not io_uring: ${why}`);
  }

  private pollCompletions(eventFd: number): void {
    const scratch = Buffer.allocUnsafe(64);
    const socket = new net.Socket({
      handle: pipeHandle(eventFd),
      readable: true,
      writable: false,
      allowHalfOpen: true,
      onread: { buffer: scratch, callback: () => this.drain() },
    } as unknown as net.SocketConstructorOpts);
    // The eventfd never ends by itself; an error here means it was closed under us.
    socket.on('error', () => {});
    if (!this.refed) socket.unref();
    this.socket = socket;
  }

  /** Takes every completion there is, serving each request; replies made meanwhile are submitted together. */
  private drain(): void {
    const ring = this.ring;
    if (ring === null || this.draining) return;
    const { uringReap } = this.sys!;
    const out = this.cqes;
    this.draining = true;
    try {
      for (;;) {
        const n = uringReap(ring, out);
        for (let i = 0; i < n; i++) this.complete(out[2 * i], out[2 * i + 1]);
        // The next reap submits the commits of this batch, and they may have fetched the next
        // requests already: look again before sleeping.
        if (this.pendingSubmit && this.ring !== null) {
          this.pendingSubmit = false;
          continue;
        }
        if (n === 0) break;
      }
    } catch (err) {
      this.log(`tsfuse: io_uring: ${(err as Error).message}`);
    } finally {
      this.draining = false;
    }
  }

  private complete(slot: number, res: number): void {
    const entry = this.entries[slot];
    if (entry === undefined) return;
    if (res < 0) {
      entry.dead = true;
      // ENOTCONN/ECANCELED: the connection or the ring is going away. Others: a refusal.
      const code = -res;
      if (code !== Errno.ENOTCONN && code !== Errno.ECANCELED && code !== Errno.ECONNABORTED) {
        this.refused ??= `${errnoName(code)} (queue ${entry.qid})`;
        if (this.active) this.log(`tsfuse: io_uring: ring entry ${entry.qid}/${entry.slot} failed: ${errnoName(code)}`);
      }
      return;
    }
    const region = entry.region;
    const len = region.readUInt32LE(0);
    const payloadSize = region.readUInt32LE(PAYLOAD_SZ);
    const opSize = len - IN_HEADER_SIZE - payloadSize;
    entry.unique = region.readUInt32LE(8) + region.readUInt32LE(12) * 0x100000000;
    entry.answered = false;
    if (opSize < 0 || opSize > OP_IN_MAX || PAYLOAD + payloadSize > region.length) {
      // Not a request this code can read: answered EIO, so that the entry goes on serving.
      this.log(`tsfuse: io_uring: request of ${len} bytes with ${payloadSize} in the payload: answered EIO`);
      entry.answer(Errno.EIO);
      return;
    }
    const start = PAYLOAD - opSize - IN_HEADER_SIZE;
    region.copy(region, start, 0, IN_HEADER_SIZE);
    if (opSize > 0) region.copy(region, PAYLOAD - opSize, OP_IN, OP_IN + opSize);
    const opcode = region.readUInt32LE(4);
    this.ringRequests++;
    this.sink?.request(region.subarray(start, PAYLOAD + payloadSize), len, entry);
    // NOTIFY_REPLY (the data of a RETRIEVE) gets no reply, but its entry takes no next request
    // until committed: commit an empty answer, which the kernel accepts for a no-reply request.
    if (!entry.answered && opcode === Opcode.NOTIFY_REPLY) entry.answer(0);
  }

  /** Called by an entry whose reply is in its buffers. */
  commit(entry: RingEntry): void {
    const ring = this.ring;
    if (ring === null || entry.dead) throw errnoError('ENODEV', 'the io_uring rings are closed');
    // Inside drain() the commits of one batch go in one io_uring_enter; a reply made later (an
    // async handler) is submitted at once.
    this.sys!.uringCommit(ring, this.fd, entry.qid, entry.slot, entry.unique, !this.draining);
    if (this.draining) this.pendingSubmit = true;
  }

  ringStats(): RingStats {
    return { active: this.active, queues: this.queueCount, requests: this.ringRequests };
  }

  release(buf: Buffer): void {
    // A ring entry's buffer goes back to its entry by the commit; only /dev/fuse buffers return.
    if (!this.regions.has(buf.buffer)) this.device.release(buf);
  }

  notify(data: Buffer | readonly Buffer[]): Promise<void> {
    // The kernel takes notifications over /dev/fuse only ("notify through fuse-io-uring not supported").
    return this.device.notify(data);
  }

  pause(): void {
    this.device.pause?.();
  }

  private stopRings(): void {
    const ring = this.ring;
    if (ring === null) return;
    this.ring = null;
    this.active = false;
    this.socket?.destroy(); // closes the eventfd
    this.socket = null;
    this.sys!.uringClose(ring); // the kernel cancels the entries' pending commands
    // While the connection lives the kernel may still be copying a request into an entry whose
    // command it is cancelling: the buffers must outlive the ring, so they are kept for the life
    // of the process. After the connection ended nothing writes to them.
    if (!this.connectionEnded) retired.push(...this.entries.map((e) => e.region));
    this.entries = [];
    this.regions.clear();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopRings();
    this.device.close();
  }

  ref(): void {
    this.refed = true;
    this.socket?.ref();
    this.device.ref();
  }

  unref(): void {
    this.refed = false;
    this.socket?.unref();
    this.device.unref();
  }
}

/** Ring buffers of rings closed while their connection lived (see stopRings). */
const retired: Buffer[] = [];

const errnoName = (code: number): string => protocolErrnoName(code) ?? `errno ${code}`;
