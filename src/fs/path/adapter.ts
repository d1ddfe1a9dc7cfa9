// The path API served over the lowlevel one: a Filesystem (src/fs/api.ts) whose every
// operation finds the path of the nodeid it is given in the NodeTable and calls the path
// operation, then records in the table what the operation changed (new names, unlinks,
// renames). Only the lowlevel methods whose path operations exist (or that libfuse's
// high-level API answers by itself) are defined, so that the bridge answers the others ENOSYS
// and negotiates no feature the filesystem cannot serve (locks, FLUSH).
import { isUtf8 } from 'node:buffer';
import type { Attr } from '../../protocol/types';
import type {
  AttrReply, CreateContext, CreateReply, Dirent, DirentPlusSink, DirentSink, Entry, Filesystem, Name, OpenReply, RequestContext,
  SetattrArgs, Statfs,
} from '../api';
import { FuseError } from '../errors';
import { toAttr, type AttrDefaults, type StatInput, type Timespec, nowTimespec } from './attr';
import { O_CREAT, O_EXCL, O_WRONLY, S_IFDIR, S_IFMT, S_IFREG } from './constants';
import type { PathDirent, PathOpenResult, PathOperations, PathOptions, StatfsInput, TimeUpdate } from './api';
import { NodeTable, type PathNode } from './nodes';

const DEFAULT_TIMEOUT = 1;
/** d_ino of an entry whose inode number the filesystem did not give (libfuse's FUSE_UNKNOWN_INO). */
const UNKNOWN_INO = 0xffffffff;
const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');

interface Listed {
  name: Buffer;
  stat?: StatInput;
}

interface DirHandle {
  /** The filesystem's own handle from opendir. */
  fh: number;
  /** The listing read at offset 0; the kernel's offsets index it (offset n = continue at entry n). */
  entries: Listed[] | null;
}

/** The bytes of a name argument (the request's own, api.ts Name: kept as they are). */
function nameBytes(name: Name): Buffer {
  return typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
}

/**
 * An attribute name for the path API, whose attribute names are strings: one that is not UTF-8
 * has no string that names it, so it cannot exist there (ENODATA) nor be made (EILSEQ).
 */
function xattrName(name: Name, setting: boolean): string {
  if (typeof name === 'string') return name;
  if (isUtf8(name)) return name.toString('utf8');
  throw new FuseError(setting ? 'EILSEQ' : 'ENODATA', `attribute name ${JSON.stringify(name.toString('latin1'))} is not UTF-8`);
}

function join(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 1 ? Buffer.concat([dir, name]) : Buffer.concat([dir, Buffer.from('/'), name]);
}

function fhOf(v: number | void | undefined, what: string): number {
  const fh = v ?? 0;
  if (!Number.isSafeInteger(fh) || fh < 0) throw new TypeError(`${what} returned ${String(v)}: a file handle is a non-negative integer`);
  return fh;
}

function openReply(r: PathOpenResult, what: string): OpenReply {
  if (r === undefined || r === null || typeof r === 'number') return { fh: fhOf(r, what) };
  if (typeof r !== 'object') throw new TypeError(`${what} returned ${typeof r}: expected a file handle or { fh, backingFd, … }`);
  const reply: OpenReply = { fh: fhOf(r.fh, what), directIo: r.directIo, keepCache: r.keepCache, nonseekable: r.nonseekable };
  if (r.backingFd !== undefined) {
    if (!Number.isInteger(r.backingFd) || r.backingFd < 0) throw new TypeError(`${what} returned backingFd ${String(r.backingFd)}: expected an open fd`);
    reply.backingFd = r.backingFd;
  }
  return reply;
}

function count(v: number | undefined, what: string, dflt: number): number {
  if (v === undefined || v === null) return dflt;
  if (!Number.isSafeInteger(v) || v < 0) throw new TypeError(`statfs ${what} must be a non-negative integer: got ${String(v)}`);
  return v;
}

function statfsOf(r: StatfsInput): Statfs {
  if (r === null || typeof r !== 'object') throw new TypeError(`statfs returned ${String(r)}: expected an object`);
  const bsize = count(r.bsize, 'bsize', 0) || 512;
  return {
    blocks: count(r.blocks, 'blocks', 0),
    bfree: count(r.bfree, 'bfree', 0),
    bavail: count(r.bavail, 'bavail', 0),
    files: count(r.files, 'files', 0),
    ffree: count(r.ffree, 'ffree', 0),
    bsize,
    namelen: count(r.namelen ?? r.namemax, 'namelen', 0) || 255,
    frsize: count(r.frsize, 'frsize', 0) || bsize,
  };
}

