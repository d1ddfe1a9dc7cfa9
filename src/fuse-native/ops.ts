// fuse-native's callback operations as tsfuse path operations. The calling conventions are
// those of fuse-native 2.2.6's index.js and fuse-native.c, which its users' programs rely on:
// a callback's first argument is 0 (or null) for success and a negative errno for failure,
// except for read and write where it is the byte count; values follow it (`cb(0, stat)`).
import { errnoName } from '../protocol/errors';
import type { RequestContext } from '../fs/api';
import { FuseError } from '../fs/errors';
import type { StatInput, Timespec } from '../fs/path/attr';
import type { PathDirent, PathOperations, StatfsInput } from '../fs/path/api';
import { S_IFMT } from '../fs/path/constants';

/** A fuse-native operation: its arguments, then the callback. */
type Op = (...args: unknown[]) => unknown;

/** fuse-native's handlers object; each one optional. */
export type NativeOps = Partial<Record<string, Op>>;

/** The options that change what getattr answers (libfuse's uid=, gid=, umask= mount options). */
export interface StatOverrides {
  uid?: number;
  gid?: number;
  umask?: number;
}

/** libfuse answered a positive "error" as a bad value: ERANGE (lib/fuse_lowlevel.c, send_reply). */
function failure(code: unknown, op: string): Error | undefined {
  if (code === 0 || code === null || code === undefined || code === false) return undefined;
  if (typeof code === 'number' && Number.isInteger(code)) {
    if (code > 0) return new FuseError('ERANGE', `${op}: callback got ${code}, which is neither 0 nor a negative errno`);
    const name = errnoName(code);
    return name === undefined ? new FuseError('EIO', `${op}: callback got unknown errno ${code}`) : new FuseError(name);
  }
  // fuse-native only took numbers (anything else threw inside its binding); an Error with an
  // errno or code, as Node's fs gives, is answered with that errno.
  if (code instanceof Error) return code;
  return new TypeError(`${op}: callback got ${String(code)}: expected 0 or a negative errno such as Fuse.ENOENT`);
}

/**
 * Calls `fn(...args, cb)` and settles with what the callback got. A handler that never calls
 * back leaves the request waiting, as in libfuse, until the caller is interrupted (a signal):
 * then it is answered EINTR. fuse-native answered ETIMEDOUT after 15 s instead, while the
 * handler went on — reporting as failed a write that may still land.
 */
function call(fn: Op, name: string, ctx: RequestContext | undefined, args: unknown[]): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    let done = false;
    const onAbort = (): void => {
      if (done) return;
      done = true;
      reject(new FuseError('EINTR'));
    };
    ctx?.signal.addEventListener('abort', onAbort, { once: true });
    const cb = (...result: unknown[]): void => {
      if (done) return; // a second call, or one after an interrupt: nobody is waiting any more
      done = true;
      ctx?.signal.removeEventListener('abort', onAbort);
      resolve(result);
    };
    try {
      fn(...args, cb);
    } catch (err) {
      done = true;
      ctx?.signal.removeEventListener('abort', onAbort);
      reject(err);
    }
  });
}

/** For the operations whose callback is (code, value?): the value, or the failure thrown. */
async function value(fn: Op, name: string, ctx: RequestContext | undefined, args: unknown[]): Promise<unknown> {
  const [code, v] = await call(fn, name, ctx, args);
  const err = failure(code, name);
  if (err !== undefined) throw err;
  return v;
}

/** read/write: the callback's first argument is the byte count, or a negative errno. */
async function byteCount(fn: Op, name: string, ctx: RequestContext, args: unknown[], max: number): Promise<number> {
  const [n] = await call(fn, name, ctx, args);
  if (n === undefined || n === null) return 0; // fuse-native 2.2.3+ defaults the count to 0
  if (typeof n === 'number' && Number.isInteger(n) && n >= 0) {
    if (n > max) throw new TypeError(`${name}: callback got ${n} bytes for a buffer of ${max}`);
    return n;
  }
  throw failure(n, name) ?? new FuseError('EIO');
}

const ms = (t: Timespec): number => t.sec * 1000 + Math.floor(t.nsec / 1e6);

/** What fuse-native's getStatArray left 0 (blksize, size …) our defaults fill; the overrides win. */
function statOf(st: unknown, o: StatOverrides): StatInput {
  if (st === null || typeof st !== 'object') throw new TypeError(`getattr: callback got ${String(st)} as the stat: expected an object`);
  const s = { ...(st as StatInput) };
  if (o.uid !== undefined) s.uid = o.uid;
  if (o.gid !== undefined) s.gid = o.gid;
  if (o.umask !== undefined && typeof s.mode === 'number') s.mode = (s.mode & S_IFMT) | (0o777 & ~o.umask);
  return s;
}

