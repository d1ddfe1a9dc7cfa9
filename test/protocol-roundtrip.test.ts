// Byte-level round trips for every struct, with buffer-layout's generic encode/decode as the
// independent reference for the hot-path accessors (which use offsets derived from the same
// layouts, but hand-written widths and field choices), plus the randomized decoder test.
import t, { type Test } from 'tap';
import {
  Opcode, OPCODE_TABLE, decodeRequest, isDecodeError, encodeEntryReply, encodeAttrReply,
  encodeOpenReply, encodeCreateReply, encodeWriteReply, encodeStatfsReply, encodeXattrSizeReply,
  encodeLkReply, encodeBmapReply, encodePollReply, encodeLseekReply, encodeIoctlReply,
  encodeStatxReply, encodeInitReply, encodeCuseInitReply, encodeCopyFileRange64Reply,
  encodeNotifyInvalInode, encodeNotifyInvalEntry, encodeNotifyDelete, encodeNotifyStoreHeader,
  encodeNotifyRetrieve, encodeNotifyPoll, encodeNotifyPrune, encodeBackingMap, DirentBuffer,
  DirentPlusBuffer, NotifyCode,
} from '../src/protocol';
import type { DecodeContext, DecodeError, Request, EntryOut, Attr, Statx, InitOut } from '../src/protocol';
import * as L from '../src/protocol/layouts';
import type { FieldSpec, StructDef } from '../src/protocol/layouts';

// ---- deterministic randomness -----------------------------------------------------------------

const SEED = Number(process.env.PROTOCOL_SEED ?? 0x5eed1234);
function mulberry32(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
let rnd = mulberry32(SEED);
const int = (n: number): number => Math.floor(rnd() * n);
const u32 = (): number => int(2 ** 32);
/** Random u64 below 2**52 so it survives the number representation (and the resend mapping). */
const u64 = (): number => int(2 ** 20) * 2 ** 32 + u32();
const s64 = (): number => (rnd() < 0.5 ? -1 : 1) * (int(2 ** 20) * 2 ** 32 + u32());

function randomScalar(s: string): number {
  switch (s) {
    case 'u8': return int(256);
    case 'u16': return int(65536);
    case 'u32': return u32();
    case 's32': return u32() | 0;
    case 'u64': return u64();
    case 's64': return s64();
  }
  throw new Error(s);
}

/** Random field values (snake_case) for a struct, in the shape buffer-layout encodes. */
function randomStruct(def: StructDef<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries<FieldSpec>(def.fields)) {
    if (typeof spec === 'string') out[name] = randomScalar(spec);
    else if (Array.isArray(spec)) out[name] = Array.from({ length: spec[1] as number }, () => randomScalar(spec[0] as string));
    else out[name] = randomStruct(spec as StructDef<string>);
  }
  return out;
}

const camel = (s: string): string => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const PAD = /^(padding|dummy\d*|unused\d*|reserved|spare\d*|__\w+)$/;

/** Every non-padding field of `def` in `raw` (layout form) equals the camelCase field of `typed`. */
function sameStruct(tt: Test, def: StructDef<string>, raw: Record<string, unknown>, typed: Record<string, unknown>, buf: Buffer, at: number, path: string): void {
  for (const [name, spec] of Object.entries<FieldSpec>(def.fields)) {
    if (PAD.test(name)) continue;
    const key = camel(name);
    // BATCH_FORGET / REMOVEMAPPING expose `count` as the length of their array (checked below).
    if (name === 'count' && !(key in typed)) continue;
    const actual = typed[key];
    if (typeof spec === 'object' && !Array.isArray(spec)) {
      const inner = spec as StructDef<string>;
      sameStruct(tt, inner, raw[name] as Record<string, unknown>, actual as Record<string, unknown>, buf, at + def.off[name], `${path}.${name}`);
    } else if (typeof actual === 'bigint') {
      tt.equal(actual, buf.readBigUInt64LE(at + def.off[name]), `${path}.${name} (bigint)`);
    } else {
      tt.equal(actual, raw[name], `${path}.${name}`);
    }
  }
}

