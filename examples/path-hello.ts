// The hello filesystem against the path API: one read-only file, /hello.
// Run (as root): npm run build && node dist/examples/path-hello.js /mnt/hello
import { FuseError, mount, pathFilesystem } from '../src/index';

const text = Buffer.from('Hello from tsfuse!\n');

const hello = pathFilesystem({
  async getattr(path) {
    if (path === '/') return { type: 'dir', mode: 0o555 };
    if (path === '/hello') return { type: 'file', mode: 0o444, size: text.length };
    throw new FuseError('ENOENT');
  },
  async readdir() {
    return ['hello'];
  },
  async read(_path, _fh, size, offset) {
    return text.subarray(offset, offset + size);
  },
});

async function main(): Promise<void> {
  const mountpoint = process.argv[2];
  if (!mountpoint) throw new Error('usage: node dist/examples/path-hello.js MOUNTPOINT');
  const handle = await mount(hello, mountpoint);
  console.log(`mounted on ${handle.mountpoint}; Ctrl-C unmounts`);
  process.once('SIGINT', () => void handle.unmount({ lazy: true }));
  await handle.closed;
}

main().catch((err: Error) => {
  console.error(`path-hello: ${err.message}`);
  process.exitCode = 1;
});