/** fuse-native without getattr: "/" is a directory, everything else EPERM (its index.js). */
const DEFAULT_ROOT: StatInput = { mode: 0o40755, size: 4096, atime: 0, mtime: 0, ctime: 0 };

/** The path operations for `ops`, defined where fuse-native would call a handler. */
export function nativeOperations(ops: NativeOps, o: StatOverrides & { keepCache?: boolean }): PathOperations<string> {
  const has = (name: string): boolean => typeof ops[name] === 'function';
  const op = (name: string): Op => ops[name] as Op;
  const p: PathOperations<string> = {};
  const opened = (fh: unknown, name: string): { fh: number; keepCache?: boolean } => {
    const n = fh === undefined || fh === null ? 0 : fh;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new TypeError(`${name}: callback got ${String(fh)} as the file descriptor`);
    return o.keepCache ? { fh: n, keepCache: true } : { fh: n };
  };

  if (has('init')) p.init = async () => void (await value(op('init'), 'init', undefined, []));
  p.getattr = async (path, fh, ctx) => {
    // fgetattr is called for fstat(2) of an open file, as fuse-native's README says (its
    // index.js called getattr instead).
    if (fh !== undefined && has('fgetattr')) return statOf(await value(op('fgetattr'), 'fgetattr', ctx, [path, fh]), o);
    if (!has('getattr')) {
      if (path === '/') return statOf(DEFAULT_ROOT, o);
      throw new FuseError('EPERM');
    }
    return statOf(await value(op('getattr'), 'getattr', ctx, [path]), o);
  };
  if (has('access')) p.access = async (path, mask, ctx) => void (await value(op('access'), 'access', ctx, [path, mask]));
  if (has('statfs')) p.statfs = async (path, ctx) => (await value(op('statfs'), 'statfs', ctx, [path])) as StatfsInput ?? {};
  if (has('readlink')) {
    p.readlink = async (path, ctx) => {
      const target = await value(op('readlink'), 'readlink', ctx, [path]);
      if (typeof target !== 'string' && !Buffer.isBuffer(target)) throw new TypeError(`readlink: callback got ${typeof target} as the target`);
      return target;
    };
  }
  if (has('mknod')) p.mknod = async (path, mode, rdev, ctx) => void (await value(op('mknod'), 'mknod', ctx, [path, mode, rdev]));
  if (has('mkdir')) p.mkdir = async (path, mode, ctx) => void (await value(op('mkdir'), 'mkdir', ctx, [path, mode]));
  if (has('unlink')) p.unlink = async (path, ctx) => void (await value(op('unlink'), 'unlink', ctx, [path]));
  if (has('rmdir')) p.rmdir = async (path, ctx) => void (await value(op('rmdir'), 'rmdir', ctx, [path]));
  if (has('symlink')) p.symlink = async (target, path, ctx) => void (await value(op('symlink'), 'symlink', ctx, [target, path]));
  if (has('link')) p.link = async (from, to, ctx) => void (await value(op('link'), 'link', ctx, [from, to]));
  if (has('rename')) {
    p.rename = async (from, to, flags, ctx) => {
      // libfuse 2 has no RENAME2: renameat2() with flags failed with EINVAL.
      if (flags !== 0) throw new FuseError('EINVAL');
      await value(op('rename'), 'rename', ctx, [from, to]);
    };
  }
  if (has('chmod')) p.chmod = async (path, mode, _fh, ctx) => void (await value(op('chmod'), 'chmod', ctx, [path, mode]));
  // uid_t -1 ("leave as it is") reached fuse-native handlers as the unsigned 4294967295.
  if (has('chown')) p.chown = async (path, uid, gid, _fh, ctx) => void (await value(op('chown'), 'chown', ctx, [path, uid >>> 0, gid >>> 0]));
  if (has('truncate') || has('ftruncate')) {
    p.truncate = async (path, size, fh, ctx) => {
      // libfuse 2: ftruncate for an open file when there is one, else truncate by path.
      if (fh !== undefined && has('ftruncate')) await value(op('ftruncate'), 'ftruncate', ctx, [path, fh, size]);
      else if (has('truncate')) await value(op('truncate'), 'truncate', ctx, [path, size]);
      else throw new FuseError('ENOSYS');
    };
  }
  if (has('utimens')) {
    p.utimens = async (path, atime, mtime, _fh, ctx) => {
      // fuse-native passes milliseconds; a time left as it is (UTIME_OMIT) is passed as it is now.
      let now: StatInput | undefined;
      if (atime === null || mtime === null) now = await p.getattr!(path, undefined, ctx);
      const keep = (which: 'atime' | 'mtime'): number => toMs(now?.[`${which}Ms`] ?? now?.[which]);
      await value(op('utimens'), 'utimens', ctx, [path, atime === null ? keep('atime') : ms(atime), mtime === null ? keep('mtime') : ms(mtime)]);
    };
  }
  if (has('open')) p.open = async (path, flags, ctx) => opened(await value(op('open'), 'open', ctx, [path, flags]), 'open');
  if (has('create')) p.create = async (path, mode, _flags, ctx) => opened(await value(op('create'), 'create', ctx, [path, mode]), 'create');
  if (has('read')) {
    p.read = async (path, fh, size, offset, ctx) => {
      // Zeroed: a handler that reports more than it wrote must not hand out old memory.
      const buf = Buffer.alloc(size);
      const n = await byteCount(op('read'), 'read', ctx, [path, fh, buf, size, offset], size);
      return buf.subarray(0, n);
    };
  }
  if (has('write')) p.write = async (path, fh, data, offset, ctx) => byteCount(op('write'), 'write', ctx, [path, fh, data, data.length, offset], data.length);
  if (has('flush')) p.flush = async (path, fh, _owner, ctx) => void (await value(op('flush'), 'flush', ctx, [path, fh]));
  if (has('release')) p.release = async (path, fh, _flags, ctx) => void (await value(op('release'), 'release', ctx, [path, fh]));
  // fuse-native's code passes (path, datasync, fd) — its README says (path, fd, datasync).
  if (has('fsync')) p.fsync = async (path, fh, datasync, ctx) => void (await value(op('fsync'), 'fsync', ctx, [path, datasync ? 1 : 0, fh]));
  if (has('fsyncdir')) p.fsyncdir = async (path, fh, datasync, ctx) => void (await value(op('fsyncdir'), 'fsyncdir', ctx, [path, datasync ? 1 : 0, fh]));
  if (has('opendir')) p.opendir = async (path, flags, ctx) => opened(await value(op('opendir'), 'opendir', ctx, [path, flags]), 'opendir').fh;
  if (has('releasedir')) p.releasedir = async (path, fh, ctx) => void (await value(op('releasedir'), 'releasedir', ctx, [path, fh]));
  if (has('readdir')) {
    p.readdir = async (path, _fh, ctx) => {
      const [code, names, stats] = await call(op('readdir'), 'readdir', ctx, [path]);
      const err = failure(code, 'readdir');
      if (err !== undefined) throw err;
      if (names === undefined || names === null) return [];
      if (!Array.isArray(names)) throw new TypeError(`readdir: callback got ${typeof names} as the names: expected an array`);
      // As fuse-native.c: the stats are used only when there is one per name.
      const withStats = Array.isArray(stats) && stats.length === names.length;
      return names.map((name: unknown, i): PathDirent<string> => withStats ? { name: name as string, stat: statOf(stats[i], o) } : (name as string));
    };
  }
  if (has('setxattr')) {
    // position is macOS's; fuse-native passed 0 on Linux.
    p.setxattr = async (path, name, v, flags, ctx) => void (await value(op('setxattr'), 'setxattr', ctx, [path, name, v, 0, flags]));
  }
  if (has('getxattr')) {
    p.getxattr = async (path, name, ctx) => {
      const v = await value(op('getxattr'), 'getxattr', ctx, [path, name, 0]);
      if (v !== null && v !== undefined && !Buffer.isBuffer(v)) throw new TypeError(`getxattr: callback got ${typeof v}: expected a Buffer or null`);
      return v as Buffer | null | undefined;
    };
  }
  if (has('listxattr')) {
    p.listxattr = async (path, ctx) => {
      const list = await value(op('listxattr'), 'listxattr', ctx, [path]);
      if (list === null || list === undefined) return [];
      if (!Array.isArray(list)) throw new TypeError(`listxattr: callback got ${typeof list}: expected an array of names`);
      return list as string[];
    };
  }
  if (has('removexattr')) p.removexattr = async (path, name, ctx) => void (await value(op('removexattr'), 'removexattr', ctx, [path, name]));
  return p;
}

/** A stat time as milliseconds, for utimens' "leave it as it is". */
function toMs(t: unknown): number {
  if (t instanceof Date) return t.getTime();
  if (typeof t === 'number') return t;
  if (typeof t === 'bigint') return Number(t);
  if (t !== null && typeof t === 'object' && 'sec' in t) return ms(t as Timespec);
  return 0;
}