// ---- request builder --------------------------------------------------------------------------

function randomName(): Buffer {
  const n = 1 + int(24);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = 1 + int(255); // any byte but NUL, so also non-UTF-8
  return b;
}

interface Built {
  buf: Buffer;
  raw: Record<string, unknown>;
  names: Buffer[];
  payload: Buffer;
  ext: Buffer;
}

/** A valid request for `op`: header + random struct + names + payload (+ extensions). */
function build(op: Opcode, opts: { ext?: boolean } = {}): Built {
  const row = OPCODE_TABLE.find((r) => r.opcode === op)!;
  const raw = row.in ? randomStruct(row.in) : {};
  const names = Array.from({ length: row.names }, randomName);
  let payload: Buffer = Buffer.alloc(0);
  const payloadOf = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
  switch (op) {
    case Opcode.WRITE: payload = payloadOf(int(64)); raw.size = payload.length; break;
    case Opcode.SETXATTR: payload = payloadOf(int(64)); raw.size = payload.length; break;
    case Opcode.IOCTL: payload = payloadOf(int(64)); raw.in_size = payload.length; break;
    case Opcode.NOTIFY_REPLY: payload = payloadOf(int(64)); raw.size = payload.length; break;
    case Opcode.BATCH_FORGET: {
      const n = int(5);
      raw.count = n;
      payload = Buffer.alloc(n * 16);
      for (let i = 0; i < n; i++) L.fuse_forget_one.layout.encode({ nodeid: u64(), nlookup: u64() }, payload, i * 16);
      break;
    }
    case Opcode.REMOVEMAPPING: {
      const n = int(5);
      raw.count = n;
      payload = Buffer.alloc(n * 16);
      for (let i = 0; i < n; i++) L.fuse_removemapping_one.layout.encode({ moffset: u64(), len: u64() }, payload, i * 16);
      break;
    }
    case Opcode.INIT: raw.flags = ((raw.flags as number) | (1 << 30)) >>> 0; break; // INIT_EXT: flags2 is read
    case Opcode.INTERRUPT: break;
  }
  const structBytes = Buffer.alloc(row.in ? row.in.size : 0);
  if (row.in) row.in.layout.encode(raw, structBytes, 0);
  const nameBytes = Buffer.concat(names.flatMap((n) => [n, Buffer.from([0])]));
  // An extension area: a supplementary-groups extension, 8-byte aligned.
  const ext = opts.ext ? Buffer.from([16, 0, 0, 0, 32, 0, 0, 0, 1, 0, 0, 0, 0xe8, 0x03, 0, 0]) : Buffer.alloc(0);
  const len = L.fuse_in_header.size + structBytes.length + nameBytes.length + payload.length + ext.length;
  const buf = Buffer.alloc(len);
  const header = {
    len, opcode: op, unique: u64(), nodeid: u64(), uid: u32(), gid: u32(), pid: u32(),
    total_extlen: ext.length / 8, padding: 0,
  };
  L.fuse_in_header.layout.encode(header, buf, 0);
  Buffer.concat([structBytes, nameBytes, payload, ext]).copy(buf, L.fuse_in_header.size);
  return { buf, raw: { header, ...raw }, names, payload, ext };
}

const CTX: DecodeContext = { minor: 45, setxattrExt: true };

