// The FUSE session: the part of serving a mount that is not the filesystem's. It decodes each
// request, answers INIT, FORGET/BATCH_FORGET (no reply), INTERRUPT, DESTROY, unknown opcodes and
// malformed requests itself, hands everything else to a Dispatcher (src/fs/bridge.ts adapts the
// user's filesystem to it), writes the reply on the channel the request came from, counts
// requests and errors per opcode, and sends notifications.
import { FOPEN_PASSTHROUGH, FUSE_EXPIRE_ONLY, Opcode } from '../protocol/constants';
import { decodeRequest, DEFAULT_DECODE_CONTEXT } from '../protocol/decode';
import { describeDecodeError, describeRequest } from '../protocol/debug';
import { Errno, errnoFromError, errnoName } from '../protocol/errors';
import type { InitWants, NegotiatedInit } from '../protocol/init';
import { negotiateInit } from '../protocol/init';
import {
  encodeNotifyDelete, encodeNotifyInvalEntry, encodeNotifyInvalInode, encodeNotifyPoll, encodeNotifyRetrieve,
  encodeNotifyStoreHeader,
} from '../protocol/notify';
import { OPCODE_TABLE, opcodeName } from '../protocol/opcodes';
import { encodeEmptyReply, encodeErrorReply, OUT_HEADER_SIZE } from '../protocol/reply';
import type { DecodeContext, DecodeError, ForgetOne, InitRequest, Request } from '../protocol/requests';
import type { InHeader, OpenOut } from '../protocol/types';
import * as fs from 'node:fs';
import { BackingRegistry, type IoctlFunction, type OpenIntent } from './backing';
import type { SharedBackingTable } from './backing-table';
import { errnoError } from './errors';
import { implausible } from './sanity';
import type { ReplyChannel, Transport, TransportSink } from './transport';

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

/**
 * One request in flight: who asks, and whether the kernel has interrupted it. Structurally the
 * RequestContext/CreateContext of src/fs/api.ts.
 */
export class RequestContext {
  readonly unique: number;
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  /** The caller's umask, for operations that create a node (set by the dispatcher). */
  umask = 0;
  /** True once INTERRUPT arrived for this request (or the session ended under it). */
  interrupted = false;
  /** Set when --debug timing is on. */
  started = 0;
  // The session's backing-id registry, for openOut(): a context, not the filesystem, decides
  // whether an open reply passes through, because the kernel's rules are per connection.
  backing: BackingRegistry | null = null;
  // What to undo if this request's successful reply never reaches the kernel (see onUndelivered).
  private undos: (() => void)[] | null = null;
  /** @internal The session's list of requests in flight (see Session.inflightHead). */
  prevInFlight: RequestContext | null = null;
  /** @internal */
  nextInFlight: RequestContext | null = null;
  /** @internal Linked into the session's in-flight list (dispatched, not answered). */
  inFlight = false;
  // Created on first use of `signal`: most handlers never look, and an AbortController per
  // request would be paid on every request.
  private controller: AbortController | undefined;

  constructor(header: InHeader) {
    this.unique = header.unique;
    this.uid = header.uid;
    this.gid = header.gid;
    this.pid = header.pid;
  }

  /** Aborted when the kernel interrupts the request; the reason is an EINTR errno error. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.interrupted) this.controller.abort(interruptReason());
    }
    return this.controller.signal;
  }

  /**
   * The fuse_open_out of an OPEN/CREATE/TMPFILE reply: the
   * backing registry decides passthrough per inode (src/kernel/backing.ts) and counts the open
   * until its RELEASE. Call it only while encoding the reply that will be sent.
   */
  openOut(nodeid: number, intent: OpenIntent): OpenOut {
    if (this.backing === null) return { fh: intent.fh, openFlags: intent.openFlags & ~FOPEN_PASSTHROUGH };
    const backing = this.backing;
    const out = backing.open(nodeid, intent);
    this.onUndelivered(() => backing.notDelivered(nodeid, intent.fh));
    return out;
  }

  /**
   * For a reply that hands the kernel something it gives back later (an open file: RELEASE; a
   * lookup reference: FORGET): `undo` runs if the kernel gets no successful reply after all (an
   * error is sent instead, or the write fails with ENOENT, the caller having given up), as
   * libfuse does for OPEN and CREATE.
   */
  onUndelivered(undo: () => void): void {
    (this.undos ??= []).push(undo);
  }

  /** @internal The reply was not delivered: runs the undos, once. */
  undeliver(): void {
    const undos = this.undos;
    this.undos = null;
    if (undos !== null) for (const undo of undos) undo();
  }

