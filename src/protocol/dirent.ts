// READDIR / READDIRPLUS reply builders. Records are fuse_dirent (24 bytes + name) or
// fuse_direntplus (fuse_entry_out + fuse_dirent + name), each padded with zeros to 8 bytes
// (FUSE_DIRENT_ALIGN). The kernel asks for at most `size` bytes and rejects a longer reply, so
// add() refuses the record that would overflow it; the caller then replies with what it has and
// resumes at that entry on the next READDIR (its `off` is the previous record's `off`).
//
// `off` in each record is the cookie of the *next* entry: the kernel passes it back as the
// READDIR offset to continue after this one. `type` is the DT_* value, i.e. (mode & S_IFMT) >> 12.
import * as L from './layouts';
import { OUT_HEADER_SIZE, writeEntryOut, writeOutHeader } from './reply';
import type { EntryOut } from './types';
import { recAlign, setU64, viewOf } from './wire';

const D = L.fuse_dirent.off;
const DIRENT_SIZE = L.fuse_dirent.size; // FUSE_NAME_OFFSET
const DIRENTPLUS_SIZE = L.fuse_direntplus.size; // FUSE_NAME_OFFSET_DIRENTPLUS
const PLUS_DIRENT = L.fuse_direntplus.off.dirent;
const PLUS_ENTRY = L.fuse_direntplus.off.entry_out;

/** DT_* from st_mode: S_IFMT bits shifted down, as the kernel's dirent types are defined. */
export function direntType(mode: number): number {
  return (mode & 0o170000) >>> 12;
}

/** FUSE_DIRENT_SIZE: bytes one fuse_dirent record with a name of `nameLength` bytes takes. */
export function direntSize(nameLength: number): number {
  return recAlign(DIRENT_SIZE + nameLength);
}

/** FUSE_DIRENTPLUS_SIZE. */
export function direntPlusSize(nameLength: number): number {
  return recAlign(DIRENTPLUS_SIZE + nameLength);
}

abstract class RecordBuffer {
  protected readonly buf: Buffer;
  protected readonly view: DataView;
  protected pos = OUT_HEADER_SIZE;
  private n = 0;

  /** `maxSize`: the `size` of the READDIR/READDIRPLUS request. */
  constructor(readonly maxSize: number) {
    this.buf = Buffer.allocUnsafe(OUT_HEADER_SIZE + Math.max(0, maxSize));
    this.view = viewOf(this.buf);
  }

  /** Body bytes used so far. */
  get length(): number {
    return this.pos - OUT_HEADER_SIZE;
  }

  /** Records added. */
  get count(): number {
    return this.n;
  }

  /** Writes a record whose fixed part is `fixed` bytes and whose dirent part starts at `dirent`. */
  protected put(name: string | Buffer, fixed: number, dirent: number, ino: number, off: number, type: number): number {
    const nameLength = typeof name === 'string' ? Buffer.byteLength(name, 'utf8') : name.length;
    const recLength = recAlign(fixed + nameLength);
    const start = this.pos;
    if (start + recLength > OUT_HEADER_SIZE + this.maxSize) return -1;
    const buf = this.buf;
    const v = this.view;
    const d = start + dirent;
    setU64(v, d + D.ino, ino);
    setU64(v, d + D.off, off);
    v.setUint32(d + D.namelen, nameLength, true);
    v.setUint32(d + D.type, type, true);
    const nameAt = start + fixed;
    if (typeof name === 'string') buf.write(name, nameAt, nameLength, 'utf8');
    else name.copy(buf, nameAt);
    buf.fill(0, nameAt + nameLength, start + recLength);
    this.pos = start + recLength;
    this.n++;
    return start;
  }

  /** The reply (out_header + records), a view of the internal buffer. */
  reply(unique: number): Buffer {
    writeOutHeader(this.view, 0, this.pos, 0, unique);
    return this.buf.subarray(0, this.pos);
  }
}

/** Builds a READDIR reply. */
export class DirentBuffer extends RecordBuffer {
  /** Appends one fuse_dirent; false (and nothing written) when it would exceed maxSize. */
  add(name: string | Buffer, ino: number, off: number, type: number): boolean {
    return this.put(name, DIRENT_SIZE, 0, ino, off, type) >= 0;
  }
}

/** Builds a READDIRPLUS reply. */
export class DirentPlusBuffer extends RecordBuffer {
  /**
   * Appends one fuse_direntplus; false when it would exceed maxSize. The type comes from
   * entry.attr.mode and the ino from entry.attr.ino. A non-zero entry.nodeid counts as a lookup
   * (the kernel will FORGET it later); nodeid 0 gives the name without an inode.
   */
  add(name: string | Buffer, entry: EntryOut, off: number): boolean {
    const start = this.put(name, DIRENTPLUS_SIZE, PLUS_DIRENT, entry.attr.ino, off, direntType(entry.attr.mode));
    if (start < 0) return false;
    writeEntryOut(this.view, start + PLUS_ENTRY, entry);
    return true;
  }
}
