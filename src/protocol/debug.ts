// strace-like one-line rendering of requests for --debug output.
import { opcodeName } from './opcodes';
import type { DecodeError, Request } from './requests';

const SKIP = new Set(['opcode', 'header', 'nameBytes', 'newNameBytes', 'targetBytes']);

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `0x${v.toString(16)}`;
  if (Buffer.isBuffer(v)) return `<${v.length} bytes>`;
  if (Array.isArray(v)) return v.length > 4 ? `[${v.length} items]` : `[${v.map(show).join(', ')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.entries(v).map(([k, x]) => `${k}=${show(x)}`).join(' ')}}`;
  }
  return String(v);
}

/** e.g. `LOOKUP unique=4 nodeid=1 uid=0 gid=0 pid=123 name="etc"`. */
export function describeRequest(req: Request): string {
  const h = req.header;
  let s = `${opcodeName(req.opcode)} unique=${h.unique} nodeid=${h.nodeid} uid=${h.uid} gid=${h.gid} pid=${h.pid}`;
  for (const [k, v] of Object.entries(req)) {
    if (SKIP.has(k) || v === undefined) continue;
    s += ` ${k}=${show(v)}`;
  }
  return s;
}

export function describeDecodeError(e: DecodeError): string {
  const op = e.opcode !== undefined ? opcodeName(e.opcode) : '?';
  return `${op} unique=${e.unique ?? '?'} decode error ${e.errno}: ${e.message}`;
}