t.test('every opcode decodes what buffer-layout encoded', async (t) => {
  for (const row of OPCODE_TABLE) {
    for (let i = 0; i < 20; i++) {
      const b = build(row.opcode as Opcode);
      const r = decodeRequest(b.buf, b.buf.length, CTX);
      if (isDecodeError(r)) {
        t.fail(`${row.name}: ${r.message}`);
        break;
      }
      t.equal(r.opcode, row.opcode, `${row.name} opcode`);
      const h = b.raw.header as Record<string, number>;
      t.same(r.header, {
        len: h.len, opcode: h.opcode, unique: h.unique, nodeid: h.nodeid, uid: h.uid, gid: h.gid,
        pid: h.pid, totalExtlen: 0,
      }, `${row.name} header`);
      const typed = r as unknown as Record<string, unknown>;
      if (row.in && row.opcode !== Opcode.INIT) {
        sameStruct(t, row.in, b.raw, typed, b.buf, L.fuse_in_header.size, row.name);
      }
      // Names: exact bytes, strings as UTF-8.
      const nameKeys = row.opcode === Opcode.SYMLINK ? ['nameBytes', 'targetBytes'] : ['nameBytes', 'newNameBytes'];
      b.names.forEach((n, k) => {
        const got = typed[nameKeys[k]] as Buffer;
        t.ok(got.equals(n), `${row.name} name ${k} bytes`);
        t.equal(typed[nameKeys[k].replace('Bytes', '')], n.toString('utf8'), `${row.name} name ${k} string`);
      });
      const data = (typed.data ?? typed.value) as Buffer | undefined;
      if (b.payload.length && data) {
        t.ok(data.equals(b.payload), `${row.name} payload`);
        t.equal(data.buffer, b.buf.buffer, `${row.name} payload is a view`);
      }
      // keepsBuffer tells the session to hold the read buffer until the reply: it must be set on
      // every row whose request hands the filesystem a view into it. Extensions are views too,
      // but no handler reads them; the session copies NOTIFY_REPLY's data before it returns.
      if (i === 0) {
        const views = Object.entries(typed).filter(([k, v]) => Buffer.isBuffer(v) && k !== 'extensions' && v.buffer === b.buf.buffer);
        t.equal(row.keepsBuffer === true, views.length > 0 && row.opcode !== Opcode.NOTIFY_REPLY, `${row.name} keepsBuffer`);
      }
      // The names are the request's own: the next read into the buffer does not change them.
      b.buf.fill(0xff);
      b.names.forEach((n, k) => t.ok((typed[nameKeys[k]] as Buffer).equals(n), `${row.name} name ${k} is a copy`));
      if (row.opcode === Opcode.INIT) {
        const raw = b.raw as Record<string, number>;
        t.same(
          [typed.major, typed.minor, typed.maxReadahead, typed.flags, typed.flags2],
          [raw.major, raw.minor, raw.max_readahead, raw.flags, raw.flags2],
          'INIT fields',
        );
      }
    }
  }
  // Count-prefixed arrays.
  const bf = build(Opcode.BATCH_FORGET);
  const r = decodeRequest(bf.buf) as Request;
  t.equal(r.opcode, Opcode.BATCH_FORGET);
  if (r.opcode === Opcode.BATCH_FORGET) {
    t.equal(r.forgets.length, bf.raw.count);
    r.forgets.forEach((f, i) => t.same(f, L.fuse_forget_one.layout.decode(bf.payload, i * 16)));
  }
  const rm = build(Opcode.REMOVEMAPPING);
  const r2 = decodeRequest(rm.buf) as Request;
  if (r2.opcode === Opcode.REMOVEMAPPING) {
    r2.mappings.forEach((m, i) => t.same(m, L.fuse_removemapping_one.layout.decode(rm.payload, i * 16)));
  } else t.fail('REMOVEMAPPING');
});

t.test('extensions after the body are skipped and exposed raw', async (t) => {
  for (const op of [Opcode.CREATE, Opcode.MKNOD, Opcode.MKDIR, Opcode.SYMLINK, Opcode.TMPFILE, Opcode.LOOKUP]) {
    const b = build(op, { ext: true });
    const r = decodeRequest(b.buf, undefined, CTX);
    if (isDecodeError(r)) {
      t.fail(r.message);
      continue;
    }
    t.equal(r.header.totalExtlen, 2);
    t.equal((r as { nameBytes: Buffer }).nameBytes.toString('hex'), b.names[0].toString('hex'), `${Opcode[op]} name unaffected`);
    if ('extensions' in r) t.ok(r.extensions?.equals(b.ext), `${Opcode[op]} extensions raw`);
  }
});

