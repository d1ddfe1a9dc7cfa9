// The FUSE session: the part of serving a mount that is not the filesystem's. It decodes each
// request, answers INIT, FORGET/BATCH_FORGET (no reply), INTERRUPT, DESTROY, unknown opcodes and
// malformed requests itself, hands everything else to a Dispatcher (src/fs/bridge.ts adapts the
// user's filesystem to it), writes the reply on the channel the request came from, counts
// requests and errors per opcode, and sends notifications.
//
// Split by job: this file dispatches and replies; request-context.ts is one request, in-flight.ts
// the requests not yet answered, session-init.ts what INIT asks for beyond the dispatcher's
// wishes, notifications.ts the notifications and RETRIEVE's answers.
import { Opcode } from '../protocol/constants';
import { decodeRequest, DEFAULT_DECODE_CONTEXT } from '../protocol/decode';
import { describeDecodeError, describeRequest } from '../protocol/debug';
import { Errno, errnoFromError, errnoName } from '../protocol/errors';
import type { InitWants, NegotiatedInit } from '../protocol/init';
import { negotiateInit } from '../protocol/init';
import { OPCODE_TABLE, opcodeName, opcodeRow } from '../protocol/opcodes';
import { encodeEmptyReply, encodeErrorReply, OUT_HEADER_SIZE } from '../protocol/reply';
import type { DecodeContext, DecodeError, ForgetOne, InitRequest, Request } from '../protocol/requests';
import type { InHeader } from '../protocol/types';
import * as fs from 'node:fs';
import { BackingRegistry, type IoctlFunction } from './backing';
import type { SharedBackingTable } from './backing-table';
import { InFlight } from './in-flight';
import { Notifications } from './notifications';
import { initWants, ungranted, type InitAsks } from './session-init';
import { RequestContext } from './request-context';
import type { ReplyChannel, RingStats, Transport, TransportSink } from './transport';

export { RequestContext };

/**
 * What a dispatcher answers: the encoded reply (one buffer, or parts for one writev, e.g. a
 * header and the data of a READ), or a positive errno for an error reply (0: empty success).
 * A thrown error whose `code` is an errno name (FuseError, Node's fs errors) is answered with
 * that errno; anything else thrown is answered EIO and logged.
 */
export type Reply = Buffer | readonly Buffer[] | number;

/** The filesystem side of a session. Only dispatch() is required. */
export interface Dispatcher {
  /** What to ask for in the INIT reply, given the kernel's offer. */
  initWants?(offer: InitRequest): InitWants;
  /** Runs after negotiation and before the INIT reply goes out, so before any other request. */
  init?(negotiated: NegotiatedInit): void | Promise<void>;
  /** Every request except INIT, FORGET, BATCH_FORGET, INTERRUPT, NOTIFY_REPLY and DESTROY. */
  dispatch(req: Request, ctx: RequestContext): Reply | Promise<Reply>;
  /** FORGET and BATCH_FORGET (the kernel expects no reply). */
  forget?(items: readonly ForgetOne[]): void;
  /** DESTROY, or the end of the session, whichever comes first; called once. */
  destroy?(): void | Promise<void>;
  /** With passthrough: the directory backing files come from, checked at start (startPassthrough). */
  readonly backingDirFd?: number;
  /** Given the session's backing ids when the session is made (null without passthrough). */
  useBacking?(registry: BackingRegistry | null): void;
}

