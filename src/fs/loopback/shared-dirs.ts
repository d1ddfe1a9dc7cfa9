// Open directories of a loopback served on several threads (threaded.ts). READDIR offsets are
// indexes into a snapshot of the directory (dirs.ts), so every READDIR of one open directory
// must read the same snapshot, whichever thread the kernel gives it to. The snapshot stays with
// the thread that answered the OPENDIR (its number is in the fh), and a READDIR that reaches
// another thread asks that one for the names by message.
//
// Re-reading the directory on the other thread instead would be wrong, not just slower: the
// offsets the kernel holds index into the first snapshot, so a name created or removed in
// between would shift them, and a listing would repeat or skip names that never changed.
// Forwarding costs a message round trip only when a listing moves between threads; the lookups
// of READDIRPLUS still run on the thread that got the request (the inode table is shared).
import { BroadcastChannel } from 'node:worker_threads';
import { FuseError } from '../errors';
import type { DirEntry } from './dirs';
import type { DirHandle, DirHandles, Listing } from './handles';
import type { Inode, InodeStore } from './inodes';

/** Thread numbers fit below this in an fh (MAX_THREADS of src/fs/threads.ts). */
const THREAD_SLOTS = 256;
/**
 * Names per forwarded answer: more than one READDIR reply can hold (the kernel asks for at most
 * a few pages; a dirent takes at least 32 bytes).
 */
const FORWARDED_NAMES = 8192;

type Message =
  | { type: 'list'; fh: number; offset: number; from: number; id: number }
  | { type: 'listed'; to: number; id: number; entries: Uint8Array[]; error: string | null }
  | { type: 'release'; fh: number };

export class ForwardedDirs implements DirHandles {
  private readonly dirs = new Map<number, DirHandle>();
  private next = 1;
  private readonly channel: BroadcastChannel;
  private readonly waiting = new Map<number, { resolve: (entries: Uint8Array[]) => void; reject: (err: Error) => void }>();
  private nextId = 1;

  /**
   * `channel`: a name all threads of this loopback share; `read`: a directory's snapshot.
   */
  constructor(channel: string, private readonly thread: number, private readonly inodes: InodeStore,
    private readonly read: (inode: Inode) => DirEntry[]) {
    this.channel = new BroadcastChannel(channel);
    // Only open directories should keep a thread alive, and they are the session's business.
    this.channel.unref();
    this.channel.onmessage = (event) => this.onMessage((event as MessageEvent).data as Message);
  }

  open(inode: Inode): number {
    const fh = this.next++ * THREAD_SLOTS + this.thread;
    this.dirs.set(fh, { inode, entries: undefined });
    return fh;
  }

  listing(fh: number, nodeid: number, offset: number): Listing | Promise<Listing> {
    if (fh % THREAD_SLOTS === this.thread) {
      const dir = this.own(fh);
      return { inode: dir.inode, entries: this.snapshot(dir, offset), base: 0 };
    }
    const inode = this.inodes.get(nodeid);
    const id = this.nextId++;
    return new Promise<Listing>((resolve, reject) => {
      this.waiting.set(id, {
        resolve: (entries) => resolve({ inode, entries: entries.map((u) => Buffer.from(u.buffer, u.byteOffset, u.length)), base: offset }),
        reject,
      });
      this.post({ type: 'list', fh, offset, from: this.thread, id });
    });
  }

  inode(fh: number, nodeid: number): Inode {
    return fh % THREAD_SLOTS === this.thread ? this.own(fh).inode : this.inodes.get(nodeid);
  }

  release(fh: number): void {
    if (fh % THREAD_SLOTS === this.thread) this.own(fh);
    else this.post({ type: 'release', fh });
    this.dirs.delete(fh);
  }

  clear(): void {
    this.dirs.clear();
    for (const w of this.waiting.values()) w.reject(new FuseError('EIO', 'the filesystem was destroyed'));
    this.waiting.clear();
    this.channel.close();
  }

  private own(fh: number): DirHandle {
    const dir = this.dirs.get(fh);
    if (dir === undefined) throw new FuseError('EBADF', `unknown fh ${fh}`);
    return dir;
  }

  private snapshot(dir: DirHandle, offset: number): DirEntry[] {
    if (offset === 0 || dir.entries === undefined) dir.entries = this.read(dir.inode);
    return dir.entries;
  }

  private post(m: Message): void {
    this.channel.postMessage(m);
  }

  private onMessage(m: Message): void {
    switch (m.type) {
      case 'list': {
        if (m.fh % THREAD_SLOTS !== this.thread) return;
        let entries: Uint8Array[] = [];
        let error: string | null = null;
        try {
          entries = this.snapshot(this.own(m.fh), m.offset).slice(m.offset, m.offset + FORWARDED_NAMES);
        } catch (err) {
          error = (err as NodeJS.ErrnoException).code ?? 'EIO';
        }
        this.post({ type: 'listed', to: m.from, id: m.id, entries, error });
        break;
      }
      case 'listed': {
        if (m.to !== this.thread) return;
        const w = this.waiting.get(m.id);
        if (w === undefined) return;
        this.waiting.delete(m.id);
        if (m.error === null) w.resolve(m.entries);
        else w.reject(new FuseError(m.error as 'EIO'));
        break;
      }
      case 'release':
        if (m.fh % THREAD_SLOTS === this.thread) this.dirs.delete(m.fh);
        break;
    }
  }
}