class PathAdapter<P extends string | Buffer> {
  readonly nodes = new NodeTable();
  private readonly dirs = new Map<number, DirHandle>();
  private nextDirFh = 1;
  private readonly buffers: boolean;
  private readonly entryTimeout: number;
  private readonly attrTimeout: number;
  private readonly negativeTimeout: number;
  private readonly defaults: AttrDefaults;

  constructor(private readonly ops: PathOperations<P>, readonly options: PathOptions) {
    if (options.encoding !== undefined && options.encoding !== 'utf8' && options.encoding !== 'buffer') {
      throw new TypeError(`encoding must be 'utf8' or 'buffer': got ${String(options.encoding)}`);
    }
    this.buffers = options.encoding === 'buffer';
    const timeout = (what: keyof PathOptions, dflt: number): number => {
      const v = options[what] ?? dflt;
      if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw new TypeError(`${what} must be a number of seconds ≥ 0: got ${String(v)}`);
      return v;
    };
    this.entryTimeout = timeout('entryTimeout', DEFAULT_TIMEOUT);
    this.attrTimeout = timeout('attrTimeout', DEFAULT_TIMEOUT);
    this.negativeTimeout = timeout('negativeTimeout', 0);
    this.defaults = { ino: 0, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, time: nowTimespec() };
  }

  // ---- paths ----

  private arg(bytes: Buffer): P {
    return (this.buffers ? bytes : bytes.toString('utf8')) as P;
  }

  /**
   * A name from a request. With string paths a name that is not UTF-8 cannot be handed over
   * (its decoding would name another file): looking it up finds nothing, creating it is EILSEQ.
   */
  private name(name: Name, creating: boolean): Buffer {
    const bytes = nameBytes(name);
    // A string is valid UTF-8 by construction (api.ts, Name); a Buffer from the session is not.
    if (!this.buffers && typeof name !== 'string' && !isUtf8(bytes)) {
      throw new FuseError(creating ? 'EILSEQ' : 'ENOENT', `name ${JSON.stringify(bytes.toString('latin1'))} is not UTF-8; use the encoding: 'buffer' option to serve it`);
    }
    return bytes;
  }

  /** The node's path; `open`: the operation concerns an open file, which keeps its last path once unlinked. */
  private pathOf(node: PathNode, open = false): Buffer {
    const p = this.nodes.path(node) ?? (open ? node.lastPath : undefined);
    if (p === undefined) throw new FuseError('ENOENT', `node ${node.nodeid} has no name any more`);
    return p;
  }

  private path(nodeid: number, open = false): P {
    return this.arg(this.pathOf(this.nodes.get(nodeid), open));
  }

  /** The path of an open file's node, for the operations passed straight through (locks, copies). */
  filePath(nodeid: number): P {
    return this.path(nodeid, true);
  }

  private childPath(dir: PathNode, name: Buffer): Buffer {
    return join(this.pathOf(dir), name);
  }

  // ---- attributes and entries ----

  private async stat(path: Buffer, fh: number | undefined, ctx: RequestContext): Promise<StatInput> {
    if (this.ops.getattr === undefined) throw new FuseError('ENOSYS');
    return this.ops.getattr(this.arg(path), fh, ctx);
  }

  private attr(st: StatInput, ino: number): Attr {
    return toAttr(st, { ...this.defaults, ino });
  }

  /** Registers `dir/name` as answered with `st`; the caller takes the lookup reference. */
  private found(dir: PathNode, name: Buffer, st: StatInput): { node: PathNode; entry: Entry } {
    const attr = this.attr(st, 0);
    const node = this.nodes.found(dir, name, attr.ino === 0 ? undefined : attr.ino, (attr.mode & S_IFMT) === S_IFDIR);
    if (attr.ino === 0) attr.ino = node.nodeid;
    return { node, entry: { nodeid: node.nodeid, attr, entryTimeout: this.entryTimeout, attrTimeout: this.attrTimeout } };
  }

