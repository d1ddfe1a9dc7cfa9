// Request decoding: hand-built buffers for the interesting cases, every malformed-input class,
// views, compat sizes for older minors, extensions, and the resend bit.
import t, { type Test } from 'tap';
import {
  Opcode, OPCODE_TABLE, opcodeName, opcodeRow, decodeRequest, decodeInHeader, isDecodeError,
  parseExtensions, describeRequest, describeDecodeError, encodeEmptyReply, encodeLkReply,
  isResendUnique, UNIQUE_RESEND, OFFSET_MAX, Errno,
} from '../src/protocol';
import * as L from '../src/protocol/layouts';
import type { DecodeError, Request, DecodeContext } from '../src/protocol';

/** fuse_in_header (40 bytes) + body, len filled in. */
function req(opcode: number, body: Buffer | number[] = [], o: { unique?: number; nodeid?: number; extlen?: number; len?: number } = {}): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const buf = Buffer.alloc(40 + b.length);
  buf.writeUInt32LE(o.len ?? buf.length, 0);
  buf.writeUInt32LE(opcode, 4);
  buf.writeBigUInt64LE(BigInt(o.unique ?? 10), 8);
  buf.writeBigUInt64LE(BigInt(o.nodeid ?? 1), 16);
  buf.writeUInt32LE(1000, 24);
  buf.writeUInt32LE(100, 28);
  buf.writeUInt32LE(4242, 32);
  buf.writeUInt16LE(o.extlen ?? 0, 36);
  b.copy(buf, 40);
  return buf;
}
const u32s = (...v: number[]): Buffer => {
  const b = Buffer.alloc(4 * v.length);
  v.forEach((x, i) => b.writeUInt32LE(x >>> 0, 4 * i));
  return b;
};
const u64 = (v: number | bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)));
  return b;
};
const cat = (...parts: (Buffer | string)[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p)));

function ok(t: Test, r: Request | DecodeError): Request {
  if (isDecodeError(r)) {
    t.fail(`unexpected decode error: ${r.message}`);
    throw new Error(r.message);
  }
  return r;
}
function err(t: Test, r: Request | DecodeError, errno: 'EINVAL' | 'ENOSYS', unique: number | undefined, re: RegExp): void {
  if (!isDecodeError(r)) {
    t.fail(`expected a decode error, got ${opcodeName(r.opcode)}`);
    return;
  }
  t.equal(r.kind, 'decode-error');
  t.equal(r.errno, errno, `errno for: ${r.message}`);
  t.equal(r.unique, unique, 'unique');
  t.match(r.message, re);
}

t.test('LOOKUP: header fields, name as string and exact bytes', async (t) => {
  const buf = req(Opcode.LOOKUP, cat('hello.txt\0'), { unique: 0x1_0000_0002, nodeid: 77 });
  const r = ok(t, decodeRequest(buf));
  t.equal(r.opcode, Opcode.LOOKUP);
  t.same(r.header, { len: 50, opcode: 1, unique: 0x1_0000_0002, nodeid: 77, uid: 1000, gid: 100, pid: 4242, totalExtlen: 0 });
  t.same(decodeInHeader(buf), r.header, 'decodeInHeader agrees');
  if (r.opcode !== Opcode.LOOKUP) return;
  t.equal(r.name, 'hello.txt');
  t.equal(r.nameBytes.toString(), 'hello.txt');

  // A non-UTF-8 name: the string is lossy, the bytes are exact.
  const raw = Buffer.from([0x66, 0xff, 0xfe, 0x41]);
  const r2 = ok(t, decodeRequest(req(Opcode.LOOKUP, cat(raw, '\0'))));
  if (r2.opcode !== Opcode.LOOKUP) return;
  t.ok(r2.nameBytes.equals(raw), 'nameBytes exact');
  t.equal(r2.name, raw.toString('utf8'));
});