export interface SessionOptions {
  /** One line per unexpected failure (a handler throwing a non-errno error). Default: console.error. */
  log?: (line: string) => void;
  /** When set: one line per request and per reply, strace style, with the time taken. */
  debug?: (line: string) => void;
  /**
   * FUSE passthrough backing files (src/kernel/backing.ts): the
   * /dev/fuse fd to register them on; `require` makes a kernel that refuses passthrough fatal
   * (the session ends before serving); `ioctl` replaces ioctl-napi (tests inject EPERM).
   * Without it, open replies never pass through.
   */
  backing?: { deviceFd: number; require?: boolean; ioctl?: IoctlFunction; shared?: SharedBackingTable };
  /**
   * Several threads serving one connection (src/fs/threads.ts), each on its own cloned fd:
   * `initOnly`, the session that answers INIT stops reading once it has (the others serve every
   * request); `joined`, a session on a clone starts with what that INIT settled, and expects none.
   */
  initOnly?: boolean;
  joined?: NegotiatedInit;
  /**
   * INTERRUPT of a request this session is not serving: with several clones it may be in
   * flight on another one (the kernel sends INTERRUPT on any of them).
   */
  onForeignInterrupt?: (unique: number) => void;
  /**
   * Seconds after which the kernel aborts the connection when a request is still unanswered
   * (FUSE_REQUEST_TIMEOUT, Linux 6.14+; 1..65535, 0 or absent: never). A mount option, not
   * the filesystem's: it is asked for whatever the dispatcher wants. A kernel that does not
   * offer it gets one log line, and the mount works without.
   */
  requestTimeout?: number;
  /**
   * Ask for FUSE_ALLOW_IDMAP (Linux 6.12+): idmapped mounts of this mount may then be made. The
   * kernel fails INIT when it is granted without default_permissions, so mount() checks that.
   */
  allowIdmap?: boolean;
  /**
   * Ask for FUSE_OVER_IO_URING (Linux 6.14+): the transport (src/kernel/uring.ts) or the threads
   * serving the connection then take requests from io_uring rings.
   */
  overIoUring?: boolean;
}

/** Requests and error replies per opcode name; every opcode is present (0 when never seen). */
export interface SessionStats {
  requests: Record<string, number>;
  errors: Record<string, number>;
  /** Requests dispatched and not answered yet. */
  inFlight: number;
  /** Replies the kernel refused with ENOENT: it had given up on the request (interrupted). */
  orphanedReplies: number;
  /** Backing ids: live (registered, not closed), and totals since the start. */
  backing: { enabled: boolean; live: number; registered: number; closed: number; failed: number };
  /** With io_uring asked for: whether its rings serve, how many queues, and the requests they brought. */
  ioUring?: RingStats;
}

// Opcodes 1..53 index the counters directly; slot 0 collects CUSE_INIT and unknown opcodes.
const COUNTER_SLOTS = 64;
const OTHER_SLOT = 0;
const slotOf = (opcode: number): number => (opcode > 0 && opcode < COUNTER_SLOTS ? opcode : OTHER_SLOT);

// What the session needs of each opcode's row (OpcodeRow), by counter slot: one indexed load per
// request.
const KEEPS_BUFFER = new Uint8Array(COUNTER_SLOTS);
const IMPLAUSIBLE: (((req: Request) => number) | undefined)[] = [];
for (const row of OPCODE_TABLE) {
  const slot = slotOf(row.opcode);
  if (slot === OTHER_SLOT) continue;
  if (row.keepsBuffer) KEEPS_BUFFER[slot] = 1;
  IMPLAUSIBLE[slot] = row.implausible as ((req: Request) => number) | undefined;
}

export class Session {
  /** What INIT settled, once it has been answered. */
  negotiated: NegotiatedInit | null = null;
  /** What negotiateInit had to say about the filesystem's wishes (features the kernel lacks …). */
  initWarnings: string[] = [];
  /** Resolves when INIT has been answered; rejects when the session ends before that. */
  readonly ready: Promise<NegotiatedInit>;
  /** Resolves when the session has ended (unmount, abort, close()). */
  readonly closed: Promise<void>;
  /** Why the connection ended, when it was not a normal unmount (ENODEV). */
  endError: Error | null = null;
  /** Passthrough backing ids of this connection (null: no device fd given). */
  readonly backing: BackingRegistry | null;

  private readonly requests = new Float64Array(COUNTER_SLOTS);
  private readonly errors = new Float64Array(COUNTER_SLOTS);
  private orphaned = 0;
  private readonly inFlight = new InFlight();
  private decodeContext: DecodeContext = DEFAULT_DECODE_CONTEXT;
  private started = false;
  private ended = false;
  private destroyed = false;
  private readonly log: (line: string) => void;
  private readonly debug: ((line: string) => void) | undefined;
  private resolveReady!: (n: NegotiatedInit) => void;
  private rejectReady!: (err: Error) => void;
  private resolveClosed!: () => void;
  private readonly notifications = new Notifications(
    (data) => this.transport.notify(data),
    () => this.negotiated !== null && !this.ended,
  );
  private readonly initOnly: boolean;
  private readonly asks: InitAsks;
  private readonly onForeignInterrupt: ((unique: number) => void) | undefined;
  private readonly sink: TransportSink = {
    request: (buf, length, channel) => this.onRequest(buf, length, channel),
    end: (err) => this.onEnd(err),
  };

