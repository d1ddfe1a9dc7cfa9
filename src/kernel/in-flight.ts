// The requests a session has dispatched and not answered, oldest first: an intrusive
// doubly-linked list through the contexts, not a Map by unique. Every request is linked and
// unlinked once, while only INTERRUPT (rare) and the end of the session look for one; Map
// set+get+delete took 60-180 ns per request (numeric keys that only grow), linking ~10.
import type { RequestContext } from './request-context';

export class InFlight {
  private head: RequestContext | null = null;
  private tail: RequestContext | null = null;
  /** Requests dispatched and not answered. */
  count = 0;

  link(ctx: RequestContext): void {
    const tail = this.tail;
    ctx.prevInFlight = tail;
    if (tail === null) this.head = ctx;
    else tail.nextInFlight = ctx;
    this.tail = ctx;
    ctx.inFlight = true;
    this.count++;
  }

  /** Takes a request out (answered); one already out is left alone. */
  unlink(ctx: RequestContext): void {
    if (!ctx.inFlight) return;
    ctx.inFlight = false;
    this.count--;
    const prev = ctx.prevInFlight;
    const next = ctx.nextInFlight;
    if (prev === null) this.head = next;
    else prev.nextInFlight = next;
    if (next === null) this.tail = prev;
    else next.prevInFlight = prev;
    ctx.prevInFlight = ctx.nextInFlight = null;
  }

  /** The newest request in flight with this unique (the kernel's uniques are unique while in flight). */
  find(unique: number): RequestContext | undefined {
    for (let ctx = this.tail; ctx !== null; ctx = ctx.prevInFlight) if (ctx.unique === unique) return ctx;
    return undefined;
  }

  /** Empties the list (the session has ended) and returns what was in it, oldest first. */
  takeAll(): RequestContext[] {
    const all: RequestContext[] = [];
    let ctx = this.head;
    this.head = this.tail = null;
    this.count = 0;
    while (ctx !== null) {
      const next = ctx.nextInFlight;
      ctx.inFlight = false;
      ctx.prevInFlight = ctx.nextInFlight = null;
      all.push(ctx);
      ctx = next;
    }
    return all;
  }
}