// ---- replies: our encoders against buffer-layout's decode -------------------------------------

function randomAttr(): Attr {
  return camelize(randomStruct(L.fuse_attr)) as unknown as Attr;
}
function camelize(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    out[camel(k)] = v !== null && typeof v === 'object' && !Array.isArray(v) ? camelize(v as Record<string, unknown>) : v;
  }
  return out;
}
function checkHeader(t: Test, buf: Buffer, unique: number, error = 0): void {
  t.same(L.fuse_out_header.layout.decode(buf, 0), { len: buf.length, error, unique }, 'out_header');
}

t.test('reply structs round trip', async (t) => {
  for (let i = 0; i < 50; i++) {
    const unique = u64();
    const entryRaw = randomStruct(L.fuse_entry_out);
    const entry = camelize(entryRaw) as unknown as EntryOut;
    let buf = encodeEntryReply(unique, entry);
    checkHeader(t, buf, unique);
    t.equal(buf.length, 16 + 128);
    sameStruct(t, L.fuse_entry_out, L.fuse_entry_out.layout.decode(buf, 16), entry as unknown as Record<string, unknown>, buf, 16, 'entry_out');

    const attrOut = { attrValid: u64(), attrValidNsec: u32(), attr: randomAttr() };
    buf = encodeAttrReply(unique, attrOut);
    checkHeader(t, buf, unique);
    t.equal(buf.length, 16 + 104);
    sameStruct(t, L.fuse_attr_out, L.fuse_attr_out.layout.decode(buf, 16), attrOut, buf, 16, 'attr_out');
    t.equal(buf.readUInt32LE(16 + L.fuse_attr_out.off.dummy), 0, 'attr_out padding zeroed');

    const open = { fh: u64(), openFlags: u32(), backingId: u32() | 0 };
    buf = encodeOpenReply(unique, open);
    checkHeader(t, buf, unique);
    sameStruct(t, L.fuse_open_out, L.fuse_open_out.layout.decode(buf, 16), open, buf, 16, 'open_out');

    buf = encodeCreateReply(unique, entry, open);
    checkHeader(t, buf, unique);
    t.equal(buf.length, 16 + 128 + 16);
    sameStruct(t, L.fuse_entry_out, L.fuse_entry_out.layout.decode(buf, 16), entry as unknown as Record<string, unknown>, buf, 16, 'create entry');
    sameStruct(t, L.fuse_open_out, L.fuse_open_out.layout.decode(buf, 144), open, buf, 144, 'create open');

    const n = u32();
    t.same(L.fuse_write_out.layout.decode(encodeWriteReply(unique, n), 16), { size: n, padding: 0 }, 'write_out');
    t.same(L.fuse_getxattr_out.layout.decode(encodeXattrSizeReply(unique, n), 16), { size: n, padding: 0 }, 'getxattr_out');
    t.same(L.fuse_poll_out.layout.decode(encodePollReply(unique, n), 16), { revents: n, padding: 0 }, 'poll_out');
    const big = u64();
    t.same(L.fuse_bmap_out.layout.decode(encodeBmapReply(unique, big), 16), { block: big }, 'bmap_out');
    t.same(L.fuse_lseek_out.layout.decode(encodeLseekReply(unique, big), 16), { offset: big }, 'lseek_out');
    t.same(L.fuse_copy_file_range_out.layout.decode(encodeCopyFileRange64Reply(unique, big), 16), { bytes_copied: big }, 'copy_file_range_out');

    const stRaw = randomStruct(L.fuse_kstatfs);
    const st = camelize(stRaw) as never;
    buf = encodeStatfsReply(unique, st);
    t.equal(buf.length, 16 + 80);
    sameStruct(t, L.fuse_kstatfs, L.fuse_kstatfs.layout.decode(buf, 16), st, buf, 16, 'kstatfs');

    const lk = camelize(randomStruct(L.fuse_file_lock)) as never;
    buf = encodeLkReply(unique, lk);
    sameStruct(t, L.fuse_file_lock, L.fuse_file_lock.layout.decode(buf, 16), lk, buf, 16, 'lk_out');

    const statx = camelize(randomStruct(L.fuse_statx)) as unknown as Statx;
    const sxo = { attrValid: u64(), attrValidNsec: u32(), flags: u32(), stat: statx };
    buf = encodeStatxReply(unique, sxo);
    t.equal(buf.length, 16 + 288);
    sameStruct(t, L.fuse_statx_out, L.fuse_statx_out.layout.decode(buf, 16), sxo as never, buf, 16, 'statx_out');

    const initOut = camelize(randomStruct(L.fuse_init_out)) as unknown as InitOut;
    buf = encodeInitReply(unique, initOut, 45);
    t.equal(buf.length, 16 + 64);
    sameStruct(t, L.fuse_init_out, L.fuse_init_out.layout.decode(buf, 16), initOut as never, buf, 16, 'init_out');

    const cuse = { ...(camelize(randomStruct(L.cuse_init_out)) as never as object), info: ['DEVNAME=tsfuse', 'X=1'] } as never;
    buf = encodeCuseInitReply(unique, cuse);
    sameStruct(t, L.cuse_init_out, L.cuse_init_out.layout.decode(buf, 16), cuse, buf, 16, 'cuse_init_out');
    t.equal(buf.subarray(16 + 72).toString(), 'DEVNAME=tsfuse\0X=1\0', 'cuse info strings');

    const iov = { base: BigInt(u64()) * 4096n, len: u64() };
    buf = encodeIoctlReply(unique, { result: u32() | 0, flags: 4, inIovs: [iov], outIovs: [iov, iov] });
    const io = L.fuse_ioctl_out.layout.decode(buf, 16);
    t.same([io.flags, io.in_iovs, io.out_iovs], [4, 1, 2], 'ioctl_out counts');
    t.equal(buf.length, 16 + 16 + 3 * 16);
    t.equal(buf.readBigUInt64LE(32), iov.base, 'iovec base');
    t.equal(L.fuse_ioctl_iovec.layout.decode(buf, 48).len, iov.len, 'iovec len');
    const data = Buffer.from('ioctl-out');
    buf = encodeIoctlReply(unique, { result: -1, data });
    t.equal(L.fuse_ioctl_out.layout.decode(buf, 16).result, -1);
    t.ok(buf.subarray(32).equals(data), 'ioctl data');
  }
});

