// Hostile input for the decoder and the session: random and mutated request bytes pushed
// through a MemoryTransport into a Session serving a real Loopback (on a directory the caller
// owns, ideally a small tmpfs so that a lucky FALLOCATE cannot fill a disk). Whatever arrives,
// every request that has a unique and expects an answer must get exactly one well-formed reply
// (header len = bytes, error 0 or a negative errno), nothing may be thrown out of the session,
// and no handler may fail with a non-errno error (the session logs those and answers EIO: a
// bug in the handler, not an answer). Used by test/fuzz-session.test.ts (a seeded subset) and
// by `npm run stress` (1,000,000 messages).
import { Opcode } from '../../src/protocol/constants';
import { decodeRequest } from '../../src/protocol/decode';
import { OPCODE_TABLE } from '../../src/protocol/opcodes';
import { Bridge } from '../../src/fs/bridge';
import { Loopback } from '../../src/fs/loopback';
import { MemoryTransport } from '../../src/kernel/memory-transport';
import { Session } from '../../src/kernel/session';
import { Rng } from './rng';
import { initRequest } from '../helpers/requests';

const IN_HEADER = 40;
const NO_REPLY = new Set<number>([Opcode.FORGET, Opcode.BATCH_FORGET, Opcode.INTERRUPT, Opcode.NOTIFY_REPLY]);
// DESTROY would end the filesystem for the rest of the run; it is sent once, last.
const ROWS = OPCODE_TABLE.filter((r) => r.opcode !== Opcode.DESTROY);
const ENTRY_REPLY = new Set<number>([Opcode.LOOKUP, Opcode.MKDIR, Opcode.MKNOD, Opcode.SYMLINK, Opcode.LINK, Opcode.CREATE]);
const OPEN_REPLY = new Set<number>([Opcode.OPEN, Opcode.OPENDIR]);
const FUSE_ENTRY_OUT = 128;

/** Names a hostile kernel could send: path separators, dot names, empty, too long, bytes that are not UTF-8. */
const HOSTILE_NAMES: Buffer[] = [
  '', '.', '..', '/', 'a/b', '../escape', '/etc/passwd', 'x'.repeat(255), 'x'.repeat(256), 'é'.repeat(128),
  'x'.repeat(5000),
].map((s) => Buffer.from(s));
HOSTILE_NAMES.push(Buffer.from([0xff, 0xfe, 0x2f, 0x2e]), Buffer.from([0xc3]));
const PLAIN_NAMES = ['a', 'b', 'c', 'd', 'dir', 'file', 'link', 'user.x', 'trusted.y', 'security.capability'].map((s) => Buffer.from(s));

const INTERESTING_32 = [0, 1, 2, 7, 8, 255, 4095, 4096, 4097, 65536, 131072, 1048576, 1048577, 0x7fffffff, 0x80000000, 0xffffffff];

export interface FuzzOptions {
  seed: number;
  /** Messages to push through the session. */
  count: number;
  /** The directory the loopback serves (its contents get trampled). */
  dir: string;
  /** Messages pushed before waiting for their replies. */
  batch?: number;
  /** How long a batch may wait for its replies before the missing ones are reported. */
  batchTimeoutMs?: number;
  progress?: (done: number) => void;
  /** Called after each message is pushed (for chasing a finding). */
  afterPush?: (buf: Buffer, loopback: Loopback) => void;
}

export interface FuzzResult {
  messages: number;
  /** Messages that needed an answer and got one. */
  answered: number;
  /** Messages that needed no answer (FORGET, INTERRUPT, NOTIFY_REPLY, shorter than a header's unique). */
  unanswerable: number;
  /** Replies per errno name ('OK' for success). */
  byError: Record<string, number>;
  /** Things that must not happen, each with a reproducing message in hex. */
  failures: string[];
  /** Handler failures the session answered EIO (a handler bug), by message, with a count. */
  handlerBugs: Record<string, number>;
}