  /** LOOKUP's answer, and that of every operation that makes a name. */
  private async entry(dir: PathNode, name: Buffer, ctx: RequestContext, fh?: number): Promise<Entry> {
    const st = await this.stat(this.childPath(dir, name), fh, ctx);
    const { node, entry } = this.found(dir, name, st);
    node.nlookup++;
    return entry;
  }

  async lookup(ctx: RequestContext, parent: number, name: Name): Promise<Entry> {
    const bytes = this.name(name, false);
    const dir = this.nodes.get(parent);
    try {
      return await this.entry(dir, bytes, ctx);
    } catch (err) {
      if (this.negativeTimeout > 0 && err !== null && typeof err === 'object' && (err as { code?: unknown }).code === 'ENOENT') {
        return { nodeid: 0, attr: this.attr({}, 0), entryTimeout: this.negativeTimeout };
      }
      throw err;
    }
  }

  forget(nodeid: number, nlookup: number): void {
    this.nodes.forget(nodeid, nlookup);
  }

  async getattr(ctx: RequestContext, nodeid: number, fh?: number): Promise<AttrReply> {
    const node = this.nodes.get(nodeid);
    const st = await this.stat(this.pathOf(node, fh !== undefined), fh, ctx);
    return { attr: this.attr(st, node.nodeid), attrTimeout: this.attrTimeout };
  }

  /** As libfuse's high-level setattr: chmod, chown, truncate, utimens in that order, then getattr. */
  async setattr(ctx: RequestContext, nodeid: number, a: SetattrArgs): Promise<AttrReply> {
    const ops = this.ops;
    const path = this.path(nodeid, a.fh !== undefined);
    const missing = (): never => {
      throw new FuseError('ENOSYS');
    };
    if (a.mode !== undefined) await (ops.chmod ?? missing)(path, a.mode, a.fh, ctx);
    if (a.uid !== undefined || a.gid !== undefined) await (ops.chown ?? missing)(path, a.uid ?? -1, a.gid ?? -1, a.fh, ctx);
    if (a.size !== undefined) await (ops.truncate ?? missing)(path, a.size, a.fh, ctx);
    if (a.atime !== undefined || a.mtime !== undefined) await (ops.utimens ?? missing)(path, timeUpdate(a.atime), timeUpdate(a.mtime), a.fh, ctx);
    return this.getattr(ctx, nodeid, a.fh);
  }

  async readlink(ctx: RequestContext, nodeid: number): Promise<string | Buffer> {
    const target = await this.ops.readlink!(this.path(nodeid), ctx);
    if (typeof target !== 'string' && !Buffer.isBuffer(target)) throw new TypeError(`readlink returned ${typeof target}: expected a string or Buffer`);
    return target;
  }

  async mknod(ctx: CreateContext, parent: number, name: Name, mode: number, rdev: number): Promise<Entry> {
    const bytes = this.name(name, true);
    const dir = this.nodes.get(parent);
    const path = this.arg(this.childPath(dir, bytes));
    if (this.ops.mknod !== undefined) await this.ops.mknod(path, mode, rdev, ctx);
    else if ((mode & S_IFMT) === S_IFREG && this.ops.create !== undefined) {
      const flags = O_CREAT | O_EXCL | O_WRONLY;
      const { fh } = openReply(await this.ops.create(path, mode, flags, ctx), 'create');
      await this.ops.release?.(path, fh, flags, ctx);
    } else throw new FuseError('ENOSYS');
    return this.entry(dir, bytes, ctx);
  }

  async mkdir(ctx: CreateContext, parent: number, name: Name, mode: number): Promise<Entry> {
    const bytes = this.name(name, true);
    const dir = this.nodes.get(parent);
    await this.ops.mkdir!(this.arg(this.childPath(dir, bytes)), mode, ctx);
    return this.entry(dir, bytes, ctx);
  }

  async symlink(ctx: CreateContext, parent: number, name: Name, target: Name): Promise<Entry> {
    const bytes = this.name(name, true);
    const to = nameBytes(target);
    if (!this.buffers && typeof target !== 'string' && !isUtf8(to)) throw new FuseError('EILSEQ', 'symlink target is not UTF-8');
    const dir = this.nodes.get(parent);
    await this.ops.symlink!(this.arg(to), this.arg(this.childPath(dir, bytes)), ctx);
    return this.entry(dir, bytes, ctx);
  }

