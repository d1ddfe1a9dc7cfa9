// An in-memory filesystem against the path API: directories, files, symlinks, hard links,
// renames (with RENAME_NOREPLACE / RENAME_EXCHANGE) and xattrs, in about 150 lines.
// Run (as root): npm run build && node dist/examples/path-memfs.js /mnt/mem
import {
  FuseError, RENAME_EXCHANGE, RENAME_NOREPLACE, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, XATTR_CREATE, XATTR_REPLACE,
  mount, pathFilesystem, type PathOperations, type StatInput, type Timespec,
} from '../src/index';

interface Inode {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  data: Buffer;
  target: string;
  children: Map<string, Inode>;
  xattrs: Map<string, Buffer>;
}

export function memoryOperations(): PathOperations & { inodes(): number } {
  let nextIno = 1;
  const now = (): Timespec => ({ sec: Math.floor(Date.now() / 1000), nsec: (Date.now() % 1000) * 1e6 });
  const inode = (mode: number, uid = 0, gid = 0): Inode => {
    const t = now();
    return { ino: nextIno++, mode, uid, gid, nlink: (mode & S_IFMT) === S_IFDIR ? 2 : 1, atime: t, mtime: t, ctime: t,
      data: Buffer.alloc(0), target: '', children: new Map(), xattrs: new Map() };
  };
  const root = inode(S_IFDIR | 0o755);
  const split = (path: string): [string, string] => {
    const i = path.lastIndexOf('/');
    return [path.slice(0, i) || '/', path.slice(i + 1)];
  };
  const find = (path: string): Inode => {
    let node = root;
    for (const name of path.split('/').filter(Boolean)) {
      if ((node.mode & S_IFMT) !== S_IFDIR) throw new FuseError('ENOTDIR');
      const next = node.children.get(name);
      if (next === undefined) throw new FuseError('ENOENT');
      node = next;
    }
    return node;
  };
  const dirOf = (path: string): [Inode, string] => {
    const [dir, name] = split(path);
    const d = find(dir);
    if ((d.mode & S_IFMT) !== S_IFDIR) throw new FuseError('ENOTDIR');
    return [d, name];
  };
  const add = (path: string, node: Inode): Inode => {
    const [dir, name] = dirOf(path);
    if (dir.children.has(name)) throw new FuseError('EEXIST');
    dir.children.set(name, node);
    if ((node.mode & S_IFMT) === S_IFDIR) dir.nlink++;
    dir.mtime = dir.ctime = now();
    return node;
  };
  const drop = (dir: Inode, name: string): void => {
    const node = dir.children.get(name)!;
    dir.children.delete(name);
    if ((node.mode & S_IFMT) === S_IFDIR) dir.nlink--;
    node.nlink -= (node.mode & S_IFMT) === S_IFDIR ? 2 : 1;
    dir.mtime = dir.ctime = node.ctime = now();
  };
  const stat = (n: Inode): StatInput => ({ ...n, size: (n.mode & S_IFMT) === S_IFLNK ? Buffer.byteLength(n.target) : n.data.length });
  const files = new Set<Inode>();
  const count = (n: Inode): void => {
    files.add(n);
    n.children.forEach(count);
  };

  return {
    inodes: () => (files.clear(), count(root), files.size),
    async getattr(path) {
      return stat(find(path));
    },
    async readdir(path) {
      // With each entry's attributes: served as READDIRPLUS, so `ls -l` needs no LOOKUPs.
      return [...find(path).children].map(([name, n]) => ({ name, stat: stat(n) }));
    },
    async mkdir(path, mode, ctx) {
      add(path, inode(S_IFDIR | (mode & 0o7777), ctx.uid, ctx.gid));
    },
    async create(path, mode, _flags, ctx) {
      add(path, inode(S_IFREG | (mode & 0o7777), ctx.uid, ctx.gid));
    },
    async symlink(target, path, ctx) {
      add(path, inode(S_IFLNK | 0o777, ctx.uid, ctx.gid)).target = target;
    },
    async readlink(path) {
      return find(path).target;
    },
    async link(from, to) {
      const n = find(from);
      if ((n.mode & S_IFMT) === S_IFDIR) throw new FuseError('EPERM');
      add(to, n).nlink++;
    },
    async unlink(path) {
      const [dir, name] = dirOf(path);
      if ((find(path).mode & S_IFMT) === S_IFDIR) throw new FuseError('EISDIR');
      drop(dir, name);
    },
    async rmdir(path) {
      const [dir, name] = dirOf(path);
      if (find(path).children.size > 0) throw new FuseError('ENOTEMPTY');
      drop(dir, name);
    },
    async rename(from, to, flags) {
      const [fromDir, fromName] = dirOf(from);
      const [toDir, toName] = dirOf(to);
      const moved = find(from);
      const over = toDir.children.get(toName);
      if (flags & RENAME_EXCHANGE) {
        if (over === undefined) throw new FuseError('ENOENT');
        fromDir.children.set(fromName, over);
        toDir.children.set(toName, moved);
        return;
      }
      if (over !== undefined && flags & RENAME_NOREPLACE) throw new FuseError('EEXIST');
      if (over === moved) return;
      if (over !== undefined) {
        if ((over.mode & S_IFMT) === S_IFDIR && over.children.size > 0) throw new FuseError('ENOTEMPTY');
        drop(toDir, toName);
      }
      fromDir.children.delete(fromName);
      if ((moved.mode & S_IFMT) === S_IFDIR) fromDir.nlink--;
      add(to, moved);
    },
    async chmod(path, mode) {
      const n = find(path);
      n.mode = (n.mode & S_IFMT) | (mode & 0o7777);
      n.ctime = now();
    },
    async chown(path, uid, gid) {
      const n = find(path);
      if (uid !== -1) n.uid = uid;
      if (gid !== -1) n.gid = gid;
      n.ctime = now();
    },
    async truncate(path, size) {
      const n = find(path);
      const data = Buffer.alloc(size);
      n.data.copy(data, 0, 0, Math.min(size, n.data.length));
      n.data = data;
      n.mtime = n.ctime = now();
    },
    async utimens(path, atime, mtime) {
      const n = find(path);
      if (atime !== null) n.atime = atime;
      if (mtime !== null) n.mtime = mtime;
      n.ctime = now();
    },
    async read(path, _fh, size, offset) {
      return find(path).data.subarray(offset, offset + size);
    },
    async write(path, _fh, data, offset) {
      const n = find(path);
      if (offset + data.length > n.data.length) {
        const grown = Buffer.alloc(offset + data.length);
        n.data.copy(grown);
        n.data = grown;
      }
      data.copy(n.data, offset);
      n.mtime = n.ctime = now();
      return data.length;
    },
    async statfs() {
      return { bsize: 4096, blocks: 1 << 20, bfree: 1 << 19, bavail: 1 << 19, files: 1 << 16, ffree: (1 << 16) - nextIno };
    },
    async setxattr(path, name, value, flags) {
      const x = find(path).xattrs;
      if (flags & XATTR_CREATE && x.has(name)) throw new FuseError('EEXIST');
      if (flags & XATTR_REPLACE && !x.has(name)) throw new FuseError('ENODATA');
      x.set(name, Buffer.from(value));
    },
    async getxattr(path, name) {
      return find(path).xattrs.get(name) ?? null;
    },
    async listxattr(path) {
      return [...find(path).xattrs.keys()];
    },
    async removexattr(path, name) {
      if (!find(path).xattrs.delete(name)) throw new FuseError('ENODATA');
    },
  };
}

async function main(): Promise<void> {
  const mountpoint = process.argv[2];
  if (!mountpoint) throw new Error('usage: node dist/examples/path-memfs.js MOUNTPOINT');
  const handle = await mount(pathFilesystem(memoryOperations()), mountpoint);
  console.log(`mounted on ${handle.mountpoint}; Ctrl-C unmounts`);
  process.once('SIGINT', () => void handle.unmount({ lazy: true }));
  await handle.closed;
}

if (require.main === module) {
  main().catch((err: Error) => {
    console.error(`path-memfs: ${err.message}`);
    process.exitCode = 1;
  });
}