  constructor(
    private readonly transport: Transport,
    private readonly dispatcher: Dispatcher,
    options: SessionOptions = {},
  ) {
    this.log = options.log ?? ((line) => console.error(line));
    this.debug = options.debug;
    this.initOnly = options.initOnly ?? false;
    this.asks = {
      requestTimeout: options.requestTimeout ?? 0,
      allowIdmap: options.allowIdmap ?? false,
      overIoUring: options.overIoUring ?? false,
    };
    this.onForeignInterrupt = options.onForeignInterrupt;
    const b = options.backing;
    this.backing = b === undefined ? null : new BackingRegistry({
      deviceFd: b.deviceFd,
      require: b.require,
      ioctl: b.ioctl,
      warn: (m) => this.log(`tsfuse: ${m}`),
      debug: this.debug,
      shared: b.shared,
    });
    dispatcher.useBacking?.(this.backing);
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    const joined = options.joined;
    if (joined !== undefined) {
      this.negotiated = joined;
      this.decodeContext = joined.decodeContext;
      this.backing?.join(joined.passthrough, joined.maxStackDepth);
      this.resolveReady(joined);
    }
    this.ready.catch(() => {}); // observed through closed/endError when nobody awaits it
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
  }

  /** Starts reading requests. Call once the device is mounted (reads fail with EPERM before). */
  start(): void {
    if (this.started) throw new Error('session already started');
    this.started = true;
    this.transport.start(this.sink);
  }

  /**
   * Stops serving: closes the device fds. If they were the connection's last, the kernel aborts
   * it and the mount answers ENOTCONN until unmounted; prefer unmounting, which ends the
   * session by itself.
   */
  close(): void {
    this.onEnd(null);
  }

  /** Keep (default) or stop keeping the process alive while mounted. */
  ref(): void {
    this.transport.ref();
  }

  unref(): void {
    this.transport.unref();
  }

  stats(): SessionStats {
    const requests: Record<string, number> = {};
    const errors: Record<string, number> = {};
    for (const row of OPCODE_TABLE) {
      const slot = slotOf(row.opcode);
      requests[row.name] = slot === OTHER_SLOT ? 0 : this.requests[slot];
      errors[row.name] = slot === OTHER_SLOT ? 0 : this.errors[slot];
    }
    requests.OTHER = this.requests[OTHER_SLOT];
    errors.OTHER = this.errors[OTHER_SLOT];
    const b = this.backing;
    const backing = b === null
      ? { enabled: false, live: 0, registered: 0, closed: 0, failed: 0 }
      : { enabled: b.enabled, ...b.stats };
    const ioUring = this.transport.ringStats?.();
    return { requests, errors, inFlight: this.inFlight.count, orphanedReplies: this.orphaned, backing, ...(ioUring && { ioUring }) };
  }

  // ---- requests ---------------------------------------------------------------------------------