function word32(rng: Rng): number {
  const r = rng.int(4);
  if (r === 0) return 0;
  if (r === 1) return rng.pick(INTERESTING_32);
  if (r === 2) return rng.int(64);
  return rng.u32();
}

/** A struct of `size` bytes made of interesting and random 32-bit words. */
function structBytes(rng: Rng, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let p = 0; p + 4 <= size; p += 4) b.writeUInt32LE(word32(rng), p);
  return b;
}

function nameBytes(rng: Rng): Buffer {
  const r = rng.int(10);
  if (r < 5) return rng.pick(PLAIN_NAMES);
  if (r < 8) return rng.pick(HOSTILE_NAMES);
  return Buffer.from(rng.bytes(rng.int(20)).map((c) => (c === 0 ? 0x41 : c)));
}

export class Fuzzer {
  readonly nodeids: number[] = [1];
  readonly fhs: number[] = [];
  constructor(private readonly rng: Rng) {}

  private nodeid(): number {
    const r = this.rng.int(10);
    if (r < 6) return this.rng.pick(this.nodeids);
    if (r < 7) return 0;
    if (r < 8) return this.rng.u32();
    return this.rng.int(100);
  }

  private fh(): number {
    if (this.fhs.length > 0 && this.rng.chance(0.7)) return this.rng.pick(this.fhs);
    return this.rng.chance(0.5) ? this.rng.int(50) : this.rng.u32();
  }

  /** One well-shaped request of a random opcode, fields random. */
  wellShaped(unique: number): Buffer {
    const rng = this.rng;
    const unknown = rng.chance(0.03);
    const row = rng.pick(ROWS);
    const opcode = unknown ? rng.pick([0, 54, 55, 99, 4095, 4096, 0xffffffff, rng.u32()]) : row.opcode;
    const structSize = unknown ? rng.int(64) : row.in === null ? 0 : row.in.size;
    const struct = structBytes(rng, structSize);
    // Most opcodes with a struct start it with fh (READ, WRITE, RELEASE, FSYNC, FLUSH, LK,
    // FALLOCATE, LSEEK ...); GETATTR and SETATTR have it at 8.
    if (structSize >= 8 && rng.chance(0.6)) struct.writeBigUInt64LE(BigInt(this.fh()), 0);
    if (structSize >= 16 && rng.chance(0.3)) struct.writeBigUInt64LE(BigInt(this.fh()), 8);
    if (!unknown && structSize >= 20 && (row.opcode === Opcode.READ || row.opcode === Opcode.READDIR || row.opcode === Opcode.READDIRPLUS) && rng.chance(0.5)) {
      struct.writeUInt32LE(rng.pick([0, 1, 4096, 131072, 1048576]), 16);
    }
    const parts: Buffer[] = [struct];
    const names = unknown ? 0 : row.names;
    for (let i = 0; i < names; i++) parts.push(nameBytes(rng), Buffer.from([0]));
    const op = unknown ? -1 : row.opcode;
    if (op === Opcode.WRITE || op === Opcode.SETXATTR || op === Opcode.IOCTL || unknown) {
      const n = rng.pick([0, 1, 100, 4096, 4097, rng.int(70000)]);
      const data = Buffer.alloc(n, 0x61);
      parts.push(data);
      if (op === Opcode.WRITE && structSize >= 20 && rng.chance(0.7)) struct.writeUInt32LE(n, 16);
      if (op === Opcode.SETXATTR && structSize >= 4 && rng.chance(0.7)) struct.writeUInt32LE(n, 0);
    }
    if (op === Opcode.BATCH_FORGET && structSize >= 4 && rng.chance(0.7)) {
      const n = rng.int(8);
      struct.writeUInt32LE(n, 0);
      for (let i = 0; i < n; i++) {
        const item = Buffer.alloc(16);
        item.writeBigUInt64LE(BigInt(this.nodeid()), 0);
        item.writeBigUInt64LE(BigInt(rng.pick([0, 1, 2, 1000, rng.u32()])), 8);
        parts.push(item);
      }
    }
    const body = Buffer.concat(parts);
    const buf = Buffer.alloc(IN_HEADER + body.length);
    buf.writeUInt32LE(buf.length, 0);
    buf.writeUInt32LE(opcode >>> 0, 4);
    buf.writeBigUInt64LE(BigInt(unique), 8);
    buf.writeBigUInt64LE(BigInt(this.nodeid()), 16);
    buf.writeUInt32LE(rng.pick([0, 1000, 65534, 0xffffffff]), 24);
    buf.writeUInt32LE(rng.pick([0, 1000, 65534]), 28);
    buf.writeUInt32LE(rng.int(100000), 32);
    body.copy(buf, IN_HEADER);
    return buf;
  }

