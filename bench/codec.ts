// Codec throughput: decodes and encodes a realistic request mix (LOOKUP, GETATTR, OPEN, READ,
// WRITE header, RELEASE, READDIRPLUS) and prints operations per second. The last line is
// `header decodes/s: N`, the rate of fuse_in_header decodes alone (the part every request pays).
// Rates are per second of this process's CPU time (user+sys), not wall time: on a shared 2-CPU
// machine wall time also counts the time other processes held the CPU, which moved these figures
// by 2x between runs; on an idle machine the two agree.
// Run: npm run bench:codec   (BENCH_SECONDS=n to change the time per measurement, default 1).
import {
  DirentPlusBuffer, Opcode, decodeInHeader, decodeRequest, encodeAttrReply, encodeDataReplyHeader,
  encodeEmptyReply, encodeEntryReply, encodeOpenReply, encodeWriteReply, isDecodeError,
} from '../src/protocol';
import type { Attr, EntryOut } from '../src/protocol';
import * as L from '../src/protocol/layouts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 1);

function request(opcode: Opcode, nodeid: number, body: Buffer, unique: number): Buffer {
  const buf = Buffer.alloc(L.fuse_in_header.size + body.length);
  L.fuse_in_header.layout.encode(
    { len: buf.length, opcode, unique, nodeid, uid: 1000, gid: 1000, pid: 4242, total_extlen: 0, padding: 0 },
    buf,
    0,
  );
  body.copy(buf, L.fuse_in_header.size);
  return buf;
}

function struct(def: { layout: { encode(v: object, b: Buffer, o: number): number }; size: number }, v: object, extra = 0): Buffer {
  const b = Buffer.alloc(def.size + extra);
  def.layout.encode(v, b, 0);
  return b;
}

// The mix: the WRITE carries 4 KiB of data after its header (decoded as a view, not copied).
const readIn = { fh: 7, offset: 65536, size: 131072, read_flags: 0, lock_owner: 0, flags: 0x8002, padding: 0 };
const writeBody = struct(L.fuse_write_in, { ...readIn, size: 4096, write_flags: 0 }, 4096);
const MIX: Buffer[] = [
  request(Opcode.LOOKUP, 1, Buffer.from('some-file-name.txt\0'), 2),
  request(Opcode.GETATTR, 42, struct(L.fuse_getattr_in, { getattr_flags: 0, dummy: 0, fh: 0 }), 4),
  request(Opcode.OPEN, 42, struct(L.fuse_open_in, { flags: 0x8002, open_flags: 0 }), 6),
  request(Opcode.READ, 42, struct(L.fuse_read_in, readIn), 8),
  request(Opcode.WRITE, 42, writeBody, 10),
  request(Opcode.RELEASE, 42, struct(L.fuse_release_in, { fh: 7, flags: 0x8002, release_flags: 0, lock_owner: 0 }), 12),
  request(Opcode.READDIRPLUS, 1, struct(L.fuse_read_in, { ...readIn, offset: 0, size: 4096 }), 14),
];

const attr: Attr = {
  ino: 42, size: 123456, blocks: 248, atime: 1700000000, mtime: 1700000000, ctime: 1700000000,
  atimensec: 1, mtimensec: 2, ctimensec: 3, mode: 0o100644, nlink: 1, uid: 1000, gid: 1000,
  rdev: 0, blksize: 4096, flags: 0,
};
const entry: EntryOut = { nodeid: 42, generation: 1, entryValid: 1, entryValidNsec: 0, attrValid: 1, attrValidNsec: 0, attr };

/** CPU time of this process in µs. */
function cpuNow(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Runs `fn` (which does `opsPerCall` operations) for about SECONDS of CPU; returns ops per CPU second. */
function measure(fn: () => number, opsPerCall: number): number {
  for (let i = 0; i < 20000; i++) fn(); // warm up the JIT
  let calls = 0;
  let sink = 0;
  const start = cpuNow();
  const deadline = start + SECONDS * 1e6;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 1000; i++) sink += fn();
    calls += 1000;
    now = cpuNow();
  }
  if (sink === -1) console.log(''); // keep `sink` observable so the work is not optimized away
  return Math.round((calls * opsPerCall) / ((now - start) / 1e6));
}

let k = 0;
const decodeMix = measure(() => {
  const r = decodeRequest(MIX[k++ % MIX.length]);
  return isDecodeError(r) ? 0 : r.header.unique;
}, 1);

const encodeMix = measure(() => {
  const u = k++;
  switch (u % 7) {
    case 0: return encodeEntryReply(u, entry).length;
    case 1: return encodeAttrReply(u, { attrValid: 1, attrValidNsec: 0, attr }).length;
    case 2: return encodeOpenReply(u, { fh: 7, openFlags: 0x80, backingId: 3 }).length;
    case 3: return encodeDataReplyHeader(u, 131072).length;
    case 4: return encodeWriteReply(u, 4096).length;
    case 5: return encodeEmptyReply(u).length;
    default: {
      const d = new DirentPlusBuffer(4096);
      for (let i = 0; i < 8; i++) d.add(`entry-${i}`, entry, i + 1);
      return d.reply(u).length;
    }
  }
}, 1);

// The replies of a stat (LOOKUP, GETATTR) and of an empty success: the per-request encoders
// alone, without the directory buffer that dominates the mix above.
const encodeSmall = measure(() => {
  const u = k++;
  switch (u % 3) {
    case 0: return encodeEntryReply(u, entry).length;
    case 1: return encodeAttrReply(u, { attrValid: 1, attrValidNsec: 0, attr }).length;
    default: return encodeEmptyReply(u).length;
  }
}, 1);

const roundTrip = measure(() => {
  const r = decodeRequest(MIX[k++ % MIX.length]);
  if (isDecodeError(r)) return 0;
  switch (r.opcode) {
    case Opcode.LOOKUP: return encodeEntryReply(r.header.unique, entry).length;
    case Opcode.GETATTR: return encodeAttrReply(r.header.unique, { attrValid: 1, attrValidNsec: 0, attr }).length;
    case Opcode.OPEN: return encodeOpenReply(r.header.unique, { fh: 7, openFlags: 0 }).length;
    case Opcode.READ: return encodeDataReplyHeader(r.header.unique, r.size).length;
    case Opcode.WRITE: return encodeWriteReply(r.header.unique, r.data.length).length;
    case Opcode.RELEASE: return encodeEmptyReply(r.header.unique).length;
    default: return encodeEmptyReply(r.header.unique).length;
  }
}, 1);

const headerDecodes = measure(() => decodeInHeader(MIX[k++ % MIX.length], 0).unique, 1);

console.log(`mix: ${MIX.map((b) => b.length).join('/')} bytes (LOOKUP/GETATTR/OPEN/READ/WRITE+4KiB/RELEASE/READDIRPLUS)`);
console.log(`request decodes/s: ${decodeMix}`);
console.log(`reply encodes/s: ${encodeMix}`);
console.log(`entry/attr/empty reply encodes/s: ${encodeSmall}`);
console.log(`decode+encode round trips/s: ${roundTrip}`);
console.log(`header decodes/s: ${headerDecodes}`);