t.test('names of RENAME2, SYMLINK, LINK, SETXATTR, GETXATTR', async (t) => {
  let r = ok(t, decodeRequest(req(Opcode.RENAME2, cat(u64(9), u32s(1, 0), 'old\0', 'new\0'))));
  t.match(r, { opcode: Opcode.RENAME2, newdir: 9, flags: 1, name: 'old', newName: 'new' });
  r = ok(t, decodeRequest(req(Opcode.RENAME, cat(u64(9), 'a\0', 'b\0'))));
  t.match(r, { opcode: Opcode.RENAME, newdir: 9, name: 'a', newName: 'b' });
  r = ok(t, decodeRequest(req(Opcode.SYMLINK, cat('link\0', '../target/path\0'))));
  t.match(r, { opcode: Opcode.SYMLINK, name: 'link', target: '../target/path' });
  r = ok(t, decodeRequest(req(Opcode.LINK, cat(u64(5), 'hard\0'))));
  t.match(r, { opcode: Opcode.LINK, oldnodeid: 5, name: 'hard' });
  // SETXATTR without FUSE_SETXATTR_EXT: 8-byte struct; the value may contain NULs.
  const value = Buffer.from([1, 0, 2, 0]);
  r = ok(t, decodeRequest(req(Opcode.SETXATTR, cat(u32s(4, 1), 'user.x\0', value))));
  t.match(r, { opcode: Opcode.SETXATTR, size: 4, flags: 1, setxattrFlags: 0, name: 'user.x' });
  if (r.opcode === Opcode.SETXATTR) t.ok(r.value.equals(value));
  // With SETXATTR_EXT negotiated: 16-byte struct.
  const ext: DecodeContext = { minor: 45, setxattrExt: true };
  r = ok(t, decodeRequest(req(Opcode.SETXATTR, cat(u32s(4, 1, 1, 0), 'user.x\0', value)), undefined, ext));
  t.match(r, { opcode: Opcode.SETXATTR, size: 4, flags: 1, setxattrFlags: 1, name: 'user.x' });
  r = ok(t, decodeRequest(req(Opcode.GETXATTR, cat(u32s(0, 0), 'security.capability\0'))));
  t.match(r, { opcode: Opcode.GETXATTR, size: 0, name: 'security.capability' });
});

t.test('WRITE: fields and data as a view without copying', async (t) => {
  const data = Buffer.from('0123456789');
  const body = cat(u64(3), u64(4096), u32s(10, 2), u64(0xdeadbeefcafef00dn), u32s(0x8001, 0), data);
  const buf = req(Opcode.WRITE, body);
  const r = ok(t, decodeRequest(buf));
  if (r.opcode !== Opcode.WRITE) return t.fail('not WRITE');
  t.match(r, { fh: 3, offset: 4096, size: 10, writeFlags: 2, flags: 0x8001 });
  t.equal(r.lockOwner, 0xdeadbeefcafef00dn, 'full 64-bit lock owner as bigint');
  t.ok(r.data.equals(data));
  buf[80] = 0x58;
  t.equal(r.data[0], 0x58, 'data shares memory with the read buffer');
});

t.test('read buffer longer than the request: explicit length', async (t) => {
  const one = req(Opcode.GETATTR, cat(u32s(1, 0), u64(12)));
  const big = Buffer.alloc(8192, 0xaa);
  one.copy(big);
  const r = ok(t, decodeRequest(big, one.length));
  t.match(r, { opcode: Opcode.GETATTR, getattrFlags: 1, fh: 12 });
  err(t, decodeRequest(big), 'EINVAL', 10, /len 56 disagrees with the 8192 bytes/);
});