  interrupt(): void {
    if (this.interrupted) return;
    this.interrupted = true;
    this.controller?.abort(interruptReason());
  }
}

function interruptReason(): Error {
  return errnoError('EINTR', 'the request was interrupted');
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
}

// Opcodes 1..53 index the counters directly; slot 0 collects CUSE_INIT and unknown opcodes.
const COUNTER_SLOTS = 64;
const OTHER_SLOT = 0;
const slotOf = (opcode: number): number => (opcode > 0 && opcode < COUNTER_SLOTS ? opcode : OTHER_SLOT);

// Requests whose decoded form keeps views into the read buffer (data payloads) until answered.
const KEEPS_BUFFER = new Uint8Array(COUNTER_SLOTS);
KEEPS_BUFFER[Opcode.WRITE] = 1;
KEEPS_BUFFER[Opcode.SETXATTR] = 1;
KEEPS_BUFFER[Opcode.IOCTL] = 1;

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
  // Requests dispatched and not answered, oldest first: an intrusive doubly-linked list through
  // the contexts, not a Map by unique. Every request is linked and unlinked once, while only
  // INTERRUPT (rare) and the end of the session look for one; Map set+get+delete took 60-180 ns
  // per request (numeric keys that only grow), linking ~10.
  private inflightHead: RequestContext | null = null;
  private inflightTail: RequestContext | null = null;
  private inflightCount = 0;
  private decodeContext: DecodeContext = DEFAULT_DECODE_CONTEXT;
  private started = false;
  private ended = false;
  private destroyed = false;
  private readonly log: (line: string) => void;
  private readonly debug: ((line: string) => void) | undefined;
  private resolveReady!: (n: NegotiatedInit) => void;
  private rejectReady!: (err: Error) => void;
  private resolveClosed!: () => void;
  private nextNotifyUnique = 1;
  private readonly retrieves = new Map<number, { resolve(data: Buffer): void; reject(err: Error): void }>();
  private readonly initOnly: boolean;
  private readonly requestTimeout: number;
  private readonly allowIdmap: boolean;
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
    this.requestTimeout = options.requestTimeout ?? 0;
    this.allowIdmap = options.allowIdmap ?? false;
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
    return { requests, errors, inFlight: this.inflightCount, orphanedReplies: this.orphaned, backing };
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
        this.onNotifyReply(req.header.unique, req.data);
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
    const refused = implausible(req);
    if (refused !== 0) {
      this.send(ctx, slot, channel, refused);
      return false;
    }
    if (this.debug !== undefined) {
      ctx.started = performance.now();
      this.debug(describeRequest(req));
    }
    this.link(ctx);
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

  private link(ctx: RequestContext): void {
    const tail = this.inflightTail;
    ctx.prevInFlight = tail;
    if (tail === null) this.inflightHead = ctx;
    else tail.nextInFlight = ctx;
    this.inflightTail = ctx;
    ctx.inFlight = true;
    this.inflightCount++;
  }

  private unlink(ctx: RequestContext): void {
    if (!ctx.inFlight) return;
    ctx.inFlight = false;
    this.inflightCount--;
    const prev = ctx.prevInFlight;
    const next = ctx.nextInFlight;
    if (prev === null) this.inflightHead = next;
    else prev.nextInFlight = next;
    if (next === null) this.inflightTail = prev;
    else next.prevInFlight = prev;
    ctx.prevInFlight = ctx.nextInFlight = null;
  }

  /**
   * Interrupts the request in flight with this unique (INTERRUPT, or one that arrived on another
   * clone of the connection); false when this session is not serving it.
   */
  interrupt(unique: number): boolean {
    const ctx = this.findInFlight(unique);
    ctx?.interrupt();
    return ctx !== undefined;
  }

  /** The newest request in flight with this unique (the kernel's uniques are unique while in flight). */
  private findInFlight(unique: number): RequestContext | undefined {
    for (let ctx = this.inflightTail; ctx !== null; ctx = ctx.prevInFlight) if (ctx.unique === unique) return ctx;
    return undefined;
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
    this.unlink(ctx);
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
    if (e.opcode === Opcode.FORGET || e.opcode === Opcode.BATCH_FORGET || e.opcode === Opcode.INTERRUPT || e.opcode === Opcode.NOTIFY_REPLY) return;
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
      wants = this.dispatcher.initWants?.(req) ?? {};
      if (this.requestTimeout > 0) wants = { ...wants, requestTimeout: this.requestTimeout };
      if (this.allowIdmap) wants = { ...wants, flags: [...(wants.flags ?? []), 'FUSE_ALLOW_IDMAP'] };
      result = negotiateInit(req, wants);
    } catch (err) {
      this.errors[Opcode.INIT]++;
      this.log(`tsfuse: INIT failed: ${oneLine(err)}`);
      this.write(channel, encodeErrorReply(unique, Errno.EPROTO), unique);
      this.rejectReady(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.initWarnings.push(...result.warnings);
    if (this.requestTimeout > 0 && result.negotiated !== null && result.negotiated.requestTimeout === 0) {
      this.log(`tsfuse: request timeout not set: this kernel does not offer FUSE_REQUEST_TIMEOUT (Linux 6.14+); a server that stops answering leaves callers waiting`);
    }
    if (this.allowIdmap && result.negotiated !== null && !result.negotiated.flags.includes('FUSE_ALLOW_IDMAP')) {
      this.log('tsfuse: allow_idmap not set: this kernel does not offer FUSE_ALLOW_IDMAP (Linux 6.12+); idmapped mounts of this mount will be refused');
    }
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
    let ctx = this.inflightHead;
    this.inflightHead = this.inflightTail = null;
    this.inflightCount = 0;
    while (ctx !== null) {
      const next = ctx.nextInFlight;
      ctx.inFlight = false;
      ctx.prevInFlight = ctx.nextInFlight = null;
      ctx.interrupt();
      ctx = next;
    }
    const gone = errnoError('ENODEV', 'the FUSE session has ended');
    for (const r of this.retrieves.values()) r.reject(gone);
    this.retrieves.clear();
    this.rejectReady(err ?? new Error('the FUSE session ended before INIT was answered'));
    this.runDestroy().finally(() => this.resolveClosed());
  }

  // ---- notifications -------------------------------------------------------------------------------
  // Written from the threadpool (Transport.notify): the kernel may need one of our replies before
  // it can apply a notification, and the thread that writes the replies must not be stuck in it.

  private notify(data: Buffer | readonly Buffer[]): Promise<void> {
    if (this.negotiated === null || this.ended) {
      return Promise.reject(errnoError('ENOTCONN', 'notification on a session that is not running'));
    }
    return this.transport.notify(data);
  }

  /**
   * Drops cached data of `nodeid` from `offset` for `length` bytes (0: to the end); a negative
   * offset drops only the cached attributes.
   */
  notifyInvalInode(nodeid: number, offset = 0, length = 0): Promise<void> {
    return this.notify(encodeNotifyInvalInode(nodeid, offset, length));
  }

  /**
   * Drops the cached name `name` in `parent` (ENOENT when the kernel has no such entry).
   * `expireOnly` marks it stale instead of dropping it (FUSE_EXPIRE_ONLY, kernel 6.2+).
   */
  notifyInvalEntry(parent: number, name: string | Buffer, options: { expireOnly?: boolean } = {}): Promise<void> {
    return this.notify(encodeNotifyInvalEntry(parent, name, options.expireOnly ? FUSE_EXPIRE_ONLY : 0));
  }

  /** Tells the kernel that `name` (inode `child`) was removed from `parent`. */
  notifyDelete(parent: number, child: number, name: string | Buffer): Promise<void> {
    return this.notify(encodeNotifyDelete(parent, child, name));
  }

  /** Wakes the pollers of the kernel handle `kh` that a POLL request carried. */
  notifyPoll(kh: bigint): Promise<void> {
    return this.notify(encodeNotifyPoll(kh));
  }

  /** Puts `data` into the page cache of `nodeid` at `offset`. */
  notifyStore(nodeid: number, offset: number, data: Buffer): Promise<void> {
    return this.notify([encodeNotifyStoreHeader(nodeid, offset, data.length), data]);
  }

  /** Reads back up to `size` bytes of `nodeid`'s page cache at `offset` (fewer where nothing is cached). */
  async notifyRetrieve(nodeid: number, offset: number, size: number): Promise<Buffer> {
    const notifyUnique = this.nextNotifyUnique++;
    const answer = new Promise<Buffer>((resolve, reject) => this.retrieves.set(notifyUnique, { resolve, reject }));
    try {
      await this.notify(encodeNotifyRetrieve(notifyUnique, nodeid, offset, size));
    } catch (err) {
      this.retrieves.delete(notifyUnique);
      throw err;
    }
    return answer;
  }

  private onNotifyReply(notifyUnique: number, data: Buffer): void {
    const r = this.retrieves.get(notifyUnique);
    if (r === undefined) return;
    this.retrieves.delete(notifyUnique);
    r.resolve(Buffer.from(data)); // the read buffer is reused for the next request
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
