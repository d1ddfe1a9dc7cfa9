// Notifications to the kernel (FUSE_NOTIFY_*) and the answers to RETRIEVE. They are written from
// the threadpool (Transport.notify): the kernel may need one of our replies before it can apply a
// notification (INVAL_ENTRY takes the directory lock a pending LOOKUP holds), and the thread
// that writes the replies must not be stuck in it.
import { FUSE_EXPIRE_ONLY } from '../protocol/constants';
import {
  encodeNotifyDelete, encodeNotifyInvalEntry, encodeNotifyInvalInode, encodeNotifyPoll, encodeNotifyRetrieve,
  encodeNotifyStoreHeader,
} from '../protocol/notify';
import { errnoError } from './errors';

export class Notifications {
  private nextUnique = 1;
  private readonly retrieves = new Map<number, { resolve(data: Buffer): void; reject(err: Error): void }>();

  /** `write` sends one notification; `running` says whether the session can send now. */
  constructor(
    private readonly write: (data: Buffer | readonly Buffer[]) => Promise<void>,
    private readonly running: () => boolean,
  ) {}

  private send(data: Buffer | readonly Buffer[]): Promise<void> {
    if (!this.running()) return Promise.reject(errnoError('ENOTCONN', 'notification on a session that is not running'));
    return this.write(data);
  }

  invalInode(nodeid: number, offset: number, length: number): Promise<void> {
    return this.send(encodeNotifyInvalInode(nodeid, offset, length));
  }

  invalEntry(parent: number, name: string | Buffer, options: { expireOnly?: boolean }): Promise<void> {
    return this.send(encodeNotifyInvalEntry(parent, name, options.expireOnly ? FUSE_EXPIRE_ONLY : 0));
  }

  delete(parent: number, child: number, name: string | Buffer): Promise<void> {
    return this.send(encodeNotifyDelete(parent, child, name));
  }

  store(nodeid: number, offset: number, data: Buffer): Promise<void> {
    return this.send([encodeNotifyStoreHeader(nodeid, offset, data.length), data]);
  }

  pollWakeup(kh: bigint): Promise<void> {
    return this.send(encodeNotifyPoll(kh));
  }

  /** Resolves with the data the kernel sends back in a NOTIFY_REPLY (see reply()). */
  async retrieve(nodeid: number, offset: number, size: number): Promise<Buffer> {
    const unique = this.nextUnique++;
    const answer = new Promise<Buffer>((resolve, reject) => this.retrieves.set(unique, { resolve, reject }));
    try {
      await this.send(encodeNotifyRetrieve(unique, nodeid, offset, size));
    } catch (err) {
      this.retrieves.delete(unique);
      throw err;
    }
    return answer;
  }

  /** A NOTIFY_REPLY: the data of the retrieve with this notify unique. */
  reply(unique: number, data: Buffer): void {
    const r = this.retrieves.get(unique);
    if (r === undefined) return;
    this.retrieves.delete(unique);
    r.resolve(Buffer.from(data)); // the read buffer is reused for the next request
  }

  /** The session ended: retrieves still waiting fail with ENODEV. */
  end(): void {
    const gone = errnoError('ENODEV', 'the FUSE session has ended');
    for (const r of this.retrieves.values()) r.reject(gone);
    this.retrieves.clear();
  }
}