t.test('malformed input is a decode error, never a throw', async (t) => {
  const good = req(Opcode.LOOKUP, cat('x\0'), { unique: 1234 });
  err(t, decodeRequest(Buffer.alloc(0)), 'EINVAL', undefined, /truncated header: 0 of 40/);
  err(t, decodeRequest(good.subarray(0, 7)), 'EINVAL', undefined, /truncated header/);
  const r8 = decodeRequest(good.subarray(0, 8)) as DecodeError;
  t.equal(r8.opcode, Opcode.LOOKUP, 'opcode read from 8 bytes');
  t.equal(r8.unique, undefined);
  err(t, decodeRequest(good.subarray(0, 16)), 'EINVAL', 1234, /truncated header: 16 of 40/);
  err(t, decodeRequest(good.subarray(0, 39)), 'EINVAL', 1234, /truncated header/);
  err(t, decodeRequest(good, 400), 'EINVAL', undefined, /does not fit/);
  err(t, decodeRequest(good, -1), 'EINVAL', undefined, /does not fit/);
  err(t, decodeRequest(good, NaN), 'EINVAL', undefined, /does not fit/);
  // len disagrees with the buffer.
  err(t, decodeRequest(req(Opcode.LOOKUP, cat('x\0'), { len: 100, unique: 5 })), 'EINVAL', 5, /len 100 disagrees with the 42 bytes/);
  err(t, decodeRequest(good.subarray(0, 41)), 'EINVAL', 1234, /len 42 disagrees/);
  // Unknown opcodes.
  for (const op of [0, 7, 19, 54, 4095, 4097, 0xffffffff]) {
    const r = decodeRequest(req(op, [], { unique: 6 }));
    err(t, r, 'ENOSYS', 6, /unknown opcode/);
    t.equal((r as DecodeError).opcode, op);
  }
  // Names without their NUL.
  err(t, decodeRequest(req(Opcode.LOOKUP, cat('abc'), { unique: 8 })), 'EINVAL', 8, /LOOKUP: name 1 has no terminating NUL/);
  err(t, decodeRequest(req(Opcode.LOOKUP, [])), 'EINVAL', 10, /no terminating NUL/);
  err(t, decodeRequest(req(Opcode.RENAME, cat(u64(1), 'a\0', 'b'))), 'EINVAL', 10, /RENAME: name 2 has no terminating NUL/);
  // Bodies shorter than their struct.
  err(t, decodeRequest(req(Opcode.GETATTR, u32s(0, 0))), 'EINVAL', 10, /GETATTR: body of 8 bytes is shorter than its 16-byte struct/);
  err(t, decodeRequest(req(Opcode.WRITE, Buffer.alloc(30))), 'EINVAL', 10, /WRITE: body of 30 bytes is shorter than its 40-byte struct/);
  err(t, decodeRequest(req(Opcode.INIT, u32s(7))), 'EINVAL', 10, /INIT/);
  err(t, decodeRequest(req(Opcode.SETATTR, Buffer.alloc(87))), 'EINVAL', 10, /SETATTR/);
  // Sizes inside the body that overrun it.
  err(t, decodeRequest(req(Opcode.WRITE, cat(u64(1), u64(0), u32s(100, 0), u64(0), u32s(0, 0), 'short'))), 'EINVAL', 10, /WRITE size 100 exceeds the 5 data bytes/);
  err(t, decodeRequest(req(Opcode.SETXATTR, cat(u32s(9, 0), 'user.a\0', 'abc'))), 'EINVAL', 10, /SETXATTR value size 9/);
  err(t, decodeRequest(req(Opcode.IOCTL, cat(u64(1), u32s(0, 0), u64(0), u32s(4, 0)))), 'EINVAL', 10, /IOCTL in_size 4/);
  err(t, decodeRequest(req(Opcode.BATCH_FORGET, cat(u32s(0xffffffff, 0), u64(1), u64(1)))), 'EINVAL', 10, /BATCH_FORGET count/);
  err(t, decodeRequest(req(Opcode.REMOVEMAPPING, cat(u32s(2), u64(1), u64(1)))), 'EINVAL', 10, /REMOVEMAPPING count 2/);
  // Extensions longer than the body.
  err(t, decodeRequest(req(Opcode.MKDIR, cat(u32s(0o755, 0o22), 'd\0'), { extlen: 2 })), 'EINVAL', 10, /total_extlen 16 bytes exceeds the 10-byte body/);
  // Extensions eating into the struct.
  err(t, decodeRequest(req(Opcode.MKDIR, cat(u32s(0o755, 0o22), 'dir\0\0\0\0\0'), { extlen: 2 })), 'EINVAL', 10, /MKDIR/);
});

t.test('extensions: raw view and parsed', async (t) => {
  // secctx header {size 40, nr 1}, fuse_secctx {size 13}, "security.selinux\0"... use a short name.
  const ctx = Buffer.from('system_u:obj\0'); // 13 bytes of context
  const name = 'sec.x\0';
  const rec = 8 + name.length + ctx.length; // 27 -> padded to 32
  const secctx = Buffer.alloc(8 + 32);
  secctx.writeUInt32LE(40, 0);
  secctx.writeUInt32LE(1, 4);
  secctx.writeUInt32LE(ctx.length, 8);
  secctx.write(name, 16, 'latin1');
  ctx.copy(secctx, 16 + name.length);
  t.equal(rec, 27);
  const groups = u32s(16, 32, 1, 1000);
  const ext = cat(secctx, groups);
  const body = cat(u32s(0o100644, 0, 0o22, 0), 'file\0\0\0\0');
  // The body is padded to keep the extension 8-byte aligned, as the kernel does.
  const r = ok(t, decodeRequest(req(Opcode.MKNOD, cat(body, ext), { extlen: ext.length / 8 })));
  if (r.opcode !== Opcode.MKNOD) return t.fail('not MKNOD');
  t.equal(r.name, 'file');
  t.equal(r.mode, 0o100644);
  t.ok(r.extensions?.equals(ext), 'raw extensions');
  const parsed = parseExtensions(r.extensions!);
  t.same(parsed, [
    { type: 'secctx', contexts: [{ name: 'sec.x', value: ctx }] },
    { type: 'groups', groups: [1000] },
  ]);
  t.same(parseExtensions(Buffer.alloc(0)), []);
  t.same(parseExtensions(u32s(8, 0)), [{ type: 'secctx', contexts: [] }], 'no LSM: empty secctx header');
  t.same(parseExtensions(u32s(12, 77, 5)), [{ type: 'unknown', extType: 77, data: u32s(5) }]);
  t.type(parseExtensions(u32s(4, 32)), 'string', 'bad size');
  t.type(parseExtensions(u32s(16, 32, 9, 1)), 'string', 'group count overrun');
  t.type(parseExtensions(Buffer.from([1, 2, 3])), 'string', 'truncated');
});

