// INIT: golden bytes from the live kernel (Linux 6.18 on these machines) and the negotiation rules.
import t, { type Test } from 'tap';
import {
  Opcode, decodeRequest, isDecodeError, negotiateInit, encodeInitReply, initOutSize,
  decodeInitFlags, encodeInitFlags, hasInitFlag, initFlagMask, INIT_FLAG_BITS,
} from '../src/protocol';
import type { InitOffer, InitRequest } from '../src/protocol';

// The INIT request Linux 6.18 sent to a server on this machine (104 bytes, read from /dev/fuse):
// unique 2, protocol 7.45, max_readahead 131072, flags 0x73fffffb, flags2 0x5fd.
const KERNEL_INIT_HEX =
  '680000001a000000020000000000000000000000000000000000000000000000000000000000000007000000' +
  '2d00000000000200fbffff73fd05000000000000000000000000000000000000000000000000000000000000' +
  '00000000000000000000000000000000';

// The reply that kernel accepted, enabling passthrough (FUSE_DEV_IOC_BACKING_OPEN then returned
// id 1): 80 bytes, minor 45, flags INIT_EXT|MAX_PAGES|BIG_WRITES, max_write 1 MiB, time_gran 1,
// max_pages 256, flags2 PASSTHROUGH, max_stack_depth 1.
const PASSTHROUGH_REPLY_HEX =
  '50000000000000000200000000000000' + // out_header: len 80, error 0, unique 2
  '070000002d00000000000200' + // major 7, minor 45, max_readahead 131072
  '20004040' + // flags 0x40400020
  '0000' + '0000' + // max_background, congestion_threshold
  '00001000' + // max_write 1048576
  '01000000' + // time_gran 1
  '0001' + '0000' + // max_pages 256, map_alignment 0
  '20000000' + // flags2 0x20 (FUSE_PASSTHROUGH)
  '01000000' + // max_stack_depth 1
  '0000' + '00'.repeat(22); // request_timeout, unused[11]

function kernelOffer(t: Test): InitRequest {
  const r = decodeRequest(Buffer.from(KERNEL_INIT_HEX, 'hex'));
  if (isDecodeError(r) || r.opcode !== Opcode.INIT) throw new Error('golden INIT did not decode');
  return r;
}

t.test('golden: the kernel INIT offer decodes', async (t) => {
  const buf = Buffer.from(KERNEL_INIT_HEX, 'hex');
  t.equal(buf.length, 104);
  const r = kernelOffer(t);
  t.same(r.header, { len: 104, opcode: 26, unique: 2, nodeid: 0, uid: 0, gid: 0, pid: 0, totalExtlen: 0 });
  t.same([r.major, r.minor, r.maxReadahead, r.flags, r.flags2], [7, 45, 131072, 0x73fffffb, 0x5fd]);
  const names = decodeInitFlags(r.flags, r.flags2);
  for (const n of ['FUSE_ASYNC_READ', 'FUSE_WRITEBACK_CACHE', 'FUSE_MAX_PAGES', 'FUSE_HANDLE_KILLPRIV_V2', 'FUSE_INIT_EXT', 'FUSE_PASSTHROUGH', 'FUSE_ALLOW_IDMAP', 'FUSE_REQUEST_TIMEOUT', 'FUSE_HAS_RESEND']) {
    t.ok(names.includes(n), `offers ${n}`);
  }
  for (const n of ['FUSE_FILE_OPS', 'FUSE_MAP_ALIGNMENT', 'FUSE_SUBMOUNTS', 'FUSE_INIT_RESERVED', 'FUSE_HAS_INODE_DAX', 'FUSE_OVER_IO_URING']) {
    t.notOk(names.includes(n), `does not offer ${n}`);
  }
});