  async unlink(ctx: RequestContext, parent: number, name: Name): Promise<void> {
    const bytes = this.name(name, false);
    const dir = this.nodes.get(parent);
    await this.ops.unlink!(this.arg(this.childPath(dir, bytes)), ctx);
    this.nodes.removed(dir, bytes);
  }

  async rmdir(ctx: RequestContext, parent: number, name: Name): Promise<void> {
    const bytes = this.name(name, false);
    const dir = this.nodes.get(parent);
    await this.ops.rmdir!(this.arg(this.childPath(dir, bytes)), ctx);
    this.nodes.removed(dir, bytes);
  }

  async rename(ctx: RequestContext, parent: number, name: Name, newParent: number, newName: Name, flags: number): Promise<void> {
    const from = this.name(name, false);
    const to = this.name(newName, true);
    const dir = this.nodes.get(parent);
    const newDir = this.nodes.get(newParent);
    await this.ops.rename!(this.arg(this.childPath(dir, from)), this.arg(this.childPath(newDir, to)), flags, ctx);
    this.nodes.renamed(dir, from, newDir, to, (flags & 2) !== 0);
  }

  async link(ctx: RequestContext, nodeid: number, newParent: number, newName: Name): Promise<Entry> {
    const bytes = this.name(newName, true);
    const from = this.path(nodeid);
    const dir = this.nodes.get(newParent);
    await this.ops.link!(from, this.arg(this.childPath(dir, bytes)), ctx);
    return this.entry(dir, bytes, ctx);
  }

  // ---- files ----

  async open(ctx: RequestContext, nodeid: number, flags: number): Promise<OpenReply> {
    const path = this.path(nodeid);
    return this.ops.open === undefined ? { fh: 0 } : openReply(await this.ops.open(path, flags, ctx), 'open');
  }

  async create(ctx: CreateContext, parent: number, name: Name, mode: number, flags: number): Promise<CreateReply> {
    const bytes = this.name(name, true);
    const dir = this.nodes.get(parent);
    const path = this.childPath(dir, bytes);
    const open = openReply(await this.ops.create!(this.arg(path), mode, flags, ctx), 'create');
    try {
      return { ...(await this.entry(dir, bytes, ctx, open.fh)), open };
    } catch (err) {
      // No reply will carry the open file to the kernel, so no RELEASE will come for it.
      await this.ops.release?.(this.arg(path), open.fh, flags, ctx).catch(() => {});
      throw err;
    }
  }

  async read(ctx: RequestContext, nodeid: number, fh: number, offset: number, size: number): Promise<Buffer> {
    const data = await this.ops.read!(this.path(nodeid, true), fh, size, offset, ctx);
    if (Buffer.isBuffer(data)) return data;
    if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    throw new TypeError(`read returned ${typeof data}: expected a Buffer`);
  }

  async write(ctx: RequestContext, nodeid: number, fh: number, offset: number, data: Buffer): Promise<number> {
    const n = await this.ops.write!(this.path(nodeid, true), fh, data, offset, ctx);
    if (!Number.isInteger(n) || n < 0 || n > data.length) throw new TypeError(`write returned ${String(n)}: expected the number of bytes written, 0..${data.length}`);
    return n;
  }

  async flush(ctx: RequestContext, nodeid: number, fh: number, lockOwner: bigint): Promise<void> {
    await this.ops.flush!(this.path(nodeid, true), fh, lockOwner, ctx);
  }

  async release(ctx: RequestContext, nodeid: number, fh: number, flags: number): Promise<void> {
    await this.ops.release!(this.path(nodeid, true), fh, flags, ctx);
  }

  async fsync(ctx: RequestContext, nodeid: number, fh: number, datasync: boolean): Promise<void> {
    await this.ops.fsync!(this.path(nodeid, true), fh, datasync, ctx);
  }

  async fallocate(ctx: RequestContext, nodeid: number, fh: number, offset: number, length: number, mode: number): Promise<void> {
    await this.ops.fallocate!(this.path(nodeid, true), fh, offset, length, mode, ctx);
  }

  async lseek(ctx: RequestContext, nodeid: number, fh: number, offset: number, whence: number): Promise<number> {
    return this.ops.lseek!(this.path(nodeid, true), fh, offset, whence, ctx);
  }

  // ---- directories ----