t.test('older minors: compat struct sizes', async (t) => {
  const m8: DecodeContext = { minor: 8, setxattrExt: false };
  let r = ok(t, decodeRequest(req(Opcode.WRITE, cat(u64(1), u64(2), u32s(3, 0), 'abc')), undefined, m8));
  t.match(r, { opcode: Opcode.WRITE, fh: 1, offset: 2, size: 3, lockOwner: 0n, flags: 0 });
  if (r.opcode === Opcode.WRITE) t.equal(r.data.toString(), 'abc');
  r = ok(t, decodeRequest(req(Opcode.READ, cat(u64(1), u64(2), u32s(3, 0))), undefined, m8));
  t.match(r, { opcode: Opcode.READ, fh: 1, offset: 2, size: 3, flags: 0 });
  r = ok(t, decodeRequest(req(Opcode.GETATTR), undefined, m8));
  t.match(r, { opcode: Opcode.GETATTR, getattrFlags: 0, fh: 0 });
  const m11: DecodeContext = { minor: 11, setxattrExt: false };
  r = ok(t, decodeRequest(req(Opcode.MKNOD, cat(u32s(0o100600, 0), 'n\0')), undefined, m11));
  t.match(r, { opcode: Opcode.MKNOD, mode: 0o100600, umask: 0, name: 'n' });
  r = ok(t, decodeRequest(req(Opcode.CREATE, cat(u32s(2, 0o100600), 'c\0')), undefined, m11));
  t.match(r, { opcode: Opcode.CREATE, flags: 2, mode: 0o100600, umask: 0, openFlags: 0, name: 'c' });
});

t.test('INIT request: flags2 only with INIT_EXT, short bodies', async (t) => {
  const withoutExt = cat(u32s(7, 31, 65536, 0x0fffffff, 0x5fd), Buffer.alloc(44));
  let r = ok(t, decodeRequest(req(Opcode.INIT, withoutExt)));
  t.match(r, { opcode: Opcode.INIT, major: 7, minor: 31, maxReadahead: 65536, flags: 0x0fffffff, flags2: 0 });
  r = ok(t, decodeRequest(req(Opcode.INIT, u32s(7, 26, 131072, 0x3fff))));
  t.match(r, { opcode: Opcode.INIT, minor: 26, flags: 0x3fff, flags2: 0 }, '16-byte body of 7.6..7.35');
  r = ok(t, decodeRequest(req(Opcode.INIT, u32s(7, 5))));
  t.match(r, { opcode: Opcode.INIT, minor: 5, maxReadahead: 0, flags: 0 }, '8-byte body of 7.5');
  r = ok(t, decodeRequest(req(Opcode.CUSE_INIT, u32s(7, 45, 0, 1))));
  t.match(r, { opcode: Opcode.CUSE_INIT, major: 7, minor: 45, flags: 1 });
});

t.test('FUSE_UNIQUE_RESEND survives decode and encode', async (t) => {
  const buf = req(Opcode.GETATTR, cat(u32s(0, 0), u64(0)));
  buf.writeBigUInt64LE((1n << 63n) | 42n, 8);
  const r = ok(t, decodeRequest(buf));
  t.equal(r.header.unique, UNIQUE_RESEND + 42);
  t.ok(isResendUnique(r.header.unique));
  t.notOk(isResendUnique(42));
  const reply = encodeEmptyReply(r.header.unique);
  t.equal(reply.readBigUInt64LE(8), (1n << 63n) | 42n, 'reply carries bit 63 again');
  const intr = ok(t, decodeRequest(req(Opcode.INTERRUPT, u64((1n << 63n) | 42n), { unique: 43 })));
  t.match(intr, { opcode: Opcode.INTERRUPT, unique: UNIQUE_RESEND + 42 });
});