  private onRequest(buf: Buffer, length: number, channel: ReplyChannel): boolean {
    const decoded = decodeRequest(buf, length, this.decodeContext);
    // Every request has a header, a DecodeError none: one property load, where `'kind' in` on
    // request objects of ~50 shapes measured 15-35 ns against 5.
    if ((decoded as { header?: InHeader }).header === undefined) {
      this.onDecodeError(decoded as DecodeError, channel);
      return false;
    }
    const req = decoded as Request;
    const op = req.opcode;
    const slot = slotOf(op);
    this.requests[slot]++;
    switch (op) {
      case Opcode.INIT:
        this.onInit(req, channel);
        return false;
      case Opcode.FORGET:
        this.forget([{ nodeid: req.header.nodeid, nlookup: req.nlookup }]);
        return false;
      case Opcode.BATCH_FORGET:
        this.forget(req.forgets);
        return false;
      case Opcode.INTERRUPT:
        // The kernel only interrupts requests it has handed out, and this session dispatches each
        // one as it is read: an unknown unique was answered already, and needs nothing more.
        if (!this.interrupt(req.unique)) this.onForeignInterrupt?.(req.unique);
        return false;
      case Opcode.NOTIFY_REPLY:
        this.notifications.reply(req.header.unique, req.data);
        return false;
      case Opcode.DESTROY:
        this.onDestroy(req.header.unique, channel);
        return false;
      case Opcode.RELEASE:
        // Counted here, not in the filesystem's release(): the
        // kernel dropped this open's io mode before sending RELEASE, and the reference must go
        // even when the filesystem has no release() (ENOSYS) or it fails.
        this.backing?.release(req.header.nodeid, req.fh);
        break;
    }
    const ctx = new RequestContext(req.header);
    ctx.backing = this.backing;
    if (this.negotiated === null || this.destroyed) {
      // The kernel sends nothing before INIT is answered, nor after DESTROY; a peer that does
      // gets EIO, and the filesystem (not initialised, or already torn down) never sees it.
      this.send(ctx, slot, channel, Errno.EIO);
      return false;
    }
    const refused = IMPLAUSIBLE[slot]?.(req) ?? 0;
    if (refused !== 0) {
      this.send(ctx, slot, channel, refused);
      return false;
    }
    if (this.debug !== undefined) {
      ctx.started = performance.now();
      this.debug(describeRequest(req));
    }
    this.inFlight.link(ctx);
    let result: Reply | Promise<Reply>;
    try {
      result = this.dispatcher.dispatch(req, ctx);
    } catch (err) {
      this.send(ctx, slot, channel, this.errnoOf(err, ctx, op));
      return false;
    }
    if (!isPromise(result)) {
      this.send(ctx, slot, channel, result);
      return false;
    }
    const keep = KEEPS_BUFFER[slot] === 1;
    result.then(
      (reply) => {
        this.send(ctx, slot, channel, reply);
        if (keep) this.transport.release(buf);
      },
      (err: unknown) => {
        this.send(ctx, slot, channel, this.errnoOf(err, ctx, op));
        if (keep) this.transport.release(buf);
      },
    );
    return keep;
  }

  /**
   * Interrupts the request in flight with this unique (INTERRUPT, or one that arrived on another
   * clone of the connection); false when this session is not serving it.
   */
  interrupt(unique: number): boolean {
    const ctx = this.inFlight.find(unique);
    ctx?.interrupt();
    return ctx !== undefined;
  }

  /** The errno for a thrown value; a non-errno error is a bug in the handler: EIO and a log line. */
  private errnoOf(err: unknown, ctx: RequestContext, opcode: number): number {
    const errno = errnoFromError(err, 0);
    if (errno !== 0) return errno;
    // An interrupted handler that gave up with its own AbortError still means EINTR.
    if (ctx.interrupted) return Errno.EINTR;
    this.log(`tsfuse: ${opcodeName(opcode)} (unique ${ctx.unique}) failed, answered EIO: ${oneLine(err)}`);
    return Errno.EIO;
  }

  /** Writes the reply of a dispatched request, once. */
  private send(ctx: RequestContext, slot: number, channel: ReplyChannel, reply: Reply): void {
    this.inFlight.unlink(ctx);
    let data: Buffer | readonly Buffer[];
    let error = 0;
    if (typeof reply === 'number') {
      error = reply;
      data = reply === 0 ? encodeEmptyReply(ctx.unique) : encodeErrorReply(ctx.unique, reply);
    } else {
      data = reply;
      const head = Buffer.isBuffer(reply) ? reply : (reply as readonly Buffer[])[0];
      if (head.length >= OUT_HEADER_SIZE) error = -head.readInt32LE(4);
    }
    if (error !== 0) this.errors[slot]++;
    if (this.debug !== undefined) {
      const ms = ctx.started > 0 ? ` (${(performance.now() - ctx.started).toFixed(3)} ms)` : '';
      this.debug(`  unique=${ctx.unique} -> ${error === 0 ? 'OK' : errnoName(error) ?? `errno ${error}`}${ms}`);
    }
    const delivered = this.write(channel, data, ctx.unique);
    if ((!delivered || error !== 0) && !this.ended) {
      // The kernel got no successful reply: no RELEASE (or FORGET) will come for what it would
      // have carried.
      ctx.undeliver();
    }
  }

