// The path API on real mounts served from this process (so only async fs calls and child
// processes touch the mount): the nodeid <-> path table, attributes, the errnos of missing
// operations, truncating opens, READDIRPLUS, names that are not UTF-8, passthrough, offsets.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Test } from 'tap';
import { memoryOperations } from '../examples/path-memfs';
import { FuseError } from '../src/fs/errors';
import { pathFilesystem, type PathFilesystem } from '../src/fs/path/adapter';
import type { PathOperations, PathOptions } from '../src/fs/path/api';
import { S_IFDIR, S_IFREG } from '../src/fs/path/constants';
import type { MountOptions } from '../src/fs/mount';
import { mountHere, run } from './helpers/mounted';

const fsp = fs.promises;

/** Errno code of a failing promise, 'ok' when it succeeds. */
async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

async function mountPaths<P extends string | Buffer = string>(t: Test, ops: PathOperations<P>, options: PathOptions = {}, mountOptions: MountOptions = {}): Promise<{ mnt: string; fs: PathFilesystem; requests: () => Promise<Record<string, number>> }> {
  const filesystem = pathFilesystem(ops, options);
  const handle = await mountHere(t, filesystem, mountOptions);
  return { mnt: handle.mountpoint, fs: filesystem, requests: async () => (await handle.stats()).requests };
}

