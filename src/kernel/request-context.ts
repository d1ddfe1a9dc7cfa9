// One request in flight as the session and the filesystem see it: who asks, whether the kernel
// has interrupted it, what to undo if its reply never arrives, and its place in the session's
// list of requests in flight (in-flight.ts).
import { FOPEN_PASSTHROUGH } from '../protocol/constants';
import type { InHeader, OpenOut } from '../protocol/types';
import type { BackingRegistry, OpenIntent } from './backing';
import { errnoError } from './errors';

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
  /** @internal The session's list of requests in flight (in-flight.ts). */
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
