// A Transport without a kernel, for protocol-level tests: the test plays the kernel, pushing
// request bytes and reading back what the session wrote. It shows what a real kernel here
// cannot: an old kernel's INIT offer, a truncated request, a write the kernel refuses.
import type { ReplyChannel, Transport, TransportSink } from './transport';
import { errnoError } from './errors';
import type { ErrnoName } from '../protocol/errors';

export class MemoryTransport implements Transport {
  /** Every reply the session wrote, in order (a writev's parts joined). */
  readonly replies: Buffer[] = [];
  /** Every notification the session wrote. */
  readonly notifications: Buffer[] = [];
  /** Buffers the session kept and has not released yet. */
  readonly kept = new Set<Buffer>();
  /**
   * Makes the next writes fail like the kernel would: return an errno name for a reply to
   * refuse (it is not recorded), or undefined to accept it.
   */
  refuse: ((reply: Buffer) => ErrnoName | undefined) | undefined;

  private sink: TransportSink | null = null;
  private waiters: (() => void)[] = [];
  private readonly channel: ReplyChannel = {
    write: (data) => {
      const buf = Buffer.isBuffer(data) ? Buffer.from(data) : Buffer.concat(data as Buffer[]);
      const code = this.refuse?.(buf);
      if (code !== undefined) throw errnoError(code, 'write /dev/fuse (memory transport)');
      this.replies.push(buf);
      this.wake();
    },
  };

  start(sink: TransportSink): void {
    this.sink = sink;
  }

  /** Delivers one request (copied, as a read from the device would be). */
  push(request: Buffer): void {
    if (this.sink === null) throw new Error('MemoryTransport: not started');
    const buf = Buffer.from(request);
    if (this.sink.request(buf, buf.length, this.channel)) this.kept.add(buf);
  }

  /** Ends the connection as an unmount (ENODEV) would, or with `err`. */
  end(err: Error | null = null): void {
    this.sink?.end(err);
  }

  /** Resolves once at least `count` replies have been written. */
  async waitReplies(count: number): Promise<Buffer[]> {
    while (this.replies.length < count) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.replies;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  release(buf: Buffer): void {
    this.kept.delete(buf);
  }

  async notify(data: Buffer | readonly Buffer[]): Promise<void> {
    const buf = Buffer.isBuffer(data) ? Buffer.from(data) : Buffer.concat(data as Buffer[]);
    const code = this.refuse?.(buf);
    if (code !== undefined) throw errnoError(code, 'notify (memory transport)');
    this.notifications.push(buf);
    this.wake();
  }

  close(): void {
    this.sink = null;
  }

  ref(): void {}

  unref(): void {}
}