  /** A well-shaped request, then (half the time) broken: truncated, extended, lying lengths, flipped bytes, lost NULs. */
  message(unique: number): Buffer {
    const rng = this.rng;
    let buf = this.wellShaped(unique);
    if (rng.chance(0.5)) return sanitize(buf);
    const mutations = rng.range(1, 3);
    for (let m = 0; m < mutations; m++) {
      switch (rng.int(9)) {
        case 0: // truncated anywhere, the header included
          buf = buf.subarray(0, rng.int(buf.length + 1));
          break;
        case 1: // trailing garbage the header does not count
          buf = Buffer.concat([buf, rng.bytes(rng.range(1, 64))]);
          break;
        case 2: // the len field lies
          if (buf.length >= 4) buf.writeUInt32LE(rng.chance(0.5) ? word32(rng) : Math.max(0, buf.length + rng.range(-8, 8)), 0);
          break;
        case 3: // random bytes flipped
          for (let i = rng.range(1, 8); i > 0 && buf.length > 0; i--) buf[rng.int(buf.length)] = rng.int(256);
          break;
        case 4: // every NUL after the header gone: names run to the end
          for (let i = IN_HEADER; i < buf.length; i++) if (buf[i] === 0) buf[i] = 0x2f;
          break;
        case 5: // total_extlen (in 8-byte units) set
          if (buf.length >= 38) buf.writeUInt16LE(rng.chance(0.5) ? rng.int(8) : rng.int(65536), 36);
          break;
        case 6: // an opcode from another row or none
          if (buf.length >= 8) buf.writeUInt32LE(rng.chance(0.8) ? rng.pick(ROWS).opcode : rng.u32(), 4);
          break;
        case 7: // header only
          buf = buf.subarray(0, Math.min(buf.length, IN_HEADER));
          break;
        case 8: // the body of a bigger struct cut to a smaller one
          buf = buf.subarray(0, Math.max(IN_HEADER, buf.length - rng.range(1, 16)));
          break;
      }
      // Mutations that cut a buffer keep the len field consistent half the time, so the decoder
      // sees short bodies and not only a disagreeing len.
      if (buf.length >= 4 && rng.chance(0.5)) buf.writeUInt32LE(buf.length, 0);
    }
    buf = Buffer.from(buf);
    if (buf.length >= 16) buf.writeBigUInt64LE(BigInt(unique), 8);
    return sanitize(buf);
  }
}

/** Takes out what would harm the machine or end the run rather than test the server. */
function sanitize(buf: Buffer): Buffer {
  // A flipped byte can make a DESTROY, which ends the filesystem for the rest of the run
  // (what follows a DESTROY is tested on its own in test/fuzz-session.test.ts).
  if (buf.length >= 8 && buf.readUInt32LE(4) === Opcode.DESTROY) buf.writeUInt32LE(Opcode.GETATTR, 4);
  // MKNOD makes only regular files: the loopback runs as root, and a device node with a random
  // rdev followed by OPEN/WRITE could reach a real device; a FIFO blocks the server's open()
  // forever (a finding, reproduced on its own in test/fuzz-fifo.test.ts).
  if (buf.length >= IN_HEADER + 4 && buf.readUInt32LE(4) === Opcode.MKNOD) {
    const mode = buf.readUInt32LE(IN_HEADER);
    buf.writeUInt32LE(((mode & ~0o170000) | 0o100000) >>> 0, IN_HEADER);
  }
  return buf;
}

