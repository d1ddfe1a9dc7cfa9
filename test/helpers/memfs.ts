// A small in-memory filesystem written against the public API, for the session and mount tests:
// directories, regular files and symlinks, enough writes to create and change files, and hooks
// a test uses to make one name slow, throwing, or waiting for its interruption.
import type {
  Attr, AttrReply, CreateContext, CreateReply, DirentSink, Entry, Filesystem, FilesystemFeatures, OpenReply,
  RequestContext, SetattrArgs, Statfs,
} from '../../src/fs/api';
import { FuseError } from '../../src/fs/errors';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

export interface MemNode {
  nodeid: number;
  mode: number;
  data: Buffer;
  target: string;
  children: Map<string, number>;
  nlookup: number;
  mtime: number;
}

export interface MemFsOptions {
  /** Seconds the kernel may cache names and attributes (default 0: every access reaches us). */
  timeout?: number;
  features?: FilesystemFeatures;
}

/**
 * Called before each lookup of `name`; may delay it, throw, or wait on ctx.signal. Tests install
 * one per name: `memfs.onLookup.set('slow', ...)`.
 */
export type LookupHook = (ctx: RequestContext) => Promise<void> | void;

export class MemFs implements Filesystem {
  readonly features?: FilesystemFeatures;
  readonly nodes = new Map<number, MemNode>();
  readonly onLookup = new Map<string, LookupHook>();
  /** Names looked up, in order (tests wait on it to know a request has reached the server). */
  readonly lookups: string[] = [];
  /** forget() calls received, summed per nodeid. */
  readonly forgotten = new Map<number, number>();
  destroyed = false;
  private nextNodeid = 2;
  private readonly timeout: number;

  constructor(options: MemFsOptions = {}) {
    this.timeout = options.timeout ?? 0;
    this.features = options.features;
    this.nodes.set(1, this.node(1, S_IFDIR | 0o755));
  }

  private node(nodeid: number, mode: number): MemNode {
    return { nodeid, mode, data: Buffer.alloc(0), target: '', children: new Map(), nlookup: 0, mtime: 1700000000 };
  }

  private add(parent: number, name: string, mode: number): MemNode {
    const dir = this.get(parent);
    if (dir.children.has(name)) throw new FuseError('EEXIST');
    const n = this.node(this.nextNodeid++, mode);
    this.nodes.set(n.nodeid, n);
    dir.children.set(name, n.nodeid);
    return n;
  }

  mkdirp(parent: number, name: string, mode = 0o755): number {
    return this.add(parent, name, S_IFDIR | mode).nodeid;
  }

  addFile(parent: number, name: string, content: string | Buffer, mode = 0o644): number {
    const n = this.add(parent, name, S_IFREG | mode);
    n.data = Buffer.from(content);
    return n.nodeid;
  }

  addSymlink(parent: number, name: string, target: string): number {
    const n = this.add(parent, name, S_IFLNK | 0o777);
    n.target = target;
    return n.nodeid;
  }

  get(nodeid: number): MemNode {
    const n = this.nodes.get(nodeid);
    if (n === undefined) throw new FuseError('ENOENT', `no node ${nodeid}`);
    return n;
  }

  attr(n: MemNode): Attr {
    const isDir = (n.mode & 0o170000) === S_IFDIR;
    const size = isDir ? 4096 : (n.mode & 0o170000) === S_IFLNK ? Buffer.byteLength(n.target) : n.data.length;
    return {
      ino: n.nodeid, size, blocks: Math.ceil(size / 512), atime: n.mtime, mtime: n.mtime, ctime: n.mtime,
      atimensec: 0, mtimensec: 0, ctimensec: 0, mode: n.mode, nlink: isDir ? 2 : 1, uid: 0, gid: 0, rdev: 0,
      blksize: 4096, flags: 0,
    };
  }

  private entry(n: MemNode): Entry {
    n.nlookup++;
    return { nodeid: n.nodeid, attr: this.attr(n), entryTimeout: this.timeout, attrTimeout: this.timeout };
  }

  async lookup(ctx: RequestContext, parent: number, name: string): Promise<Entry> {
    this.lookups.push(name);
    await this.onLookup.get(name)?.(ctx);
    const id = this.get(parent).children.get(name);
    if (id === undefined) throw new FuseError('ENOENT');
    return this.entry(this.get(id));
  }

