// security.capability through the loopback. The kernel asks for it (GETXATTR) before the first
// write to a file since its attributes were last refreshed, and the loopback answers that cheaply:
// through the file's open fd when it has one (right after CREATE it does), and a missing attribute
// without an exception. A capability set on a source file must still be seen through the mount,
// on a file created through it as on one that was already there; and a write through the mount
// clears it in the source, as a write to the local file does (the backing write itself drops it).
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import * as sys from '../src/sys/index';
import { Errno } from '../src/protocol/errors';
import { mountLoopback, tempDir } from './fixtures/loopback/harness';

const CAP = 'security.capability';
const { ENODATA } = Errno;

/**
 * struct vfs_cap_data, revision 2 (include/uapi/linux/capability.h): magic_etc =
 * VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE, then permitted and inheritable, low 32 bits and
 * high: CAP_NET_RAW (13) permitted, what `setcap cap_net_raw+ep` writes.
 */
function capability(): Buffer {
  const v = Buffer.alloc(20);
  v.writeUInt32LE(0x02000001, 0);
  v.writeUInt32LE(1 << 13, 4);
  return v;
}

function capOf(file: string): Buffer | null {
  const v = sys.getxattrOrErrno(file, CAP);
  if (typeof v !== 'number') return v;
  if (v === -ENODATA) return null;
  throw sys.errnoError(-v, 'getxattr', file);
}

/** Writes `data` at offset 0 of the open `fd`, then closes it. */
function writeAndClose(fd: number, data: string): void {
  try {
    fs.writeSync(fd, data, 0);
  } finally {
    fs.closeSync(fd);
  }
}

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root (mounts FUSE, sets security.capability)');
} else {
  t.setTimeout(300_000);
  const local = path.join(tempDir(t), 'f');
  fs.writeFileSync(local, 'x');
  sys.setxattr(local, CAP, capability());
  writeAndClose(fs.openSync(local, 'r+'), 'y');
  const localClears = capOf(local) === null;

  for (const passthrough of ['off', 'rw'] as const) {
    t.test(`security.capability is seen, and cleared by a write, passthrough ${passthrough}`, async (t) => {
      t.ok(localClears, 'natively, a write clears it');
      const m = await mountLoopback(t, { passthrough });

      const old = 'existing';
      fs.writeFileSync(path.join(m.src, old), 'old');
      sys.setxattr(path.join(m.src, old), CAP, capability());
      t.same(capOf(path.join(m.mnt, old)), capability(), 'the mount shows it');
      writeAndClose(fs.openSync(path.join(m.mnt, old), 'r+'), 'new');
      t.equal(capOf(path.join(m.src, old)), null, 'a write through the mount cleared it in the source');
      t.equal(fs.readFileSync(path.join(m.src, old), 'utf8'), 'new');

      // Created through the mount, the capability set behind its back before the first write:
      // the kernel asks while the CREATE's open file is still there.
      const made = 'created';
      const fd = fs.openSync(path.join(m.mnt, made), 'w');
      sys.setxattr(path.join(m.src, made), CAP, capability());
      t.same(capOf(path.join(m.mnt, made)), capability(), 'the mount shows it while the CREATE is open');
      writeAndClose(fd, 'data');
      t.equal(capOf(path.join(m.src, made)), null, 'the first write to a new file cleared it');
      t.equal(fs.readFileSync(path.join(m.src, made), 'utf8'), 'data');

      const plain = 'plain';
      writeAndClose(fs.openSync(path.join(m.mnt, plain), 'w'), 'data');
      t.equal(capOf(path.join(m.mnt, plain)), null, 'a file without one still has none');
      t.equal(capOf(path.join(m.src, plain)), null);
    });
  }
}