/** Whether the session owes the kernel a reply for these bytes (the decoder's rule, restated). */
function expectsReply(buf: Buffer): boolean {
  if (buf.length < 16) return false;
  return !NO_REPLY.has(buf.readUInt32LE(4));
}

/** Errno names by number, for the tally. */
const ERRNO_NAMES: Record<number, string> = (() => {
  const out: Record<number, string> = {};
  const c = require('node:os').constants.errno as Record<string, number>;
  for (const [name, n] of Object.entries(c)) out[n] ??= name;
  return out;
})();

/** The decoder alone: `count` messages, never a throw, errors only EINVAL/ENOSYS, the unique kept. */
export function fuzzDecoder(seed: number, count: number): { messages: number; decoded: number; rejected: number; failures: string[] } {
  const fz = new Fuzzer(new Rng(seed));
  const failures: string[] = [];
  let decoded = 0;
  let rejected = 0;
  for (let i = 0; i < count; i++) {
    const unique = 2 * i + 2;
    const buf = fz.message(unique);
    let r;
    try {
      r = decodeRequest(buf, buf.length);
    } catch (err) {
      failures.push(`decodeRequest threw ${(err as Error).message} on ${buf.toString('hex')}`);
      continue;
    }
    if ('kind' in r) {
      rejected++;
      if (r.errno !== 'EINVAL' && r.errno !== 'ENOSYS') failures.push(`errno ${r.errno} on ${buf.toString('hex')}`);
      if (buf.length >= 16 && r.unique !== unique) failures.push(`lost the unique of ${buf.toString('hex')}`);
    } else {
      decoded++;
      if (r.header.unique !== unique) failures.push(`wrong unique in ${buf.toString('hex')}`);
    }
    if (failures.length > 20) break;
  }
  return { messages: count, decoded, rejected, failures };
}

