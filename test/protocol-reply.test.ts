// Sizes and numbers from the uapi header, reply encoders' headers, directory buffers, notify
// framing, ioctl numbers and the errno table.
import t from 'tap';
import * as os from 'os';
import {
  Opcode, NotifyCode, FOPEN_PASSTHROUGH, FOPEN_DIRECT_IO, FOPEN_KEEP_CACHE, FOPEN_PARALLEL_DIRECT_WRITES,
  FATTR_MODE, FATTR_SIZE, FATTR_FH, FATTR_LOCKOWNER, FATTR_CTIME, FATTR_KILL_SUIDGID,
  FUSE_DEV_IOC_CLONE, FUSE_DEV_IOC_BACKING_OPEN, FUSE_DEV_IOC_BACKING_CLOSE, FUSE_DEV_IOC_SYNC_INIT,
  FUSE_KERNEL_VERSION, FUSE_KERNEL_MINOR_VERSION, FUSE_ROOT_ID, encodeU32Arg,
  encodeErrorReply, encodeEmptyReply, encodeDataReplyHeader, encodeDataReply, encodeOpenReply,
  encodeNotifyResend, encodeNotifyIncEpoch, encodeNotifyInvalEntry, encodeNotifyStore, encodeNotifyPrune,
  DirentBuffer, DirentPlusBuffer, direntSize, direntPlusSize, direntType, splitTimeout,
  Errno, errnoNumber, errnoName, errnoFromError, errnoOfError,
} from '../src/protocol';
import type { EntryOut } from '../src/protocol';
import * as L from '../src/protocol/layouts';

t.test('struct sizes from the header', async (t) => {
  t.equal(L.fuse_in_header.size, 40);
  t.equal(L.fuse_out_header.size, 16);
  t.equal(L.fuse_attr.size, 88);
  t.equal(L.fuse_entry_out.size, 128);
  t.equal(L.fuse_attr_out.size, 104);
  t.equal(L.fuse_open_out.size, 16);
  t.equal(L.fuse_init_in.size, 64);
  t.equal(L.fuse_init_out.size, 64);
  t.equal(L.fuse_backing_map.size, 16);
  t.equal(L.fuse_dirent.size, 24);
  t.equal(L.fuse_direntplus.size, 152);
  t.equal(L.fuse_kstatfs.size, 80);
  t.equal(L.fuse_statx.size, 256, 'same as struct statx');
  t.equal(L.fuse_statx_out.size, 288);
  t.equal(L.fuse_setattr_in.size, 88);
  t.equal(L.fuse_read_in.size, 40);
  t.equal(L.fuse_write_in.size, 40);
  t.equal(L.fuse_notify_retrieve_in.size, L.fuse_write_in.size, 'matches the size of fuse_write_in');
  t.equal(L.fuse_lk_in.size, 48);
  t.equal(L.fuse_copy_file_range_in.size, 56);
  t.equal(L.cuse_init_out.size, 72);
  t.equal(L.fuse_removemapping_in.size, 4);
});

t.test('field offsets from the header', async (t) => {
  // Counted by hand from include/uapi/linux/fuse.h, independently of buffer-layout.
  t.same(L.fuse_in_header.off, { len: 0, opcode: 4, unique: 8, nodeid: 16, uid: 24, gid: 28, pid: 32, total_extlen: 36, padding: 38 });
  t.same(L.fuse_out_header.off, { len: 0, error: 4, unique: 8 });
  t.equal(L.fuse_attr.off.atimensec, 48);
  t.equal(L.fuse_attr.off.flags, 84);
  t.equal(L.fuse_entry_out.off.entry_valid_nsec, 32);
  t.equal(L.fuse_entry_out.off.attr, 40);
  t.equal(L.fuse_attr_out.off.attr, 16);
  t.equal(L.fuse_open_out.off.backing_id, 12);
  t.same(
    [L.fuse_init_out.off.max_background, L.fuse_init_out.off.max_write, L.fuse_init_out.off.max_pages,
      L.fuse_init_out.off.flags2, L.fuse_init_out.off.max_stack_depth, L.fuse_init_out.off.request_timeout],
    [16, 20, 28, 32, 36, 40],
  );
  t.equal(L.fuse_init_in.off.flags2, 16);
  t.equal(L.fuse_setattr_in.off.atimensec, 56);
  t.equal(L.fuse_setattr_in.off.uid, 76);
  t.equal(L.fuse_lk_in.off.lk, 16);
  t.equal(L.fuse_lk_in.off.lk_flags, 40);
  t.equal(L.fuse_read_in.off.lock_owner, 24);
  t.equal(L.fuse_write_in.off.flags, 32);
  t.equal(L.fuse_statx.off.atime, 64);
  t.equal(L.fuse_statx.off.rdev_major, 128);
  t.equal(L.fuse_statx_out.off.stat, 32);
  t.equal(L.fuse_direntplus.off.dirent, 128);
  t.equal(L.fuse_notify_retrieve_in.off.size, 16);
  t.equal(L.fuse_ioctl_in.off.in_size, 24);
  // The derived offsets are buffer-layout's.
  for (const def of L.ALL_STRUCTS) {
    for (const f of Object.keys(def.off)) t.equal(def.off[f as never], def.layout.offsetOf(f), `${def.cname}.${f}`);
    t.equal(def.size, def.layout.span, `${def.cname} size`);
  }
});