t.test('golden: the reply enabling passthrough with max_stack_depth 1', async (t) => {
  const res = negotiateInit(kernelOffer(t), { maxWrite: 1024 * 1024, passthrough: true, maxStackDepth: 1 });
  t.equal(res.status, 'ok');
  t.same(res.warnings, []);
  t.equal(res.reply.toString('hex'), PASSTHROUGH_REPLY_HEX);
  t.equal(res.reply.length, 80);
  const n = res.negotiated!;
  t.equal(n.passthrough, true);
  t.equal(n.maxStackDepth, 1);
  t.equal(n.minor, 45);
  t.equal(n.maxWrite, 1024 * 1024);
  t.equal(n.maxPages, 256);
  t.same(n.flags.sort(), ['FUSE_BIG_WRITES', 'FUSE_INIT_EXT', 'FUSE_MAX_PAGES', 'FUSE_PASSTHROUGH']);
  t.same(n.decodeContext, { minor: 45, setxattrExt: false });
  t.same(res.initOut, {
    major: 7, minor: 45, maxReadahead: 131072, flags: 0x40400020, flags2: 0x20, maxBackground: 0,
    congestionThreshold: 0, maxWrite: 1048576, timeGran: 1, maxPages: 256, mapAlignment: 0,
    maxStackDepth: 1, requestTimeout: 0,
  });
  t.equal(encodeInitReply(2, res.initOut!).toString('hex'), PASSTHROUGH_REPLY_HEX, 'encodeInitReply agrees');
});

t.test('INIT flag table', async (t) => {
  t.equal(INIT_FLAG_BITS.FUSE_ASYNC_READ, 0);
  t.equal(INIT_FLAG_BITS.FUSE_WRITEBACK_CACHE, 16);
  t.equal(INIT_FLAG_BITS.FUSE_MAX_PAGES, 22);
  t.equal(INIT_FLAG_BITS.FUSE_INIT_EXT, 30);
  t.equal(INIT_FLAG_BITS.FUSE_SECURITY_CTX, 32);
  t.equal(INIT_FLAG_BITS.FUSE_PASSTHROUGH, 37);
  t.equal(INIT_FLAG_BITS.FUSE_REQUEST_TIMEOUT, 42);
  t.same(initFlagMask('FUSE_PASSTHROUGH'), { word: 'flags2', mask: 1 << 5 });
  t.same(initFlagMask('FUSE_INIT_EXT'), { word: 'flags', mask: 0x40000000 });
  t.same(initFlagMask('FUSE_INIT_RESERVED'), { word: 'flags', mask: 0x80000000 });
  t.same(encodeInitFlags(['FUSE_PASSTHROUGH', 'FUSE_INIT_EXT', 'FUSE_ASYNC_READ']), { flags: 0x40000001, flags2: 0x20 });
  t.ok(hasInitFlag({ flags: 0, flags2: 0x20 }, 'FUSE_PASSTHROUGH'));
  t.same(decodeInitFlags(0x80000004, 0x80000000), ['FUSE_FILE_OPS', 'FUSE_INIT_RESERVED', 'bit 63']);
  t.throws(() => encodeInitFlags(['FUSE_NOPE']), TypeError);
  // Every bit 0..42 has exactly one name.
  t.same(Object.values(INIT_FLAG_BITS).sort((a, b) => a - b), Array.from({ length: 43 }, (_, i) => i));
});

const OFFER_745: InitOffer = { unique: 2, major: 7, minor: 45, maxReadahead: 131072, flags: 0x73fffffb, flags2: 0x5fd };