/** The session over a MemoryTransport serving a Loopback of `dir`, fed `count` hostile messages. */
export async function fuzzSession(o: FuzzOptions): Promise<FuzzResult> {
  const rng = new Rng(o.seed);
  const fz = new Fuzzer(rng);
  const batch = o.batch ?? 256;
  const timeout = o.batchTimeoutMs ?? 20000;
  const failures: string[] = [];
  const handlerBugs: Record<string, number> = {};
  const byError: Record<string, number> = {};
  const tr = new MemoryTransport();
  const loopback = new Loopback(o.dir, { maxInodeFds: 1000 });
  const session = new Session(tr, new Bridge(loopback), {
    log: (line) => {
      const key = line.replace(/unique \d+/, 'unique N').replace(/\d{3,}/g, 'N');
      handlerBugs[key] = (handlerBugs[key] ?? 0) + 1;
    },
  });
  const onCrash = (err: unknown): void => {
    failures.push(`uncaught: ${(err as Error)?.stack ?? err}`);
  };
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  let answered = 0;
  let unanswerable = 0;
  let messages = 0;
  try {
    session.start();
    tr.push(initRequest(1));
    await session.ready;
    tr.replies.length = 0;
    let unique = 2;
    /** unique → the request bytes, while its reply is owed. */
    const pending = new Map<number, Buffer>();
    const answeredOnce = new Set<number>();
    const check = (reply: Buffer): void => {
      if (reply.length < 16) {
        failures.push(`reply shorter than a header: ${reply.toString('hex')}`);
        return;
      }
      const len = reply.readUInt32LE(0);
      const error = reply.readInt32LE(4);
      const u = Number(reply.readBigUInt64LE(8));
      const req = pending.get(u);
      if (req === undefined) {
        failures.push(`${answeredOnce.has(u) ? 'second' : 'unexpected'} reply to unique ${u}`);
        return;
      }
      pending.delete(u);
      answeredOnce.add(u);
      answered++;
      if (len !== reply.length) failures.push(`reply len ${len} ≠ ${reply.length} bytes, to ${req.toString('hex')}`);
      if (error > 0 || error < -4095) failures.push(`reply error ${error} to ${req.toString('hex')}`);
      if (error < 0 && reply.length !== 16) failures.push(`error reply with a body to ${req.toString('hex')}`);
      const name = error === 0 ? 'OK' : ERRNO_NAMES[-error] ?? String(error);
      byError[name] = (byError[name] ?? 0) + 1;
      if (error !== 0) return;
      // Learn the nodeids and file handles the filesystem handed out, so later messages hit
      // live inodes and open files and not only unknown ones.
      const op = req.readUInt32LE(4);
      if (ENTRY_REPLY.has(op) && reply.length >= 24) {
        const nodeid = Number(reply.readBigUInt64LE(16));
        if (nodeid !== 0 && fz.nodeids.length < 500) fz.nodeids.push(nodeid);
      }
      if (OPEN_REPLY.has(op) && reply.length >= 24 && fz.fhs.length < 200) fz.fhs.push(Number(reply.readBigUInt64LE(16)));
      if ((op === Opcode.CREATE || op === Opcode.TMPFILE) && reply.length >= 16 + FUSE_ENTRY_OUT + 8 && fz.fhs.length < 200) {
        fz.fhs.push(Number(reply.readBigUInt64LE(16 + FUSE_ENTRY_OUT)));
      }
    };
    let seen = 0;
    const drain = (): void => {
      for (; seen < tr.replies.length; seen++) check(tr.replies[seen]);
    };
    while (messages < o.count && failures.length < 50) {
      const n = Math.min(batch, o.count - messages);
      for (let i = 0; i < n; i++) {
        unique += 2;
        const buf = fz.message(unique);
        if (expectsReply(buf)) pending.set(unique, buf);
        else unanswerable++;
        try {
          tr.push(buf);
          o.afterPush?.(buf, loopback);
        } catch (err) {
          failures.push(`the session threw ${(err as Error).stack} on ${buf.toString('hex')}`);
          pending.delete(unique);
        }
        messages++;
      }
      drain();
      const deadline = Date.now() + timeout;
      let interrupted = false;
      while (pending.size > 0 && Date.now() < deadline) {
        // A SETLKW may rightly wait for a lock an earlier SETLK took under another owner; the
        // kernel would INTERRUPT it when its caller gives up, and so does this harness.
        if (!interrupted && Date.now() > deadline - timeout / 2) {
          interrupted = true;
          for (const [u, req] of pending) {
            if (req.length < 8 || req.readUInt32LE(4) !== Opcode.SETLKW) continue;
            const body = Buffer.alloc(8);
            body.writeBigUInt64LE(BigInt(u), 0);
            const intr = Buffer.alloc(IN_HEADER + 8);
            intr.writeUInt32LE(intr.length, 0);
            intr.writeUInt32LE(Opcode.INTERRUPT, 4);
            intr.writeBigUInt64LE(BigInt((unique += 2)), 8);
            body.copy(intr, IN_HEADER);
            tr.push(intr);
          }
        }
        await Promise.race([tr.waitReplies(tr.replies.length + 1), new Promise((r) => setTimeout(r, 50))]);
        drain();
      }
      for (const [u, req] of pending) {
        failures.push(`no reply within ${timeout} ms to unique ${u}: ${req.subarray(0, 200).toString('hex')}`);
        answeredOnce.add(u);
      }
      pending.clear();
      tr.replies.length = 0;
      seen = 0;
      o.progress?.(messages);
    }
    if (tr.kept.size !== 0) failures.push(`${tr.kept.size} request buffers kept after every reply went out`);
  } finally {
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
    session.close();
    await session.closed;
  }
  return { messages, answered, unanswerable, byError, failures, handlerBugs };
}