t.test('constants with their header names and numbers', async (t) => {
  t.equal(FUSE_KERNEL_VERSION, 7);
  t.equal(FUSE_KERNEL_MINOR_VERSION, 45);
  t.equal(FUSE_ROOT_ID, 1);
  t.equal(Opcode.LOOKUP, 1);
  t.equal(Opcode.SYMLINK, 6);
  t.equal(Opcode.MKNOD, 8);
  t.equal(Opcode.FSYNC, 20);
  t.equal(Opcode.INIT, 26);
  t.equal(Opcode.CREATE, 35);
  t.equal(Opcode.READDIRPLUS, 44);
  t.equal(Opcode.STATX, 52);
  t.equal(Opcode.COPY_FILE_RANGE_64, 53);
  t.equal(Opcode.CUSE_INIT, 4096);
  t.same(
    [NotifyCode.POLL, NotifyCode.INVAL_INODE, NotifyCode.INVAL_ENTRY, NotifyCode.STORE, NotifyCode.RETRIEVE,
      NotifyCode.DELETE, NotifyCode.RESEND, NotifyCode.INC_EPOCH, NotifyCode.PRUNE],
    [1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  t.equal(FOPEN_DIRECT_IO, 1);
  t.equal(FOPEN_KEEP_CACHE, 2);
  t.equal(FOPEN_PARALLEL_DIRECT_WRITES, 64);
  t.equal(FOPEN_PASSTHROUGH, 1 << 7);
  t.same([FATTR_MODE, FATTR_SIZE, FATTR_FH, FATTR_LOCKOWNER, FATTR_CTIME, FATTR_KILL_SUIDGID], [1, 8, 64, 512, 1024, 2048]);
});

t.test('device ioctl numbers and arguments', async (t) => {
  t.equal(FUSE_DEV_IOC_CLONE, 0x8004e500);
  t.equal(FUSE_DEV_IOC_BACKING_OPEN, 0x4010e501);
  t.equal(FUSE_DEV_IOC_BACKING_CLOSE, 0x4004e502);
  t.equal(FUSE_DEV_IOC_SYNC_INIT, 0xe503);
  t.same([...encodeU32Arg(7)], [7, 0, 0, 0]);
});

t.test('reply headers', async (t) => {
  let b = encodeErrorReply(10, Errno.ENOENT);
  t.same([b.length, b.readUInt32LE(0), b.readInt32LE(4), Number(b.readBigUInt64LE(8))], [16, 16, -2, 10], 'ENOENT as -2');
  t.equal(encodeErrorReply(10, -13).readInt32LE(4), -13, 'a negative errno is accepted');
  for (const bad of [0, 512, 1.5, NaN, 100000]) t.equal(encodeErrorReply(10, bad).readInt32LE(4), -5, `${bad} becomes EIO`);
  b = encodeEmptyReply(12);
  t.equal(b.toString('hex'), '10000000000000000c00000000000000');
  b = encodeDataReplyHeader(14, 131072);
  t.same([b.length, b.readUInt32LE(0), b.readInt32LE(4)], [16, 16 + 131072, 0], 'data header counts the data');
  b = encodeDataReply(16, Buffer.from('/target'));
  t.equal(b.readUInt32LE(0), 23);
  t.equal(b.subarray(16).toString(), '/target');
  b = encodeOpenReply(18, { fh: 2 ** 40 + 3, openFlags: FOPEN_PASSTHROUGH, backingId: 3 });
  t.equal(b.toString('hex').slice(32), '030000000001000080000000' + '03000000');
  t.equal(encodeOpenReply(18, { fh: 1, openFlags: 0 }).readInt32LE(16 + 12), 0, 'backingId defaults to 0');
});

t.test('notify framing: unique 0, error = code', async (t) => {
  t.equal(encodeNotifyResend().toString('hex'), '10000000070000000000000000000000');
  t.equal(encodeNotifyIncEpoch().toString('hex'), '10000000080000000000000000000000');
  const ie = encodeNotifyInvalEntry(1, 'ab', 1);
  t.equal(ie.toString('hex'), '23000000030000000000000000000000' + '0100000000000000' + '02000000' + '01000000' + '616200');
  const st = encodeNotifyStore(5, 6, Buffer.from('xyz'));
  t.equal(st.readUInt32LE(0), st.length);
  t.equal(st.subarray(40).toString(), 'xyz');
  const pr = encodeNotifyPrune([]);
  t.equal(pr.length, 32);
});

t.test('DirentBuffer: 8-byte records, capped at the requested size', async (t) => {
  t.equal(direntSize(1), 32);
  t.equal(direntSize(8), 32);
  t.equal(direntSize(9), 40);
  t.equal(direntPlusSize(1), 160);
  t.equal(direntPlusSize(8), 160);
  t.equal(direntType(0o40755), 4, 'DT_DIR');
  t.equal(direntType(0o100644), 8, 'DT_REG');
  t.equal(direntType(0o120777), 10, 'DT_LNK');

  const d = new DirentBuffer(72);
  t.ok(d.add('a', 5, 1, 8));
  t.ok(d.add(Buffer.from([0xff, 0xfe]), 6, 2, 4), 'non-UTF-8 name');
  t.notOk(d.add('seventeen-chars!!', 7, 3, 8), '24 + 17 -> 48 does not fit in the 8 left');
  t.equal(d.count, 2, 'the refused record was not added');
  t.equal(d.length, 64);
  const exact = new DirentBuffer(64);
  t.ok(exact.add('x'.repeat(8), 1, 1, 8));
  t.ok(exact.add('y'.repeat(8), 2, 2, 8), 'a record that fills the buffer exactly fits');
  t.notOk(exact.add('z', 3, 3, 8));
  const r = exact.reply(77);
  t.equal(r.length, 16 + 64);
  t.same([r.readUInt32LE(0), r.readInt32LE(4), Number(r.readBigUInt64LE(8))], [80, 0, 77]);
  t.equal(r.toString('hex', 16, 48), '0100000000000000' + '0100000000000000' + '08000000' + '08000000' + '7878787878787878');

  const d2 = new DirentBuffer(4096);
  d2.add('abc', 1, 1, 8);
  const r2 = d2.reply(1);
  t.equal(r2.length, 16 + 32);
  t.same([...r2.subarray(16 + 27, 16 + 32)], [0, 0, 0, 0, 0], 'padding is zero');

  const empty = new DirentBuffer(4096).reply(3);
  t.equal(empty.length, 16, 'end of directory: empty reply');

  const attr = { ino: 9, size: 0, blocks: 0, atime: 0, mtime: 0, ctime: 0, atimensec: 0, mtimensec: 0, ctimensec: 0, mode: 0o40755, nlink: 2, uid: 0, gid: 0, rdev: 0, blksize: 4096, flags: 0 };
  const e: EntryOut = { nodeid: 9, generation: 0, entryValid: 1, entryValidNsec: 0, attrValid: 1, attrValidNsec: 0, attr };
  const p = new DirentPlusBuffer(320);
  t.ok(p.add('d1', e, 1));
  t.ok(p.add('d2', e, 2));
  t.notOk(p.add('d3', e, 3));
  const pr = p.reply(5);
  t.equal(pr.length, 16 + 320);
  t.equal(pr.readUInt32LE(16 + 128 + 20), 4, 'type from attr.mode');
  t.equal(Number(pr.readBigUInt64LE(16 + 128)), 9, 'ino from attr.ino');
});

t.test('errno table', async (t) => {
  t.equal(errnoNumber('ENOENT'), 2);
  t.equal(errnoNumber('ENOSYS'), 38);
  t.equal(errnoNumber('EOPNOTSUPP'), 95);
  t.equal(errnoNumber('ENOTSUP'), 95);
  t.equal(errnoNumber('EREMOTEIO'), 121);
  t.equal(errnoNumber('ENOPE'), undefined);
  t.equal(errnoNumber('toString'), undefined);
  t.equal(errnoName(2), 'ENOENT');
  t.equal(errnoName(-2), 'ENOENT');
  t.equal(errnoName(11), 'EAGAIN');
  t.equal(errnoName(95), 'EOPNOTSUPP');
  t.equal(errnoName(41), undefined);
  if (process.platform === 'linux') {
    for (const [name, n] of Object.entries(os.constants.errno)) t.equal(errnoNumber(name), n, `${name} agrees with Node`);
  }
  t.equal(errnoFromError(Object.assign(new Error('x'), { code: 'ENOTEMPTY' })), 39);
  t.equal(errnoFromError({ errno: -2 }), 2);
  t.equal(errnoFromError({ code: 'ERR_SOMETHING' }), 5);
  t.equal(errnoFromError('nope', Errno.EPERM), 1);
  // The one reading every layer uses: ioctl-napi's digit codes too, and nothing that is no errno.
  t.equal(errnoOfError(Object.assign(new Error('ioctl'), { code: '1' })), 1, "ioctl-napi's code '1' is EPERM");
  t.equal(errnoOfError({ code: 'ERR_INVALID_ARG_TYPE' }), undefined, "Node's non-errno codes are none");
  t.equal(errnoOfError({ code: '41' }), undefined, 'an unassigned number is none');
  t.equal(errnoOfError({ errno: 0 }), undefined);
  t.equal(errnoOfError(new DOMException('gone', 'AbortError')), undefined, "a DOMException's numeric code (20) is no errno");
});

t.test('splitTimeout', async (t) => {
  t.same(splitTimeout(1.5), [1, 500000000]);
  t.same(splitTimeout(0), [0, 0]);
  t.same(splitTimeout(-3), [0, 0]);
  t.same(splitTimeout(86400), [86400, 0]);
});