t.test('old kernel 7.31 without INIT_EXT: no flags2, no passthrough', async (t) => {
  // A 7.31 kernel offers no INIT_EXT; whatever is in flags2 must be ignored.
  const offer: InitOffer = { unique: 4, major: 7, minor: 31, maxReadahead: 131072, flags: 0x03fffffb, flags2: 0xffffffff };
  const res = negotiateInit(offer, { flags: ['FUSE_ASYNC_READ', 'FUSE_SECURITY_CTX'], passthrough: true });
  t.equal(res.status, 'ok');
  const n = res.negotiated!;
  t.equal(n.minor, 31);
  t.equal(n.passthrough, false);
  t.equal(n.flagWords.flags2, 0);
  t.notOk(n.flags.includes('FUSE_INIT_EXT'));
  t.same(n.flags.sort(), ['FUSE_ASYNC_READ', 'FUSE_BIG_WRITES', 'FUSE_MAX_PAGES']);
  t.match(res.warnings.join('\n'), /no FUSE_INIT_EXT/);
  t.match(res.warnings.join('\n'), /FUSE_SECURITY_CTX not offered/);
  t.equal(res.reply.length, 16 + 64);
  t.equal(res.reply.readUInt32LE(16 + 4), 31, 'reply minor is the common one');
  t.equal(res.reply.readUInt32LE(16 + 32), 0, 'flags2 0 in the reply');
  t.equal(res.reply.readUInt32LE(16 + 36), 0, 'max_stack_depth 0 in the reply');
  t.equal(res.reply.readUInt32LE(16 + 12) & 0x40000000, 0, 'INIT_EXT not set');
});

t.test('kernel without passthrough offered', async (t) => {
  const res = negotiateInit({ ...OFFER_745, flags2: 0x5fd & ~0x20 }, { passthrough: true, writebackCache: true });
  const n = res.negotiated!;
  t.equal(n.passthrough, false);
  t.equal(n.flagWords.flags2 & 0x20, 0);
  t.equal(n.writebackCache, true, 'writeback stays when passthrough is not negotiated');
  t.equal(res.initOut!.maxStackDepth, 0);
  t.match(res.warnings.join('\n'), /does not offer FUSE_PASSTHROUGH/);
  t.ok(n.flags.includes('FUSE_INIT_EXT'), 'INIT_EXT still echoed');
});

t.test('passthrough requested with writeback cache: passthrough wins', async (t) => {
  const res = negotiateInit(OFFER_745, { passthrough: true, writebackCache: true, flags: ['FUSE_WRITEBACK_CACHE', 'FUSE_DO_READDIRPLUS'] });
  const n = res.negotiated!;
  t.equal(n.passthrough, true);
  t.equal(n.writebackCache, false);
  t.equal(n.flagWords.flags & (1 << 16), 0, 'WRITEBACK_CACHE not in the reply');
  t.ok(n.flags.includes('FUSE_DO_READDIRPLUS'));
  t.match(res.warnings.join('\n'), /WRITEBACK_CACHE refused/);
});

t.test('max_stack_depth out of range', async (t) => {
  for (const depth of [0, 3, 1.5, -1]) {
    const res = negotiateInit(OFFER_745, { passthrough: true, maxStackDepth: depth });
    t.equal(res.negotiated!.passthrough, false, `depth ${depth} refused`);
    t.equal(res.initOut!.flags2 & 0x20, 0);
    t.equal(res.initOut!.maxStackDepth, 0);
    t.match(res.warnings.join('\n'), /max_stack_depth/);
  }
  const res = negotiateInit(OFFER_745, { passthrough: true, maxStackDepth: 2 });
  t.equal(res.negotiated!.passthrough, true);
  t.equal(res.reply.readUInt32LE(16 + 36), 2, 'max_stack_depth at offset 36');
});

t.test('short replies for old minors', async (t) => {
  t.equal(initOutSize(4), 8);
  t.equal(initOutSize(5), 24);
  t.equal(initOutSize(22), 24);
  t.equal(initOutSize(23), 64);
  let res = negotiateInit({ unique: 2, major: 7, minor: 4, maxReadahead: 0, flags: 0xffff, flags2: 0 }, {});
  t.equal(res.reply.length, 16 + 8);
  t.equal(res.reply.readUInt32LE(0), 24, 'header len matches');
  t.same([res.reply.readUInt32LE(16), res.reply.readUInt32LE(20)], [7, 4]);
  t.equal(res.negotiated!.maxWrite, 4096, 'minor < 5: the kernel uses 4096');
  t.same(res.negotiated!.flags, [], 'minor < 6 sends no flags');
  res = negotiateInit({ unique: 2, major: 7, minor: 22, maxReadahead: 65536, flags: 0x3fff, flags2: 0 }, { maxWrite: 65536 });
  t.equal(res.reply.length, 16 + 24);
  t.equal(res.reply.readUInt32LE(16 + 20), 65536, 'max_write is the last field of the 24 bytes');
  t.equal(res.negotiated!.maxPages, 32, 'no MAX_PAGES before 7.28: 32 pages');
  res = negotiateInit({ unique: 2, major: 7, minor: 23, maxReadahead: 65536, flags: 0, flags2: 0 }, {});
  t.equal(res.reply.length, 16 + 64);
});