  async opendir(ctx: RequestContext, nodeid: number, flags: number): Promise<OpenReply> {
    const path = this.path(nodeid);
    const fh = this.ops.opendir === undefined ? 0 : fhOf(await this.ops.opendir(path, flags, ctx), 'opendir');
    const id = this.nextDirFh++;
    this.dirs.set(id, { fh, entries: null });
    return { fh: id };
  }

  private dir(fh: number): DirHandle {
    const h = this.dirs.get(fh);
    if (h === undefined) throw new FuseError('EBADF', `unknown directory handle ${fh}`);
    return h;
  }

  /** The listing, read from the filesystem at offset 0 (a new opendir, or rewinddir). */
  private async listing(ctx: RequestContext, nodeid: number, h: DirHandle, offset: number): Promise<Listed[]> {
    if (offset !== 0 && h.entries !== null) return h.entries;
    const listed = await this.ops.readdir!(this.path(nodeid), h.fh, ctx);
    if (listed === null || typeof listed !== 'object' || typeof (listed as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      throw new TypeError(`readdir returned ${String(listed)}: expected an array of names or { name, stat }`);
    }
    const entries: Listed[] = [];
    let dots = 0;
    for (const e of listed as Iterable<PathDirent<P>>) {
      const item = direntOf(e);
      if (item.name.equals(DOT) || item.name.equals(DOTDOT)) dots++;
      entries.push(item);
    }
    // Every directory lists "." and ".."; libfuse leaves adding them to the filesystem.
    if (dots === 0) entries.unshift({ name: DOT }, { name: DOTDOT });
    h.entries = entries;
    return entries;
  }

  /** The dirent for entry `i`: d_ino and d_type from its stat, or from the node the kernel knows. */
  private dirent(dir: PathNode, e: Listed, i: number, attr: Attr | undefined): Dirent {
    const known = attr === undefined ? this.nodes.child(dir, e.name) : undefined;
    const dot = e.name.equals(DOT) || e.name.equals(DOTDOT);
    const type = attr !== undefined ? attr.mode & S_IFMT : dot || known?.isDir ? S_IFDIR : 0;
    const ino = attr?.ino ?? known?.ino ?? known?.nodeid ?? UNKNOWN_INO;
    return { ino, nextOffset: i + 1, type, name: e.name };
  }

  /** The directory's node and listing, for a READDIR / READDIRPLUS at `offset`. */
  private async page(ctx: RequestContext, nodeid: number, fh: number, offset: number): Promise<{ dir: PathNode; entries: Listed[] }> {
    const entries = await this.listing(ctx, nodeid, this.dir(fh), offset);
    return { dir: this.nodes.get(nodeid), entries };
  }

  async readdir(ctx: RequestContext, nodeid: number, fh: number, offset: number, out: DirentSink): Promise<void> {
    const { dir, entries } = await this.page(ctx, nodeid, fh, offset);
    for (let i = offset; i < entries.length; i++) {
      const e = entries[i];
      const attr = e.stat === undefined ? undefined : this.attr(e.stat, UNKNOWN_INO);
      if (!out.add(this.dirent(dir, e, i, attr))) break;
    }
  }

  /** Entries that came with a stat are answered as LOOKUPs too, saving the kernel one each. */
  async readdirplus(ctx: RequestContext, nodeid: number, fh: number, offset: number, out: DirentPlusSink): Promise<void> {
    const { dir, entries } = await this.page(ctx, nodeid, fh, offset);
    for (let i = offset; i < entries.length; i++) {
      const e = entries[i];
      const dot = e.name.equals(DOT) || e.name.equals(DOTDOT);
      if (e.stat === undefined || dot) {
        if (!out.add(this.dirent(dir, e, i, undefined), null)) break;
        continue;
      }
      const { node, entry } = this.found(dir, e.name, e.stat);
      if (!out.add(this.dirent(dir, e, i, entry.attr), entry)) {
        this.nodes.drop(node);
        break;
      }
      node.nlookup++;
    }
  }

  async releasedir(ctx: RequestContext, nodeid: number, fh: number): Promise<void> {
    const h = this.dir(fh);
    this.dirs.delete(fh);
    await this.ops.releasedir?.(this.path(nodeid, true), h.fh, ctx);
  }

  async fsyncdir(ctx: RequestContext, nodeid: number, fh: number, datasync: boolean): Promise<void> {
    await this.ops.fsyncdir!(this.path(nodeid, true), this.dir(fh).fh, datasync, ctx);
  }

  // ---- the rest ----

  async statfs(ctx: RequestContext, nodeid: number): Promise<Statfs> {
    const path = this.path(nodeid);
    return statfsOf(this.ops.statfs === undefined ? {} : await this.ops.statfs(path, ctx));
  }

  async access(ctx: RequestContext, nodeid: number, mask: number): Promise<void> {
    await this.ops.access!(this.path(nodeid), mask, ctx);
  }

  async setxattr(ctx: RequestContext, nodeid: number, name: Name, value: Buffer, flags: number): Promise<void> {
    await this.ops.setxattr!(this.path(nodeid), xattrName(name, true), value, flags, ctx);
  }

  async getxattr(ctx: RequestContext, nodeid: number, name: Name): Promise<Buffer> {
    const v = await this.ops.getxattr!(this.path(nodeid), xattrName(name, false), ctx);
    if (v === null || v === undefined) throw new FuseError('ENODATA');
    if (typeof v === 'string') return Buffer.from(v);
    if (!Buffer.isBuffer(v)) throw new TypeError(`getxattr returned ${typeof v}: expected a Buffer, a string or null`);
    return v;
  }

  async listxattr(ctx: RequestContext, nodeid: number): Promise<Array<string | Buffer>> {
    const names = await this.ops.listxattr!(this.path(nodeid), ctx);
    if (!Array.isArray(names)) throw new TypeError(`listxattr returned ${typeof names}: expected an array of names`);
    return names;
  }

  async removexattr(ctx: RequestContext, nodeid: number, name: Name): Promise<void> {
    await this.ops.removexattr!(this.path(nodeid), xattrName(name, false), ctx);
  }
}

function timeUpdate(t: SetattrArgs['atime']): TimeUpdate {
  if (t === undefined) return null;
  return t === 'now' ? nowTimespec() : ({ sec: t.sec, nsec: t.nsec } satisfies Timespec);
}

function direntOf<P>(e: PathDirent<P>): Listed {
  const bytes = (n: unknown): Buffer => {
    const b = typeof n === 'string' ? Buffer.from(n) : Buffer.isBuffer(n) ? Buffer.from(n) : undefined;
    if (b === undefined || b.length === 0 || b.includes(0x2f) || b.includes(0)) {
      throw new TypeError(`readdir gave the entry ${JSON.stringify(String(n))}: a name is a non-empty string or Buffer without '/' or NUL`);
    }
    return b;
  };
  if (typeof e === 'string' || Buffer.isBuffer(e)) return { name: bytes(e) };
  if (e === null || typeof e !== 'object') throw new TypeError(`readdir gave the entry ${String(e)}: expected a name or { name, stat }`);
  const o = e as { name: unknown; stat?: StatInput };
  return { name: bytes(o.name), stat: o.stat ?? undefined };
}

/** A path filesystem as tsfuse's lowlevel Filesystem, to hand to mount(). */
export interface PathFilesystem extends Filesystem {
  /** Nodes the kernel holds references to, besides the root (for tests and leak checks). */
  readonly nodeCount: number;
}

/**
 * Serves `ops` (paths, as libfuse's high-level API) through the lowlevel API:
 * `await mount(pathFilesystem({ getattr, readdir, read }), '/mnt/x')`.
 */
export function pathFilesystem<P extends string | Buffer = string>(ops: PathOperations<P>, options: PathOptions = {}): PathFilesystem {
  if (ops === null || typeof ops !== 'object') throw new TypeError('pathFilesystem: operations must be an object');
  const a = new PathAdapter<P>(ops, options);
  const has = (...names: (keyof PathOperations<P>)[]): boolean => names.every((n) => typeof ops[n] === 'function');
  const fs: PathFilesystem = {
    get nodeCount() {
      return a.nodes.size;
    },
    features: { readdirplus: has('readdir'), passthrough: options.passthrough, maxWrite: options.maxWrite },
    init: (conn) => ops.init?.(conn),
    destroy: () => ops.destroy?.(),
    // Answered without the filesystem, as libfuse's high-level API does.
    lookup: (ctx, parent, name) => a.lookup(ctx, parent, name),
    forget: (nodeid, n) => a.forget(nodeid, n),
    getattr: (ctx, nodeid, fh) => a.getattr(ctx, nodeid, fh),
    open: (ctx, nodeid, flags) => a.open(ctx, nodeid, flags),
    opendir: (ctx, nodeid, flags) => a.opendir(ctx, nodeid, flags),
    releasedir: (ctx, nodeid, fh) => a.releasedir(ctx, nodeid, fh),
    statfs: (ctx, nodeid) => a.statfs(ctx, nodeid),
  };
  // The rest only when the filesystem can serve them: the bridge answers the others ENOSYS.
  if (has('chmod') || has('chown') || has('truncate') || has('utimens')) fs.setattr = (ctx, n, args) => a.setattr(ctx, n, args);
  if (has('readlink')) fs.readlink = (ctx, n) => a.readlink(ctx, n);
  if (has('mknod') || has('create')) fs.mknod = (ctx, p, name, mode, rdev) => a.mknod(ctx, p, name, mode, rdev);
  if (has('mkdir')) fs.mkdir = (ctx, p, name, mode) => a.mkdir(ctx, p, name, mode);
  if (has('symlink')) fs.symlink = (ctx, p, name, target) => a.symlink(ctx, p, name, target);
  if (has('unlink')) fs.unlink = (ctx, p, name) => a.unlink(ctx, p, name);
  if (has('rmdir')) fs.rmdir = (ctx, p, name) => a.rmdir(ctx, p, name);
  if (has('rename')) fs.rename = (ctx, p, name, np, nn, flags) => a.rename(ctx, p, name, np, nn, flags);
  if (has('link')) fs.link = (ctx, n, np, nn) => a.link(ctx, n, np, nn);
  if (has('create')) fs.create = (ctx, p, name, mode, flags) => a.create(ctx, p, name, mode, flags);
  if (has('read')) fs.read = (ctx, n, fh, off, size) => a.read(ctx, n, fh, off, size);
  if (has('write')) fs.write = (ctx, n, fh, off, data) => a.write(ctx, n, fh, off, data);
  if (has('flush')) fs.flush = (ctx, n, fh, owner) => a.flush(ctx, n, fh, owner);
  if (has('release')) fs.release = (ctx, n, fh, flags) => a.release(ctx, n, fh, flags);
  if (has('fsync')) fs.fsync = (ctx, n, fh, datasync) => a.fsync(ctx, n, fh, datasync);
  if (has('readdir')) {
    fs.readdir = (ctx, n, fh, off, out) => a.readdir(ctx, n, fh, off, out);
    fs.readdirplus = (ctx, n, fh, off, out) => a.readdirplus(ctx, n, fh, off, out);
  }
  if (has('fsyncdir')) fs.fsyncdir = (ctx, n, fh, datasync) => a.fsyncdir(ctx, n, fh, datasync);
  if (has('access')) fs.access = (ctx, n, mask) => a.access(ctx, n, mask);
  if (has('setxattr')) fs.setxattr = (ctx, n, name, value, flags) => a.setxattr(ctx, n, name, value, flags);
  if (has('getxattr')) fs.getxattr = (ctx, n, name) => a.getxattr(ctx, n, name);
  if (has('listxattr')) fs.listxattr = (ctx, n) => a.listxattr(ctx, n);
  if (has('removexattr')) fs.removexattr = (ctx, n, name) => a.removexattr(ctx, n, name);
  if (has('getlk', 'setlk')) {
    fs.getlk = async (ctx, n, fh, owner, lock) => ops.getlk!(a.filePath(n), fh, owner, lock, ctx);
    fs.setlk = async (ctx, n, fh, owner, lock, sleep) => ops.setlk!(a.filePath(n), fh, owner, lock, sleep, ctx);
  }
  if (has('flock')) fs.flock = async (ctx, n, fh, owner, op) => ops.flock!(a.filePath(n), fh, owner, op, ctx);
  if (has('fallocate')) fs.fallocate = (ctx, n, fh, off, len, mode) => a.fallocate(ctx, n, fh, off, len, mode);
  if (has('lseek')) fs.lseek = (ctx, n, fh, off, whence) => a.lseek(ctx, n, fh, off, whence);
  if (has('copyFileRange')) {
    fs.copyFileRange = async (ctx, r) =>
      ops.copyFileRange!({ path: a.filePath(r.nodeIn), fh: r.fhIn, offset: r.offsetIn },
        { path: a.filePath(r.nodeOut), fh: r.fhOut, offset: r.offsetOut }, r.length, r.flags, ctx);
  }
  return fs;
}
