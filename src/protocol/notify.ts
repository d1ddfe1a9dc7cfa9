// Notification encoders (server -> kernel, unsolicited). Each is a fuse_out_header with unique 0
// and error = the notify code (fuse_dev_do_write treats unique 0 as a notification and passes
// `error` to fuse_notify), followed by the code's struct.
import { NotifyCode } from './constants';
import * as L from './layouts';
import { OUT_HEADER_SIZE, writeOutHeader } from './reply';
import { setBig64, setU64, setUnique, viewOf } from './wire';

/** Zeroed header + body; `extra` bytes of payload follow in the same writev. */
function notifyBuffer(code: NotifyCode, bodySize: number, extra = 0): [Buffer, DataView] {
  const buf = Buffer.alloc(OUT_HEADER_SIZE + bodySize);
  const v = viewOf(buf);
  writeOutHeader(v, 0, OUT_HEADER_SIZE + bodySize + extra, code, 0);
  return [buf, v];
}

function nameBytes(name: string | Buffer): Buffer {
  return typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
}

/** Wake up a poller: `kh` is the POLL request's kh. */
export function encodeNotifyPoll(kh: bigint): Buffer {
  const [buf, v] = notifyBuffer(NotifyCode.POLL, L.fuse_notify_poll_wakeup_out.size);
  setBig64(v, OUT_HEADER_SIZE + L.fuse_notify_poll_wakeup_out.off.kh, kh);
  return buf;
}

const II = L.fuse_notify_inval_inode_out.off;
/**
 * Invalidate cached data of inode `ino` from `off` for `len` bytes (len 0: to the end). A
 * negative `off` invalidates only the attributes.
 */
export function encodeNotifyInvalInode(ino: number, off: number, len: number): Buffer {
  const [buf, v] = notifyBuffer(NotifyCode.INVAL_INODE, L.fuse_notify_inval_inode_out.size);
  const p = OUT_HEADER_SIZE;
  setU64(v, p + II.ino, ino);
  setU64(v, p + II.off, off);
  setU64(v, p + II.len, len);
  return buf;
}

const IE = L.fuse_notify_inval_entry_out.off;
/**
 * Invalidate the dentry `name` in directory `parent`. `flags` may be FUSE_EXPIRE_ONLY. The kernel
 * reads namelen + 1 bytes and requires the trailing NUL.
 */
export function encodeNotifyInvalEntry(parent: number, name: string | Buffer, flags = 0): Buffer {
  const nb = nameBytes(name);
  const [buf, v] = notifyBuffer(NotifyCode.INVAL_ENTRY, L.fuse_notify_inval_entry_out.size + nb.length + 1);
  const p = OUT_HEADER_SIZE;
  setU64(v, p + IE.parent, parent);
  v.setUint32(p + IE.namelen, nb.length, true);
  v.setUint32(p + IE.flags, flags, true);
  nb.copy(buf, p + L.fuse_notify_inval_entry_out.size);
  return buf;
}

const DL = L.fuse_notify_delete_out.off;
/** Tell the kernel `name` (inode `child`) was removed from `parent`. NUL-terminated like INVAL_ENTRY. */
export function encodeNotifyDelete(parent: number, child: number, name: string | Buffer): Buffer {
  const nb = nameBytes(name);
  const [buf, v] = notifyBuffer(NotifyCode.DELETE, L.fuse_notify_delete_out.size + nb.length + 1);
  const p = OUT_HEADER_SIZE;
  setU64(v, p + DL.parent, parent);
  setU64(v, p + DL.child, child);
  v.setUint32(p + DL.namelen, nb.length, true);
  nb.copy(buf, p + L.fuse_notify_delete_out.size);
  return buf;
}

const ST = L.fuse_notify_store_out.off;
/**
 * Header + fuse_notify_store_out for `size` bytes of data that follow in the same writev
 * (header len counts them).
 */
export function encodeNotifyStoreHeader(nodeid: number, offset: number, size: number): Buffer {
  const [buf, v] = notifyBuffer(NotifyCode.STORE, L.fuse_notify_store_out.size, size);
  const p = OUT_HEADER_SIZE;
  setU64(v, p + ST.nodeid, nodeid);
  setU64(v, p + ST.offset, offset);
  v.setUint32(p + ST.size, size, true);
  return buf;
}

/** Store `data` into the page cache of `nodeid` at `offset` (one buffer; copies data). */
export function encodeNotifyStore(nodeid: number, offset: number, data: Buffer | Uint8Array): Buffer {
  const head = encodeNotifyStoreHeader(nodeid, offset, data.length);
  return Buffer.concat([head, data]);
}

const RT = L.fuse_notify_retrieve_out.off;
/**
 * Ask the kernel for `size` bytes of `nodeid`'s cache at `offset`; it answers with a
 * NOTIFY_REPLY request whose header.unique is `notifyUnique`.
 */
export function encodeNotifyRetrieve(notifyUnique: number, nodeid: number, offset: number, size: number): Buffer {
  const [buf, v] = notifyBuffer(NotifyCode.RETRIEVE, L.fuse_notify_retrieve_out.size);
  const p = OUT_HEADER_SIZE;
  setUnique(v, p + RT.notify_unique, notifyUnique);
  setU64(v, p + RT.nodeid, nodeid);
  setU64(v, p + RT.offset, offset);
  v.setUint32(p + RT.size, size, true);
  return buf;
}

/** Ask the kernel to resend all requests still waiting for a reply (needs FUSE_HAS_RESEND). No body. */
export function encodeNotifyResend(): Buffer {
  return notifyBuffer(NotifyCode.RESEND, 0)[0];
}

/** Increment the connection epoch, invalidating all cached dentries (protocol 7.44). No body. */
export function encodeNotifyIncEpoch(): Buffer {
  return notifyBuffer(NotifyCode.INC_EPOCH, 0)[0];
}

const PR = L.fuse_notify_prune_out.off;
/**
 * Ask the kernel to drop unused inodes (protocol 7.45): fuse_notify_prune_out then `count`
 * u64 nodeids; the kernel checks the body is exactly that long.
 */
export function encodeNotifyPrune(nodeids: readonly number[]): Buffer {
  const [buf, v] = notifyBuffer(NotifyCode.PRUNE, L.fuse_notify_prune_out.size + 8 * nodeids.length);
  const p = OUT_HEADER_SIZE;
  v.setUint32(p + PR.count, nodeids.length, true);
  let q = p + L.fuse_notify_prune_out.size;
  for (const id of nodeids) {
    setU64(v, q, id);
    q += 8;
  }
  return buf;
}
