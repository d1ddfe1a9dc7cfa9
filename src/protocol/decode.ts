// Request buffer -> typed request. Never throws: anything malformed comes back as a DecodeError
// carrying the `unique` whenever the header was long enough to read it, so the session can
// still answer the kernel (EINVAL for malformed input, ENOSYS for an unknown opcode).
import { FUSE_EXT_GROUPS, FUSE_KERNEL_MINOR_VERSION, FUSE_MAX_NR_SECCTX } from './constants';
import * as L from './layouts';
import { opcodeRow } from './opcodes';
import type { BodyView } from './opcodes';
import type { DecodeContext, DecodeError, Request } from './requests';
import type { InHeader } from './types';
import { readU64, readUnique } from './wire';

export const DEFAULT_DECODE_CONTEXT: Readonly<DecodeContext> = Object.freeze({
  minor: FUSE_KERNEL_MINOR_VERSION,
  setxattrExt: false,
});

const IH = L.fuse_in_header.off;
const IN_HEADER_SIZE = L.fuse_in_header.size;

/** Reads fuse_in_header at `offset` (the caller guarantees 40 readable bytes). */
export function decodeInHeader(buf: Buffer, offset = 0): InHeader {
  return {
    len: buf.readUInt32LE(offset + IH.len),
    opcode: buf.readUInt32LE(offset + IH.opcode),
    unique: readUnique(buf, offset + IH.unique),
    nodeid: readU64(buf, offset + IH.nodeid),
    uid: buf.readUInt32LE(offset + IH.uid),
    gid: buf.readUInt32LE(offset + IH.gid),
    pid: buf.readUInt32LE(offset + IH.pid),
    totalExtlen: buf.readUInt16LE(offset + IH.total_extlen),
  };
}

function fail(errno: 'EINVAL' | 'ENOSYS', message: string, unique?: number, opcode?: number): DecodeError {
  const e: DecodeError = { kind: 'decode-error', errno, message };
  if (unique !== undefined) e.unique = unique;
  if (opcode !== undefined) e.opcode = opcode;
  return e;
}

const NO_BYTES = Buffer.alloc(0);

// Reused for every decode: decoding is synchronous and row decoders do not keep it.
const view: BodyView = {
  buf: NO_BYTES,
  body: IN_HEADER_SIZE,
  end: 0,
  nameStart: [0, 0],
  nameEnd: [0, 0],
  tail: 0,
  extensions: undefined,
  ctx: DEFAULT_DECODE_CONTEXT,
};

/**
 * Decodes one request as read from /dev/fuse: `buf[0, length)` (length defaults to buf.length)
 * must hold exactly one request, whose header `len` must equal `length`. `ctx` carries what was
 * negotiated at INIT (see DecodeContext); the default fits protocol 7.45 without
 * FUSE_SETXATTR_EXT.
 *
 * Names, data and extensions in the result are views into `buf` (see requests.ts).
 */
export function decodeRequest(buf: Buffer, length?: number, ctx: DecodeContext = DEFAULT_DECODE_CONTEXT): Request | DecodeError {
  const n = length === undefined ? buf.length : length;
  if (!(n >= 0 && n <= buf.length && Number.isInteger(n))) {
    return fail('EINVAL', `length ${length} does not fit the ${buf.length}-byte buffer`);
  }
  if (n < IN_HEADER_SIZE) {
    return fail(
      'EINVAL',
      `truncated header: ${n} of ${IN_HEADER_SIZE} bytes`,
      n >= IH.unique + 8 ? readUnique(buf, IH.unique) : undefined,
      n >= IH.opcode + 4 ? buf.readUInt32LE(IH.opcode) : undefined,
    );
  }
  // Read once: the fields for the checks below, the object for the decoded request.
  const header = decodeInHeader(buf, 0);
  const { len, opcode, unique } = header;
  if (len !== n) return fail('EINVAL', `header len ${len} disagrees with the ${n} bytes read`, unique, opcode);

  const row = opcodeRow(opcode);
  if (row === undefined) return fail('ENOSYS', `unknown opcode ${opcode}`, unique, opcode);

  const extlen = header.totalExtlen * 8;
  const end = n - extlen;
  if (end < IN_HEADER_SIZE) {
    return fail('EINVAL', `${row.name}: total_extlen ${extlen} bytes exceeds the ${n - IN_HEADER_SIZE}-byte body`, unique, opcode);
  }
  const structSize = row.inSize !== undefined ? row.inSize(ctx) : row.in !== null ? row.in.size : 0;
  let p = IN_HEADER_SIZE + structSize;
  if (p > end) {
    return fail('EINVAL', `${row.name}: body of ${end - IN_HEADER_SIZE} bytes is shorter than its ${structSize}-byte struct`, unique, opcode);
  }
  const v = view;
  for (let i = 0; i < row.names; i++) {
    let z = p;
    while (z < end && buf[z] !== 0) z++;
    if (z >= end) return fail('EINVAL', `${row.name}: name ${i + 1} has no terminating NUL`, unique, opcode);
    v.nameStart[i] = p;
    v.nameEnd[i] = z;
    p = z + 1;
  }
  v.buf = buf;
  v.end = end;
  v.tail = p;
  v.extensions = extlen > 0 ? buf.subarray(end, n) : undefined;
  v.ctx = ctx;
  let r: Request | string;
  try {
    r = row.decode(header, v) as Request | string;
  } catch (e) {
    // Row decoders check their own variable parts; this is the last line of defence.
    r = `${row.name}: ${(e as Error).message}`;
  } finally {
    v.buf = NO_BYTES; // do not keep the caller's buffer alive (a shared empty buffer: no allocation per request)
    v.extensions = undefined;
  }
  return typeof r === 'string' ? fail('EINVAL', r, unique, opcode) : r;
}