/** Polls `cond` for up to 3 s: FORGET arrives when the kernel evicts, a moment after the unlink. */
async function eventually(cond: () => boolean): Promise<boolean> {
  for (let i = 0; i < 60 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root (mounts FUSE)');
} else {
  t.test('the in-memory example: files, renamed directories, hard links, forgetting', async (t) => {
    const ops = memoryOperations();
    const { mnt, fs: pfs } = await mountPaths(t, ops);
    const p = (rel: string): string => path.join(mnt, rel);
    await fsp.mkdir(p('a/b'), { recursive: true });
    await fsp.writeFile(p('a/b/f'), 'hello');
    await fsp.appendFile(p('a/b/f'), ' world');
    t.equal(await fsp.readFile(p('a/b/f'), 'utf8'), 'hello world');
    // The kernel holds a/, a/b/ and a/b/f by nodeid now; after the rename those nodeids must
    // stand for the paths below c/.
    await fsp.rename(p('a'), p('c'));
    t.equal(await fsp.readFile(p('c/b/f'), 'utf8'), 'hello world', 'a file below a renamed directory');
    await fsp.writeFile(p('c/b/f'), 'short'); // O_TRUNC
    t.equal(await fsp.readFile(p('c/b/f'), 'utf8'), 'short');
    t.equal(await code(fsp.stat(p('a/b/f'))), 'ENOENT');
    await fsp.link(p('c/b/f'), p('g'));
    const [f, g] = [await fsp.stat(p('c/b/f')), await fsp.stat(p('g'))];
    t.equal(f.ino, g.ino, 'one inode');
    t.equal(g.nlink, 2);
    await fsp.appendFile(p('g'), '!');
    t.equal(await fsp.readFile(p('c/b/f'), 'utf8'), 'short!', 'a write through one name is read through the other at once');
    t.equal(pfs.nodeCount, 3, 'c, c/b and one node for both names of the file');
    await fsp.symlink('c/b/f', p('l'));
    t.equal(await fsp.readlink(p('l')), 'c/b/f');
    t.equal(await fsp.readFile(p('l'), 'utf8'), 'short!');
    await fsp.unlink(p('g'));
    await fsp.unlink(p('l'));
    await fsp.rm(p('c'), { recursive: true });
    t.same(await fsp.readdir(mnt), []);
    t.ok(await eventually(() => pfs.nodeCount === 0), `FORGET emptied the table (${pfs.nodeCount} left)`);
    t.equal(ops.inodes(), 1, 'only the root is left in the example');
  });

  t.test('truncating opens and ftruncate work with truncate() alone', async (t) => {
    let data = Buffer.from('old content');
    const truncated: number[] = [];
    const { mnt } = await mountPaths(t, {
      async getattr(p) {
        if (p === '/') return { type: 'dir' };
        if (p === '/f') return { type: 'file', size: data.length };
        throw new FuseError('ENOENT');
      },
      async read(_p, _fh, size, offset) {
        return data.subarray(offset, offset + size);
      },
      async write(_p, _fh, chunk, offset) {
        const grown = Buffer.alloc(Math.max(data.length, offset + chunk.length));
        data.copy(grown);
        chunk.copy(grown, offset);
        data = grown;
        return chunk.length;
      },
      async truncate(_p, size) {
        truncated.push(size);
        data = Buffer.concat([data, Buffer.alloc(size)]).subarray(0, size);
      },
    }, { attrTimeout: 0 });
    await fsp.writeFile(path.join(mnt, 'f'), 'new');
    t.equal(await fsp.readFile(path.join(mnt, 'f'), 'utf8'), 'new', 'echo > existing');
    const fh = await fsp.open(path.join(mnt, 'f'), 'r+');
    await fh.truncate(1);
    await fh.close();
    t.equal(await fsp.readFile(path.join(mnt, 'f'), 'utf8'), 'n');
    t.same(truncated, [0, 1]);
    t.equal(await code(fsp.utimes(path.join(mnt, 'f'), 1, 1)), 'ENOSYS', 'times alone still need utimens()');
  });

  t.test('attributes: fs.Stats, BigIntStats, partial objects, times as Date / ms / ns', async (t) => {
    const real = path.join(t.testdir(), 'real');
    fs.writeFileSync(real, 'twelve bytes');
    fs.chmodSync(real, 0o640);
    const ns = 1_700_000_000_123_456_789n;
    const answers: Record<string, unknown> = {
      '/': { type: 'dir' },
      '/stats': fs.statSync(real),
      '/bigint': fs.statSync(real, { bigint: true }),
      '/date': { mode: 'file', mtime: new Date(1_600_000_000_250) },
      '/ms': { mode: S_IFREG | 0o600, mtime: 1_600_000_000_250 },
      '/ns': { mode: 0o4755, mtimeNs: ns, uid: 7, gid: 8, nlink: 3, size: 5n },
      '/dirbits': { mode: S_IFDIR | 0o700 },
      '/bad': null,
    };
    const logged: string[] = [];
    const { mnt } = await mountPaths(t, {
      async getattr(p) {
        if (!(p in answers)) throw new FuseError('ENOENT');
        return answers[p] as never;
      },
    }, {}, { log: (line) => logged.push(line) });
    const st = (name: string): Promise<fs.BigIntStats> => fsp.lstat(path.join(mnt, name), { bigint: true });
    const want = fs.statSync(real, { bigint: true });
    for (const name of ['stats', 'bigint']) {
      const s = await st(name);
      t.same([s.mode, s.size, s.ino, s.uid], [want.mode, want.size, want.ino, want.uid], name);
    }
    t.equal((await st('bigint')).mtimeNs, want.mtimeNs, 'BigIntStats: the nanoseconds');
    // fs.Stats holds mtimeMs in a double: exact to about a microsecond at today's dates.
    const diff = (await st('stats')).mtimeNs - want.mtimeNs;
    t.ok(diff > -1000n && diff < 1000n, `fs.Stats: within a microsecond (${diff} ns)`);
    t.equal((await st('date')).mtimeNs, 1_600_000_000_250_000_000n, 'Date');
    t.equal((await st('ms')).mtimeNs, 1_600_000_000_250_000_000n, 'milliseconds');
    const n = await st('ns');
    t.same([n.mtimeNs, n.mode, n.uid, n.gid, n.nlink, n.size], [ns, BigInt(S_IFREG | 0o4755), 7n, 8n, 3n, 5n], 'nanoseconds, and the type defaults to a file');
    t.equal((await st('date')).mode, BigInt(S_IFREG | 0o644), "mode 'file' gets 0644");
    t.equal((await st('dirbits')).mode, BigInt(S_IFDIR | 0o700));
    t.equal((await fsp.stat(mnt)).mode, S_IFDIR | 0o755, "type 'dir' gets 0755");
    t.equal(await code(st('bad')), 'EIO', 'a getattr answering null is EIO');
    t.match(logged.join('\n'), /expected a stat object, got null/, 'and says why');
    t.equal(await code(st('missing')), 'ENOENT');
  });

  t.test('operations left out answer as libfuse high-level does', async (t) => {
    const { mnt } = await mountPaths(t, {
      async getattr(p) {
        if (p === '/') return { type: 'dir' };
        if (p === '/f') return { type: 'file', size: 3 };
        throw new FuseError('ENOENT');
      },
      async readdir() {
        return ['f'];
      },
    });
    const f = path.join(mnt, 'f');
    t.equal(await code(fsp.mkdir(path.join(mnt, 'd'))), 'ENOSYS', 'mkdir');
    t.equal(await code(fsp.writeFile(path.join(mnt, 'new'), 'x')), 'ENOSYS', 'create, and mknod');
    t.equal(await code(fsp.unlink(f)), 'ENOSYS', 'unlink');
    t.equal(await code(fsp.chmod(f, 0o600)), 'ENOSYS', 'chmod');
    const fh = await fsp.open(f, 'r'); // no open(): success
    t.equal(await code(fh.read(Buffer.alloc(3), 0, 3, 0)), 'ENOSYS', 'read');
    await fh.close(); // no release(): success
    t.same(await fsp.readdir(mnt), ['f']);
    const statfs = await run('stat', ['-f', '-c', '%s %l', mnt]);
    t.equal(statfs.stdout.trim(), '512 255', 'statfs: bsize 512, namelen 255');

    const bare = await mountPaths(t, {});
    t.equal(await code(fsp.stat(bare.mnt)), 'ENOSYS', 'no getattr: even the root is ENOSYS');
  });

  t.test('listings with attributes are served as READDIRPLUS: no LOOKUP per entry', async (t) => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const make = (withStats: boolean): PathOperations => ({
      async getattr(p) {
        if (p === '/') return { type: 'dir' };
        if (names.includes(p.slice(1))) return { type: 'file', size: 1, ino: 100 + names.indexOf(p.slice(1)) };
        throw new FuseError('ENOENT');
      },
      async readdir() {
        return withStats ? names.map((name, i) => ({ name, stat: { type: 'file' as const, size: 1, ino: 100 + i } })) : names;
      },
    });
    for (const withStats of [true, false]) {
      const m = await mountPaths(t, make(withStats));
      const ls = await run('ls', ['-li', m.mnt]);
      t.equal(ls.code, 0);
      t.match(ls.stdout, /^100 -rw-r--r-- 1 /m, 'ls -li shows the inode number given');
      const lookups = (await m.requests()).LOOKUP;
      if (withStats) t.equal(lookups, 0, 'with stats: no LOOKUP');
      else t.ok(lookups >= names.length, `names only: a LOOKUP per entry (${lookups})`);
    }
  });

  t.test('names that are not UTF-8: exact bytes with encoding buffer, EILSEQ with strings', async (t) => {
    const files = new Map<string, Buffer>(); // latin1 of the path bytes -> contents
    const seen: Buffer[] = [];
    const ops: PathOperations<Buffer> = {
      async getattr(p) {
        if (p.equals(Buffer.from('/'))) return { type: 'dir' };
        const data = files.get(p.toString('latin1'));
        if (data === undefined) throw new FuseError('ENOENT');
        return { type: 'file', size: data.length };
      },
      async create(p) {
        seen.push(p);
        files.set(p.toString('latin1'), Buffer.alloc(0));
      },
      async write(p, _fh, data) {
        files.set(p.toString('latin1'), Buffer.from(data));
        return data.length;
      },
      async read(p, _fh, size, offset) {
        return (files.get(p.toString('latin1')) ?? Buffer.alloc(0)).subarray(offset, offset + size);
      },
      async readdir() {
        return [...files.keys()].map((k) => Buffer.from(k, 'latin1').subarray(1));
      },
    };
    const { mnt } = await mountPaths(t, ops, { encoding: 'buffer' });
    const name = Buffer.from([0x6e, 0x65, 0x77, 0xe9]); // latin1 "newé"
    const full = Buffer.concat([Buffer.from(mnt + '/'), name]);
    await fsp.writeFile(full, 'latin1');
    t.same(seen.map((b) => b.toString('hex')), [Buffer.concat([Buffer.from('/'), name]).toString('hex')], 'the filesystem got the exact bytes');
    t.same((await fsp.readdir(mnt, { encoding: 'buffer' })).map((b) => b.toString('hex')), [name.toString('hex')]);
    t.equal(await fsp.readFile(full, 'utf8'), 'latin1');

    const strings = await mountPaths(t, memoryOperations());
    t.equal(await code(fsp.writeFile(Buffer.concat([Buffer.from(strings.mnt + '/'), name]), 'x')), 'EILSEQ', 'string paths cannot carry it');
    t.equal(await code(fsp.stat(Buffer.concat([Buffer.from(strings.mnt + '/'), name]))), 'ENOENT');
  });

  t.test('open may return a backingFd: the kernel then reads and writes the file itself', async (t) => {
    const backing = path.join(t.testdir(), 'backing');
    fs.writeFileSync(backing, 'served by the kernel');
    let granted = false;
    const fds = new Set<number>();
    const { mnt, requests } = await mountPaths(t, {
      init(conn) {
        granted = conn.passthrough;
      },
      async getattr(p) {
        if (p === '/') return { type: 'dir' };
        if (p === '/f') return fs.statSync(backing);
        throw new FuseError('ENOENT');
      },
      async open(_p, flags) {
        const fd = fs.openSync(backing, flags);
        fds.add(fd);
        return { fh: fd, backingFd: fd };
      },
      async read(_p, fh, size, offset) {
        const buf = Buffer.alloc(size);
        return buf.subarray(0, fs.readSync(fh, buf, 0, size, offset));
      },
      async write(_p, fh, data, offset) {
        return fs.writeSync(fh, data, 0, data.length, offset);
      },
      async release(_p, fh) {
        fds.delete(fh);
        fs.closeSync(fh);
      },
    }, { passthrough: true });
    t.equal(await fsp.readFile(path.join(mnt, 'f'), 'utf8'), 'served by the kernel');
    const fh = await fsp.open(path.join(mnt, 'f'), 'r+');
    await fh.write('SERVED', 0, 'utf8');
    await fh.close();
    t.equal(fs.readFileSync(backing, 'utf8'), 'SERVED by the kernel', 'the write reached the backing file');
    t.ok(await eventually(() => fds.size === 0), 'release closed every fd');
    if (!granted) {
      t.skip('the kernel did not grant passthrough here: served through read/write instead');
    } else {
      const served = await requests();
      t.same([served.READ, served.WRITE], [0, 0], 'no READ or WRITE reached the filesystem');
    }
  });

  t.test('offsets from 2^53 on are refused, never handed to a handler rounded', async (t) => {
    const offsets: number[] = [];
    const { mnt } = await mountPaths(t, {
      async getattr(p) {
        if (p === '/') return { type: 'dir' };
        if (p === '/f') return { type: 'file', size: 2 ** 62 };
        throw new FuseError('ENOENT');
      },
      async open() {
        return { directIo: true }; // every read reaches the filesystem with the caller's offset
      },
      async read(_p, _fh, size, offset) {
        offsets.push(offset);
        return Buffer.alloc(size, 1);
      },
    });
    const py = 'import os, sys\nfd = os.open(sys.argv[1], os.O_RDONLY)\nfor off in (2**40, 2**53 + 1):\n  try: print(len(os.pread(fd, 16, off)))\n  except OSError as e: print(e.strerror)';
    const r = await run('python3', ['-c', py, path.join(mnt, 'f')]);
    t.same(r.stdout.trim().split('\n'), ['16', 'Invalid argument']);
    t.same(offsets, [2 ** 40], 'only the read below 2^53 reached the handler');
  });
}