  forget(nodeid: number, nlookup: number): void {
    this.forgotten.set(nodeid, (this.forgotten.get(nodeid) ?? 0) + nlookup);
    const n = this.nodes.get(nodeid);
    if (n !== undefined) n.nlookup -= nlookup;
  }

  async getattr(_ctx: RequestContext, nodeid: number): Promise<AttrReply> {
    return { attr: this.attr(this.get(nodeid)), attrTimeout: this.timeout };
  }

  async setattr(_ctx: RequestContext, nodeid: number, args: SetattrArgs): Promise<AttrReply> {
    const n = this.get(nodeid);
    if (args.size !== undefined) {
      const data = Buffer.alloc(args.size);
      n.data.copy(data, 0, 0, Math.min(args.size, n.data.length));
      n.data = data;
    }
    if (args.mode !== undefined) n.mode = (n.mode & 0o170000) | (args.mode & 0o7777);
    return { attr: this.attr(n), attrTimeout: this.timeout };
  }

  async readlink(_ctx: RequestContext, nodeid: number): Promise<string> {
    const n = this.get(nodeid);
    if ((n.mode & 0o170000) !== S_IFLNK) throw new FuseError('EINVAL');
    return n.target;
  }

  async mkdir(ctx: CreateContext, parent: number, name: string, mode: number): Promise<Entry> {
    return this.entry(this.add(parent, name, S_IFDIR | (mode & ~ctx.umask & 0o7777)));
  }

  async unlink(_ctx: RequestContext, parent: number, name: string): Promise<void> {
    const dir = this.get(parent);
    if (!dir.children.delete(name)) throw new FuseError('ENOENT');
  }

  async open(_ctx: RequestContext, nodeid: number): Promise<OpenReply> {
    this.get(nodeid);
    return { fh: nodeid };
  }

  async create(ctx: CreateContext, parent: number, name: string, mode: number): Promise<CreateReply> {
    const n = this.add(parent, name, S_IFREG | (mode & ~ctx.umask & 0o7777));
    return { ...this.entry(n), open: { fh: n.nodeid } };
  }

  async read(_ctx: RequestContext, nodeid: number, _fh: number, offset: number, size: number): Promise<Buffer> {
    return this.get(nodeid).data.subarray(offset, offset + size);
  }

  async write(_ctx: RequestContext, nodeid: number, _fh: number, offset: number, data: Buffer): Promise<number> {
    const n = this.get(nodeid);
    const end = offset + data.length;
    if (end > n.data.length) {
      const grown = Buffer.alloc(end);
      n.data.copy(grown);
      n.data = grown;
    }
    data.copy(n.data, offset);
    return data.length;
  }

  async release(): Promise<void> {}

  async opendir(_ctx: RequestContext, nodeid: number): Promise<OpenReply> {
    this.get(nodeid);
    return { fh: 0 };
  }

  async readdir(_ctx: RequestContext, nodeid: number, _fh: number, offset: number, out: DirentSink): Promise<void> {
    const dir = this.get(nodeid);
    const entries: [string, number][] = [['.', nodeid], ['..', 1], ...dir.children];
    for (let i = offset; i < entries.length; i++) {
      const [name, id] = entries[i];
      if (!out.add({ ino: id, nextOffset: i + 1, type: this.get(id).mode & 0o170000, name })) break;
    }
  }

  async releasedir(): Promise<void> {}

  async statfs(): Promise<Statfs> {
    return { blocks: 1000, bfree: 500, bavail: 500, files: 100, ffree: 50, bsize: 4096, namelen: 255, frsize: 4096 };
  }

  destroy(): void {
    this.destroyed = true;
  }
}

/** The tree most tests use: /dir, /dir/inner.txt, /hello.txt, /link -> hello.txt. */
export function sampleFs(options: MemFsOptions = {}): MemFs {
  const m = new MemFs(options);
  const dir = m.mkdirp(1, 'dir');
  m.addFile(dir, 'inner.txt', 'inside\n');
  m.addFile(1, 'hello.txt', 'hello, world\n');
  m.addSymlink(1, 'link', 'hello.txt');
  return m;
}