t.test('notify structs round trip', async (t) => {
  for (let i = 0; i < 20; i++) {
    const [a, b, c] = [u64(), u64(), u64()];
    let buf = encodeNotifyInvalInode(a, s64(), s64());
    checkHeader(t, buf, 0, NotifyCode.INVAL_INODE);
    const ii = L.fuse_notify_inval_inode_out.layout.decode(buf, 16);
    t.equal(ii.ino, a);
    buf = encodeNotifyInvalInode(a, -5, -1);
    t.same(L.fuse_notify_inval_inode_out.layout.decode(buf, 16), { ino: a, off: -5, len: -1 }, 'signed off/len');

    const name = randomName();
    buf = encodeNotifyInvalEntry(a, name, 1);
    checkHeader(t, buf, 0, NotifyCode.INVAL_ENTRY);
    t.same(L.fuse_notify_inval_entry_out.layout.decode(buf, 16), { parent: a, namelen: name.length, flags: 1 });
    t.ok(buf.subarray(32, 32 + name.length).equals(name), 'name bytes');
    t.equal(buf[32 + name.length], 0, 'name NUL');
    t.equal(buf.length, 32 + name.length + 1);

    buf = encodeNotifyDelete(a, b, name);
    checkHeader(t, buf, 0, NotifyCode.DELETE);
    t.same(L.fuse_notify_delete_out.layout.decode(buf, 16), { parent: a, child: b, namelen: name.length, padding: 0 });
    t.equal(buf[40 + name.length], 0);

    buf = encodeNotifyStoreHeader(a, b, 100);
    t.same(L.fuse_out_header.layout.decode(buf, 0), { len: 16 + 24 + 100, error: NotifyCode.STORE, unique: 0 }, 'store len counts data');
    t.same(L.fuse_notify_store_out.layout.decode(buf, 16), { nodeid: a, offset: b, size: 100, padding: 0 });

    buf = encodeNotifyRetrieve(c, a, b, 77);
    checkHeader(t, buf, 0, NotifyCode.RETRIEVE);
    t.same(L.fuse_notify_retrieve_out.layout.decode(buf, 16), { notify_unique: c, nodeid: a, offset: b, size: 77, padding: 0 });

    buf = encodeNotifyPoll(BigInt(a) * 1024n);
    checkHeader(t, buf, 0, NotifyCode.POLL);
    t.equal(buf.readBigUInt64LE(16), BigInt(a) * 1024n);

    buf = encodeNotifyPrune([a, b, c]);
    checkHeader(t, buf, 0, NotifyCode.PRUNE);
    t.same(L.fuse_notify_prune_out.layout.decode(buf, 16), { count: 3, padding: 0, spare: 0 });
    t.same([0, 1, 2].map((k) => L.fuse_forget_in.layout.decode(buf, 32 + 8 * k).nlookup), [a, b, c]);
  }
});

