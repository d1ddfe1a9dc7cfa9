// Request bytes as the kernel writes them, and replies read back, for protocol-level session
// tests over a MemoryTransport.
import { Opcode } from '../../src/protocol/constants';

const IN_HEADER = 40;

export interface HeaderFields {
  unique: number;
  nodeid?: number;
  uid?: number;
  gid?: number;
  pid?: number;
}

/** fuse_in_header + body; `len` overrides the header's length field (to build lies). */
export function request(opcode: number, body: Buffer | number[], h: HeaderFields, len?: number): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const buf = Buffer.alloc(IN_HEADER + b.length);
  buf.writeUInt32LE(len ?? buf.length, 0);
  buf.writeUInt32LE(opcode, 4);
  buf.writeBigUInt64LE(BigInt(h.unique), 8);
  buf.writeBigUInt64LE(BigInt(h.nodeid ?? 1), 16);
  buf.writeUInt32LE(h.uid ?? 1000, 24);
  buf.writeUInt32LE(h.gid ?? 1000, 28);
  buf.writeUInt32LE(h.pid ?? 4242, 32);
  b.copy(buf, IN_HEADER);
  return buf;
}

/** The INIT offer measured on this machine's kernel (Linux 6.18), or an older one. */
export function initRequest(unique: number, offer: { major?: number; minor?: number; flags?: number; flags2?: number } = {}): Buffer {
  const body = Buffer.alloc(64);
  body.writeUInt32LE(offer.major ?? 7, 0);
  body.writeUInt32LE(offer.minor ?? 45, 4);
  body.writeUInt32LE(131072, 8);
  body.writeUInt32LE((offer.flags ?? 0x73fffffb) >>> 0, 12);
  body.writeUInt32LE((offer.flags2 ?? 0x5fd) >>> 0, 16);
  return request(Opcode.INIT, body, { unique, nodeid: 0 });
}

/** A request whose body is a name (LOOKUP, UNLINK …). */
export function nameRequest(opcode: number, unique: number, parent: number, name: string): Buffer {
  return request(opcode, Buffer.from(name + '\0'), { unique, nodeid: parent });
}

export function getattrRequest(unique: number, nodeid: number): Buffer {
  return request(Opcode.GETATTR, Buffer.alloc(16), { unique, nodeid });
}

export function writeRequest(unique: number, nodeid: number, fh: number, offset: number, data: Buffer): Buffer {
  const body = Buffer.alloc(40 + data.length);
  body.writeBigUInt64LE(BigInt(fh), 0);
  body.writeBigUInt64LE(BigInt(offset), 8);
  body.writeUInt32LE(data.length, 16);
  data.copy(body, 40);
  return request(Opcode.WRITE, body, { unique, nodeid });
}

export function interruptRequest(unique: number, target: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeBigUInt64LE(BigInt(target), 0);
  return request(Opcode.INTERRUPT, body, { unique, nodeid: 0 });
}

export function forgetRequest(unique: number, nodeid: number, nlookup: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeBigUInt64LE(BigInt(nlookup), 0);
  return request(Opcode.FORGET, body, { unique, nodeid });
}

export function batchForgetRequest(unique: number, items: [number, number][]): Buffer {
  const body = Buffer.alloc(8 + 16 * items.length);
  body.writeUInt32LE(items.length, 0);
  items.forEach(([nodeid, nlookup], i) => {
    body.writeBigUInt64LE(BigInt(nodeid), 8 + 16 * i);
    body.writeBigUInt64LE(BigInt(nlookup), 16 + 16 * i);
  });
  return request(Opcode.BATCH_FORGET, body, { unique, nodeid: 0 });
}

export function notifyReplyRequest(notifyUnique: number, nodeid: number, offset: number, data: Buffer): Buffer {
  const body = Buffer.alloc(40 + data.length);
  body.writeBigUInt64LE(BigInt(offset), 8);
  body.writeUInt32LE(data.length, 16);
  data.copy(body, 40);
  return request(Opcode.NOTIFY_REPLY, body, { unique: notifyUnique, nodeid });
}

export interface ParsedReply {
  len: number;
  /** 0 or a negative errno (a notify code for notifications). */
  error: number;
  unique: number;
  body: Buffer;
}

export function parseReply(buf: Buffer): ParsedReply {
  return {
    len: buf.readUInt32LE(0),
    error: buf.readInt32LE(4),
    unique: Number(buf.readBigUInt64LE(8)),
    body: buf.subarray(16),
  };
}