/** One request extension (fuse_ext_header.type), decoded. */
export type Extension =
  | { type: 'secctx'; contexts: { name: string; value: Buffer }[] }
  | { type: 'groups'; groups: number[] }
  | { type: 'unknown'; extType: number; data: Buffer };

/**
 * Parses the raw extensions of a CREATE/MKNOD/MKDIR/SYMLINK/TMPFILE request (present when
 * FUSE_SECURITY_CTX or FUSE_CREATE_SUPP_GROUP was negotiated). Returns an error message string
 * for malformed input instead of throwing.
 */
export function parseExtensions(ext: Buffer): Extension[] | string {
  const out: Extension[] = [];
  const EH = L.fuse_ext_header;
  let p = 0;
  while (p < ext.length) {
    if (ext.length - p < EH.size) return `extension header truncated at ${p}`;
    const size = ext.readUInt32LE(p + EH.off.size);
    const type = ext.readUInt32LE(p + EH.off.type);
    if (size < EH.size || size > ext.length - p) return `extension at ${p} has bad size ${size}`;
    const end = p + size;
    if (type <= FUSE_MAX_NR_SECCTX) {
      // fuse_secctx_header { size, nr_secctx } then per context: fuse_secctx { size },
      // the NUL-terminated name, then `size` bytes of context, each record 8-byte aligned.
      const contexts: { name: string; value: Buffer }[] = [];
      let q = p + L.fuse_secctx_header.size;
      for (let i = 0; i < type; i++) {
        if (end - q < L.fuse_secctx.size) return `security context ${i} truncated`;
        const csize = ext.readUInt32LE(q + L.fuse_secctx.off.size);
        let z = q + L.fuse_secctx.size;
        const nameStart = z;
        while (z < end && ext[z] !== 0) z++;
        if (z >= end) return `security context ${i} name has no NUL`;
        const vStart = z + 1;
        if (csize > end - vStart) return `security context ${i} value exceeds the extension`;
        contexts.push({ name: ext.toString('utf8', nameStart, z), value: ext.subarray(vStart, vStart + csize) });
        q += (vStart + csize - q + 7) & ~7;
      }
      out.push({ type: 'secctx', contexts });
    } else if (type === FUSE_EXT_GROUPS) {
      const q = p + EH.size;
      if (end - q < L.fuse_supp_groups.size) return 'supplementary groups truncated';
      const nr = ext.readUInt32LE(q + L.fuse_supp_groups.off.nr_groups);
      if (nr > (end - q - L.fuse_supp_groups.size) / 4) return `supplementary groups count ${nr} exceeds the extension`;
      const groups: number[] = [];
      for (let i = 0; i < nr; i++) groups.push(ext.readUInt32LE(q + L.fuse_supp_groups.size + 4 * i));
      out.push({ type: 'groups', groups });
    } else {
      out.push({ type: 'unknown', extType: type, data: ext.subarray(p + EH.size, end) });
    }
    p = end;
  }
  return out;
}