  /** Writes one reply; false when the kernel did not take it. */
  private write(channel: ReplyChannel, data: Buffer | readonly Buffer[], unique: number): boolean {
    if (this.ended) return false;
    try {
      channel.write(data);
      return true;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 'ENOENT') {
        // The kernel no longer waits for this request (its caller was interrupted and gave up):
        // nothing to do, the request is over either way.
        this.orphaned++;
      } else if (code !== 'ENODEV') {
        this.log(`tsfuse: writing the reply to unique ${unique} failed: ${oneLine(err)}`);
      }
      return false;
    }
  }

  private onDecodeError(e: DecodeError, channel: ReplyChannel): void {
    this.requests[slotOf(e.opcode ?? 0)]++;
    this.debug?.(describeDecodeError(e));
    // Without a unique there is no request to answer; with one, the kernel waits for an answer.
    if (e.unique === undefined) return;
    // A malformed FORGET/INTERRUPT/NOTIFY_REPLY expects no reply either.
    if (opcodeRow(e.opcode ?? 0)?.reply === false) return;
    this.errors[slotOf(e.opcode ?? 0)]++;
    this.write(channel, encodeErrorReply(e.unique, Errno[e.errno]), e.unique);
  }

  // ---- session duties ----------------------------------------------------------------------------

  private onInit(req: InitRequest, channel: ReplyChannel): void {
    const unique = req.header.unique;
    if (this.negotiated !== null) {
      this.errors[Opcode.INIT]++;
      this.write(channel, encodeErrorReply(unique, Errno.EPROTO), unique);
      return;
    }
    let result;
    let wants: InitWants = {};
    try {
      wants = initWants(this.dispatcher.initWants?.(req) ?? {}, this.asks);
      result = negotiateInit(req, wants);
    } catch (err) {
      this.errors[Opcode.INIT]++;
      this.log(`tsfuse: INIT failed: ${oneLine(err)}`);
      this.write(channel, encodeErrorReply(unique, Errno.EPROTO), unique);
      this.rejectReady(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.initWarnings.push(...result.warnings);
    if (result.negotiated !== null) for (const line of ungranted(result.negotiated, this.asks)) this.log(line);
    for (const w of result.warnings) this.debug?.(`INIT: ${w}`);
    if (result.status === 'retry') {
      // A kernel with a newer major takes our major and sends INIT again.
      this.write(channel, result.reply, unique);
      return;
    }
    const negotiated = result.negotiated;
    if (result.status === 'error' || negotiated === null) {
      this.errors[Opcode.INIT]++;
      this.write(channel, result.reply, unique);
      this.rejectReady(new Error(`INIT refused: ${result.warnings.join('; ')}`));
      return;
    }
    const reply = result.reply;
    const answer = (): void => {
      this.negotiated = negotiated;
      this.decodeContext = negotiated.decodeContext;
      this.debug?.(`INIT ${negotiated.major}.${negotiated.minor} flags ${negotiated.flags.join(',')} max_write ${negotiated.maxWrite}`);
      this.write(channel, reply, unique);
      // Before anything else is read: the sessions on the clones serve the rest.
      if (this.initOnly) this.transport.pause?.();
      // After the reply: the kernel turns passthrough on while it
      // processes it, and BACKING_OPEN is EPERM before.
      try {
        this.startPassthrough(negotiated, wants, result.warnings);
        this.transport.initialized?.(negotiated);
      } catch (err) {
        // Said once, by whoever awaits `ready` (mount() rejects with it), not logged here too.
        this.rejectReady(err as Error);
        this.close();
        return;
      }
      this.resolveReady(negotiated);
    };
    const refuse = (err: unknown): void => {
      this.errors[Opcode.INIT]++;
      this.log(`tsfuse: the filesystem's init() failed, the mount will not work: ${oneLine(err)}`);
      this.write(channel, encodeErrorReply(unique, errnoFromError(err, Errno.EIO)), unique);
      this.rejectReady(err instanceof Error ? err : new Error(String(err)));
    };
    let pending: void | Promise<void>;
    try {
      pending = this.dispatcher.init?.(negotiated);
    } catch (err) {
      refuse(err);
      return;
    }
    if (isPromise(pending)) pending.then(answer, refuse);
    else answer();
  }

  /**
   * Tells the backing registry what INIT settled and says why passthrough is off when it was
   * asked for: one warning, or with `require` an error that ends the session. When granted, the
   * kernel is asked at once whether it takes backing files from this process (EPERM without
   * CAP_SYS_ADMIN) and from the filesystem of the dispatcher's backingDirFd (ELOOP when stacked
   * too deep): better at mount time than at the first open, which would have to fail.
   */
  private startPassthrough(negotiated: NegotiatedInit, wants: InitWants, warnings: readonly string[]): void {
    const about = warnings.filter((w) => /passthrough|WRITEBACK_CACHE/i.test(w));
    const wanted = wants.passthrough === true || (wants.flags ?? []).includes('FUSE_PASSTHROUGH');
    // E.g. writeback cache refused in favour of passthrough: the user asked for both.
    if (negotiated.passthrough) for (const w of about) this.log(`tsfuse: ${w}`);
    const b = this.backing;
    if (b === null) return;
    b.negotiated(negotiated.passthrough, wanted, about.length > 0 ? about.join('; ') : undefined, negotiated.maxStackDepth);
    if (!negotiated.passthrough) return;
    const source = this.dispatcher.backingDirFd;
    if (source !== undefined) {
      b.checkSource(source);
      return;
    }
    let dir: number;
    try {
      dir = fs.openSync('/', fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    } catch {
      return;
    }
    try {
      b.check(dir);
    } finally {
      fs.closeSync(dir);
    }
  }

  private forget(items: readonly ForgetOne[]): void {
    try {
      this.dispatcher.forget?.(items);
    } catch (err) {
      this.log(`tsfuse: forget failed: ${oneLine(err)}`);
    }
  }

  private onDestroy(unique: number, channel: ReplyChannel): void {
    this.runDestroy().finally(() => this.write(channel, encodeEmptyReply(unique), unique));
  }

  private async runDestroy(): Promise<void> {
    if (this.destroyed || this.negotiated === null) return;
    this.destroyed = true;
    try {
      await this.dispatcher.destroy?.();
    } catch (err) {
      this.log(`tsfuse: destroy failed: ${oneLine(err)}`);
    }
  }

  private onEnd(err: Error | null): void {
    if (this.ended) return;
    this.ended = true;
    this.endError = err;
    if (err !== null) this.log(`tsfuse: the FUSE connection failed: ${oneLine(err)}`);
    this.transport.close();
    // The kernel dropped the connection's backing ids with it.
    this.backing?.clear();
    // Handlers still running learn that nobody waits for them any more.
    for (const ctx of this.inFlight.takeAll()) ctx.interrupt();
    this.notifications.end();
    this.rejectReady(err ?? new Error('the FUSE session ended before INIT was answered'));
    this.runDestroy().finally(() => this.resolveClosed());
  }

  // ---- notifications: written by notifications.ts, from the threadpool ----------------------------

  /**
   * Drops cached data of `nodeid` from `offset` for `length` bytes (0: to the end); a negative
   * offset drops only the cached attributes.
   */
  notifyInvalInode(nodeid: number, offset = 0, length = 0): Promise<void> {
    return this.notifications.invalInode(nodeid, offset, length);
  }

  /**
   * Drops the cached name `name` in `parent` (ENOENT when the kernel has no such entry).
   * `expireOnly` marks it stale instead of dropping it (FUSE_EXPIRE_ONLY, kernel 6.2+).
   */
  notifyInvalEntry(parent: number, name: string | Buffer, options: { expireOnly?: boolean } = {}): Promise<void> {
    return this.notifications.invalEntry(parent, name, options);
  }

  /** Tells the kernel that `name` (inode `child`) was removed from `parent`. */
  notifyDelete(parent: number, child: number, name: string | Buffer): Promise<void> {
    return this.notifications.delete(parent, child, name);
  }

  /** Wakes the pollers of the kernel handle `kh` that a POLL request carried. */
  notifyPoll(kh: bigint): Promise<void> {
    return this.notifications.pollWakeup(kh);
  }

  /** Puts `data` into the page cache of `nodeid` at `offset`. */
  notifyStore(nodeid: number, offset: number, data: Buffer): Promise<void> {
    return this.notifications.store(nodeid, offset, data);
  }

  /** Reads back up to `size` bytes of `nodeid`'s page cache at `offset` (fewer where nothing is cached). */
  notifyRetrieve(nodeid: number, offset: number, size: number): Promise<Buffer> {
    return this.notifications.retrieve(nodeid, offset, size);
  }

}

function isPromise<T>(x: T | Promise<T>): x is Promise<T> {
  return typeof (x as { then?: unknown } | null)?.then === 'function';
}

/** An error as one log line: name, message and where it was thrown. */
function oneLine(err: unknown): string {
  if (!(err instanceof Error)) return String(err).split('\n')[0];
  const frame = err.stack?.split('\n').find((l) => l.trimStart().startsWith('at '))?.trim();
  return `${err.name}: ${err.message.split('\n')[0]}${frame ? ` (${frame})` : ''}`;
}