t.test('major mismatch', async (t) => {
  let res = negotiateInit({ unique: 6, major: 8, minor: 1, maxReadahead: 0, flags: 0, flags2: 0 }, { passthrough: true });
  t.equal(res.status, 'retry');
  t.equal(res.negotiated, null);
  t.equal(res.reply.length, 16 + 8);
  t.same([res.reply.readUInt32LE(0), res.reply.readInt32LE(4), res.reply.readUInt32LE(16), res.reply.readUInt32LE(20)], [24, 0, 7, 45]);
  res = negotiateInit({ unique: 6, major: 6, minor: 1, maxReadahead: 0, flags: 0, flags2: 0 }, {});
  t.equal(res.status, 'error');
  t.equal(res.reply.readInt32LE(4), -71, 'EPROTO');
});

t.test('MAX_PAGES, max_write, readahead, timeouts', async (t) => {
  let res = negotiateInit(OFFER_745, { maxWrite: 2 * 1024 * 1024 });
  t.equal(res.initOut!.maxPages, 512, 'asks for what max_write needs');
  t.equal(res.negotiated!.maxPages, 256, 'the kernel clamps to 256');
  t.match(res.warnings.join('\n'), /clamped by the kernel to 256/);
  res = negotiateInit(OFFER_745, { maxWrite: 65536 });
  t.notOk(res.negotiated!.flags.includes('FUSE_MAX_PAGES'), 'not needed for 16 pages');
  t.equal(res.negotiated!.maxPages, 32);
  res = negotiateInit(OFFER_745, { maxWrite: 1000 });
  t.equal(res.negotiated!.maxWrite, 4096, 'the kernel raises max_write to 4096');
  t.notOk(res.negotiated!.flags.includes('FUSE_BIG_WRITES'));
  res = negotiateInit(OFFER_745, { maxReadahead: 1 << 20 });
  t.equal(res.initOut!.maxReadahead, 131072, 'readahead capped by the offer');
  res = negotiateInit(OFFER_745, { maxReadahead: 4096, requestTimeout: 30, maxBackground: 64, congestionThreshold: 48, flags: ['FUSE_SETXATTR_EXT'] });
  t.equal(res.initOut!.maxReadahead, 4096);
  t.equal(res.initOut!.requestTimeout, 30);
  t.ok(res.negotiated!.flags.includes('FUSE_REQUEST_TIMEOUT'));
  t.same([res.initOut!.maxBackground, res.initOut!.congestionThreshold], [64, 48]);
  t.same(res.negotiated!.decodeContext, { minor: 45, setxattrExt: true });
  t.throws(() => negotiateInit(OFFER_745, { flags: ['FUSE_TYPO' as never] }), TypeError);
  res = negotiateInit(OFFER_745, { flags: ['FUSE_INIT_RESERVED'] });
  t.equal(res.initOut!.flags & 0x80000000, 0);
  t.match(res.warnings.join('\n'), /INIT_RESERVED/);
});

t.test('pure: same input, same output; the offer is not modified', async (t) => {
  const offer = { ...OFFER_745 };
  const want = { passthrough: true, flags: ['FUSE_ASYNC_READ'] as const };
  const a = negotiateInit(offer, { ...want, flags: [...want.flags] });
  const b = negotiateInit(offer, { ...want, flags: [...want.flags] });
  t.same(a, b);
  t.same(offer, OFFER_745);
});