t.test('dirent and direntplus records round trip', async (t) => {
  const d = new DirentBuffer(4096);
  const dp = new DirentPlusBuffer(8192);
  const want: { name: Buffer; ino: number; off: number; type: number; entry: EntryOut }[] = [];
  for (let i = 0; i < 30; i++) {
    const entry = camelize(randomStruct(L.fuse_entry_out)) as unknown as EntryOut;
    const w = { name: randomName(), ino: entry.attr.ino, off: u64(), type: (entry.attr.mode & 0o170000) >>> 12, entry };
    t.ok(d.add(w.name, w.ino, w.off, w.type));
    t.ok(dp.add(w.name, entry, w.off));
    want.push(w);
  }
  for (const [buf, plus] of [[d.reply(9), false], [dp.reply(9), true]] as const) {
    checkHeader(t, buf, 9);
    let p = 16;
    for (const w of want) {
      const base = plus ? p + L.fuse_direntplus.off.dirent : p;
      const de = L.fuse_dirent.layout.decode(buf, base);
      t.same(de, { ino: w.ino, off: w.off, namelen: w.name.length, type: w.type });
      t.ok(buf.subarray(base + 24, base + 24 + w.name.length).equals(w.name));
      if (plus) sameStruct(t, L.fuse_entry_out, L.fuse_entry_out.layout.decode(buf, p), w.entry as never, buf, p, 'direntplus entry');
      const rec = (((plus ? 152 : 24) + w.name.length + 7) & ~7);
      t.ok(buf.subarray(base + 24 + w.name.length, p + rec).every((x) => x === 0), 'padding zeroed');
      p += rec;
    }
    t.equal(p, buf.length, plus ? 'direntplus total' : 'dirent total');
  }
});

t.test('backing map', async (t) => {
  const buf = encodeBackingMap(12345);
  t.same(L.fuse_backing_map.layout.decode(buf), { fd: 12345, flags: 0, padding: 0 });
  t.equal(buf.length, 16);
});

// ---- randomized decoder test ------------------------------------------------------------------