t.test('lock ranges: OFFSET_MAX round trips exactly', async (t) => {
  const lk = cat(u64(3), u64(0xfedcba9876543210n), u64(100), u64(0x7fffffffffffffffn), u32s(1, 999), u32s(0, 0));
  const r = ok(t, decodeRequest(req(Opcode.GETLK, lk)));
  if (r.opcode !== Opcode.GETLK) return t.fail('not GETLK');
  t.equal(r.owner, 0xfedcba9876543210n);
  t.same(r.lk, { start: 100, end: OFFSET_MAX, type: 1, pid: 999 });
  const reply = encodeLkReply(r.header.unique, r.lk);
  t.equal(reply.readBigUInt64LE(24), 0x7fffffffffffffffn, 'end written as OFFSET_MAX');
  t.equal(reply.readBigUInt64LE(16), 100n);
});

t.test('opcode table', async (t) => {
  const numeric = Object.values(Opcode).filter((v): v is number => typeof v === 'number');
  t.equal(OPCODE_TABLE.length, numeric.length, 'one row per opcode');
  for (const op of numeric) {
    const row = opcodeRow(op);
    t.equal(row?.opcode, op, `${Opcode[op]} has its row`);
    t.equal(row?.name, Opcode[op], 'debug name is the enum name');
  }
  t.same(OPCODE_TABLE.filter((r) => !r.reply).map((r) => r.name).sort(), ['BATCH_FORGET', 'FORGET', 'INTERRUPT', 'NOTIFY_REPLY']);
  t.equal(opcodeName(1), 'LOOKUP');
  t.equal(opcodeName(53), 'COPY_FILE_RANGE_64');
  t.equal(opcodeName(4096), 'CUSE_INIT');
  t.equal(opcodeName(7), 'OPCODE_7');
  t.equal(opcodeRow(Opcode.SYMLINK)?.names, 2);
  t.equal(opcodeRow(Opcode.LOOKUP)?.replyKind, 'entry');
  t.equal(opcodeRow(Opcode.READDIRPLUS)?.replyKind, 'direntplus');
  t.same(OPCODE_TABLE.filter((r) => r.keepsBuffer).map((r) => r.name).sort(), ['IOCTL', 'SETXATTR', 'WRITE']);
});

t.test('a row refuses the numbers a real kernel never sends', async (t) => {
  const implausible = (op: Opcode, body: Buffer): number => {
    const r = ok(t, decodeRequest(req(op, body)));
    return opcodeRow(op)!.implausible?.(r) ?? 0;
  };
  const read = (offset: bigint, size: number): Buffer => {
    const b = Buffer.alloc(L.fuse_read_in.size);
    b.writeBigUInt64LE(offset, L.fuse_read_in.off.offset);
    b.writeUInt32LE(size, L.fuse_read_in.off.size);
    return b;
  };
  t.equal(implausible(Opcode.READ, read(4096n, 4096)), 0, 'a plausible READ');
  t.equal(implausible(Opcode.READ, read(2n ** 60n, 4096)), Errno.EINVAL, 'an offset past 2^53');
  t.equal(implausible(Opcode.READDIR, read(0n, 64 * 1024 * 1024)), Errno.EINVAL, 'a 64 MiB READDIR');
  const cfr = Buffer.alloc(L.fuse_copy_file_range_in.size);
  cfr.writeBigUInt64LE(2n ** 64n - 1n, L.fuse_copy_file_range_in.off.len);
  const r = ok(t, decodeRequest(req(Opcode.COPY_FILE_RANGE, cfr)));
  t.equal(opcodeRow(Opcode.COPY_FILE_RANGE)!.implausible?.(r), 0, 'copy_file_range of SIZE_MAX is clamped, not refused');
  t.equal((r as { len: number }).len, 0x7ffff000);
  t.equal(opcodeRow(Opcode.LOOKUP)!.implausible, undefined, 'LOOKUP has nothing to check');
});

t.test('describeRequest', async (t) => {
  const r = ok(t, decodeRequest(req(Opcode.LOOKUP, cat('etc\0'), { unique: 4 })));
  t.equal(describeRequest(r), 'LOOKUP unique=4 nodeid=1 uid=1000 gid=100 pid=4242 name="etc"');
  const w = ok(t, decodeRequest(req(Opcode.WRITE, cat(u64(1), u64(0), u32s(2, 0), u64(255), u32s(0, 0), 'ab'))));
  t.match(describeRequest(w), /^WRITE .* fh=1 offset=0 size=2 writeFlags=0 lockOwner=0xff flags=0 data=<2 bytes>$/);
  const e = decodeRequest(req(99, [], { unique: 8 })) as DecodeError;
  t.equal(describeDecodeError(e), 'OPCODE_99 unique=8 decode error ENOSYS: unknown opcode 99');
});
