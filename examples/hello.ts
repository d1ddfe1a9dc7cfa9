// A read-only filesystem with one file, /hello, served from memory.
// Run (as root): npm run build && node dist/examples/hello.js /mnt/hello
import { FuseError, mount, type Attr, type Filesystem } from '../src/index';

const ROOT = 1;
const HELLO = 2;
const text = Buffer.from('Hello from tsfuse!\n');
const now = Math.floor(Date.now() / 1000);

function attr(ino: number, mode: number, size: number, nlink: number): Attr {
  return {
    ino, mode, size, nlink, uid: 0, gid: 0, rdev: 0, blksize: 4096, blocks: Math.ceil(size / 512),
    atime: now, mtime: now, ctime: now, atimensec: 0, mtimensec: 0, ctimensec: 0, flags: 0,
  };
}

const hello: Filesystem = {
  async lookup(_ctx, parent, name) {
    if (parent !== ROOT || name !== 'hello') throw new FuseError('ENOENT');
    return { nodeid: HELLO, attr: attr(HELLO, 0o100444, text.length, 1) };
  },
  async getattr(_ctx, nodeid) {
    if (nodeid === ROOT) return { attr: attr(ROOT, 0o040555, 0, 2) };
    if (nodeid === HELLO) return { attr: attr(HELLO, 0o100444, text.length, 1) };
    throw new FuseError('ENOENT');
  },
  async open(_ctx, nodeid, flags) {
    if ((flags & 3) !== 0) throw new FuseError('EACCES'); // read-only
    return { fh: nodeid };
  },
  async read(_ctx, _nodeid, _fh, offset, size) {
    return text.subarray(offset, offset + size);
  },
  async opendir() {
    return { fh: 0 };
  },
  async readdir(_ctx, _nodeid, _fh, offset, out) {
    const entries = [
      { ino: ROOT, type: 0o040000, name: '.' },
      { ino: ROOT, type: 0o040000, name: '..' },
      { ino: HELLO, type: 0o100000, name: 'hello' },
    ];
    // The offset the kernel passes back is the index of the next entry to list.
    for (let i = offset; i < entries.length; i++) {
      if (!out.add({ ...entries[i], nextOffset: i + 1 })) break;
    }
  },
};

async function main(): Promise<void> {
  const mountpoint = process.argv[2];
  if (!mountpoint) throw new Error('usage: node dist/examples/hello.js MOUNTPOINT');
  const handle = await mount(hello, mountpoint);
  console.log(`mounted on ${handle.mountpoint}; Ctrl-C unmounts`);
  process.once('SIGINT', () => void handle.unmount({ lazy: true }));
  await handle.closed;
}

main().catch((err: Error) => {
  console.error(`hello: ${err.message}`);
  process.exitCode = 1;
});