function checkResult(t: Test, r: Request | DecodeError, buf: Buffer, length: number): boolean {
  if (isDecodeError(r)) {
    const ok = r.kind === 'decode-error' && (r.errno === 'EINVAL' || r.errno === 'ENOSYS') &&
      typeof r.message === 'string' && (r.unique === undefined || Number.isFinite(r.unique)) &&
      (r.opcode === undefined || Number.isInteger(r.opcode));
    if (!ok) t.fail(`malformed decode error ${JSON.stringify(r)}`);
    return ok;
  }
  const row = OPCODE_TABLE.find((x) => x.opcode === r.opcode);
  let ok = row !== undefined && r.header.len === length && r.header.opcode === r.opcode;
  // Names are copies, no longer than the request and outside its buffer (which may share an
  // ArrayBuffer with them: both can come from Buffer's pool); every other buffer is a view
  // inside the request's bytes.
  const start = buf.byteOffset;
  for (const [key, v] of Object.entries(r)) {
    if (!Buffer.isBuffer(v)) continue;
    if (key === 'nameBytes' || key === 'newNameBytes' || key === 'targetBytes') {
      ok &&= v.length <= length && (v.buffer !== buf.buffer || v.byteOffset >= start + buf.length || v.byteOffset + v.length <= start);
    } else {
      ok &&= v.buffer === buf.buffer && v.byteOffset >= start && v.byteOffset + v.length <= start + length;
    }
  }
  if (!ok) t.fail(`bad request for opcode ${r.opcode}`);
  return ok;
}

t.test('random and mutated buffers only ever give a request or a decode error', async (t) => {
  rnd = mulberry32(SEED ^ 0xf00d);
  const ops = OPCODE_TABLE.map((r) => r.opcode as Opcode);
  let requests = 0;
  let errors = 0;
  let failures = 0;
  const N = 20000;
  for (let i = 0; i < N && failures < 5; i++) {
    let buf: Buffer;
    let length: number | undefined;
    const mode = i % 4;
    if (mode === 0) {
      // Pure noise, sometimes with a plausible header.
      buf = Buffer.from(Array.from({ length: int(200) }, () => int(256)));
      if (buf.length >= 40 && rnd() < 0.7) {
        buf.writeUInt32LE(buf.length, 0);
        buf.writeUInt32LE(rnd() < 0.9 ? ops[int(ops.length)] : u32(), 4);
        if (rnd() < 0.5) buf.writeUInt16LE(0, 36);
      }
    } else {
      const b = build(ops[int(ops.length)], { ext: rnd() < 0.2 });
      buf = b.buf;
      const k = int(6);
      if (k === 0) buf = buf.subarray(0, int(buf.length)); // truncated
      else if (k === 1) for (let j = 0; j < 1 + int(4); j++) buf[int(buf.length)] = int(256); // flipped bytes
      else if (k === 2) buf.writeUInt32LE(u32() % 512, 0); // len disagrees
      else if (k === 3) buf.writeUInt16LE(int(65536), 36); // total_extlen garbage
      else if (k === 4) {
        // Names lose their NUL / sizes lie.
        for (let j = 40; j < buf.length; j++) if (buf[j] === 0) buf[j] = 0x41;
      } else {
        // A longer read buffer than the request: pass an explicit length.
        const big = Buffer.alloc(buf.length + int(64), 0xff);
        buf.copy(big);
        length = rnd() < 0.8 ? buf.length : int(big.length + 1);
        buf = big;
      }
    }
    const ctx: DecodeContext = { minor: int(50), setxattrExt: rnd() < 0.5 };
    let r: Request | DecodeError;
    try {
      r = decodeRequest(buf, length, ctx);
    } catch (e) {
      failures++;
      t.fail(`threw on ${buf.toString('hex')} (length ${length}, ctx ${JSON.stringify(ctx)}): ${(e as Error).stack}`);
      continue;
    }
    if (!checkResult(t, r, buf, length ?? buf.length)) failures++;
    if (isDecodeError(r)) errors++;
    else requests++;
  }
  t.equal(failures, 0, `seed ${SEED}: no throws, only requests or decode errors`);
  t.ok(requests > 1000 && errors > 1000, `both outcomes exercised (${requests} requests, ${errors} errors)`);
});
