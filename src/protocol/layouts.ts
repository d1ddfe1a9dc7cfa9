// Every struct of the FUSE wire format, protocol 7.45, transcribed field by field from the
// kernel's include/uapi/linux/fuse.h (Linux 6.18). This file is the single
// definition of each layout: buffer-layout computes the offsets and sizes, and the hot-path
// readers/writers (decode.ts, reply.ts, ...) read `X.off.field` / `X.size` from here instead of
// repeating numbers. test/protocol-roundtrip.test.ts checks the fast accessors against
// buffer-layout's generic encode/decode, struct by struct.
//
// Field names are the header's (snake_case) so each line can be checked against fuse.h. The
// typed values handed to callers use the camelCase of the same names.
//
// Signedness: the header declares the time fields of fuse_attr and fuse_setattr_in as uint64_t,
// but the kernel stores time64_t (signed) in them (fuse_fillattr / iattr_to_fattr), so they are
// declared 's64' here so that pre-1970 times survive a round trip.
/// <reference path="./buffer-layout.d.ts" />
import * as BufferLayout from 'buffer-layout';

export type Scalar = 'u8' | 'u16' | 'u32' | 's32' | 'u64' | 's64';
/** A field: a scalar, a nested struct, or a fixed array of scalars (`['u32', 11]`). */
export type FieldSpec = Scalar | StructDef<string> | readonly [Scalar, number];

export interface StructDef<K extends string> {
  /** The C name, e.g. 'fuse_in_header'. */
  readonly cname: string;
  /** The buffer-layout Structure: the reference definition. */
  readonly layout: BufferLayout.Structure;
  /** sizeof(struct ...), flexible array members excluded. */
  readonly size: number;
  /** offsetof(struct ..., field) for every field, derived from `layout`. */
  readonly off: Readonly<Record<K, number>>;
  /** The field specs in declaration order. */
  readonly fields: Readonly<Record<K, FieldSpec>>;
}

function scalarLayout(s: Scalar, name?: string): BufferLayout.Layout {
  switch (s) {
    case 'u8': return BufferLayout.u8(name);
    case 'u16': return BufferLayout.u16(name);
    case 'u32': return BufferLayout.u32(name);
    case 's32': return BufferLayout.s32(name);
    case 'u64': return BufferLayout.nu64(name);
    case 's64': return BufferLayout.ns64(name);
  }
}

function fieldLayout(name: string, spec: FieldSpec): BufferLayout.Layout {
  if (typeof spec === 'string') return scalarLayout(spec, name);
  if (Array.isArray(spec)) {
    const [s, n] = spec as readonly [Scalar, number];
    return BufferLayout.seq(scalarLayout(s), n, name);
  }
  return (spec as StructDef<string>).layout.replicate(name);
}

const ALIGN: Record<Scalar, number> = { u8: 1, u16: 2, u32: 4, s32: 4, u64: 8, s64: 8 };

function alignOf(spec: FieldSpec): number {
  if (typeof spec === 'string') return ALIGN[spec];
  if (Array.isArray(spec)) return ALIGN[(spec as readonly [Scalar, number])[0]];
  const def = spec as StructDef<string>;
  return Math.max(...Object.values<FieldSpec>(def.fields).map(alignOf));
}

function defStruct<const S extends Record<string, FieldSpec>>(
  cname: string,
  spec: S,
): StructDef<Extract<keyof S, string>> {
  const names = Object.keys(spec);
  const layout = BufferLayout.struct(names.map((n) => fieldLayout(n, spec[n] as FieldSpec)), cname);
  const off: Record<string, number> = {};
  let maxAlign = 1;
  for (const n of names) {
    const o = layout.offsetOf(n);
    const a = alignOf(spec[n] as FieldSpec);
    // The C compiler would insert padding here; the header never relies on that, so a
    // misaligned field means a transcription error.
    if (o === undefined || o % a !== 0) throw new Error(`${cname}.${n}: misaligned field at ${o}`);
    off[n] = o;
    maxAlign = Math.max(maxAlign, a);
  }
  if (layout.span % maxAlign !== 0 && cname !== 'fuse_removemapping_in') {
    throw new Error(`${cname}: size ${layout.span} is not a multiple of ${maxAlign}`);
  }
  return Object.freeze({
    cname,
    layout,
    size: layout.span,
    off: Object.freeze(off) as Record<Extract<keyof S, string>, number>,
    fields: Object.freeze({ ...spec }),
  });
}

// ---- headers ----------------------------------------------------------------------------------

export const fuse_in_header = defStruct('fuse_in_header', {
  len: 'u32',
  opcode: 'u32',
  unique: 'u64',
  nodeid: 'u64',
  uid: 'u32',
  gid: 'u32',
  pid: 'u32',
  total_extlen: 'u16', // length of extensions in 8-byte units
  padding: 'u16',
});

export const fuse_out_header = defStruct('fuse_out_header', {
  len: 'u32',
  error: 's32',
  unique: 'u64',
});

// ---- common values ----------------------------------------------------------------------------

export const fuse_attr = defStruct('fuse_attr', {
  ino: 'u64',
  size: 'u64',
  blocks: 'u64',
  atime: 's64',
  mtime: 's64',
  ctime: 's64',
  atimensec: 'u32',
  mtimensec: 'u32',
  ctimensec: 'u32',
  mode: 'u32',
  nlink: 'u32',
  uid: 'u32',
  gid: 'u32',
  rdev: 'u32',
  blksize: 'u32',
  flags: 'u32',
});

export const fuse_sx_time = defStruct('fuse_sx_time', {
  tv_sec: 's64',
  tv_nsec: 'u32',
  __reserved: 's32',
});

export const fuse_statx = defStruct('fuse_statx', {
  mask: 'u32',
  blksize: 'u32',
  attributes: 'u64',
  nlink: 'u32',
  uid: 'u32',
  gid: 'u32',
  mode: 'u16',
  __spare0: ['u16', 1],
  ino: 'u64',
  size: 'u64',
  blocks: 'u64',
  attributes_mask: 'u64',
  atime: fuse_sx_time,
  btime: fuse_sx_time,
  ctime: fuse_sx_time,
  mtime: fuse_sx_time,
  rdev_major: 'u32',
  rdev_minor: 'u32',
  dev_major: 'u32',
  dev_minor: 'u32',
  __spare2: ['u64', 14],
});

export const fuse_kstatfs = defStruct('fuse_kstatfs', {
  blocks: 'u64',
  bfree: 'u64',
  bavail: 'u64',
  files: 'u64',
  ffree: 'u64',
  bsize: 'u32',
  namelen: 'u32',
  frsize: 'u32',
  padding: 'u32',
  spare: ['u32', 6],
});

export const fuse_file_lock = defStruct('fuse_file_lock', {
  start: 'u64',
  end: 'u64',
  type: 'u32',
  pid: 'u32', // tgid
});

// ---- replies ----------------------------------------------------------------------------------

export const fuse_entry_out = defStruct('fuse_entry_out', {
  nodeid: 'u64',
  generation: 'u64',
  entry_valid: 'u64',
  attr_valid: 'u64',
  entry_valid_nsec: 'u32',
  attr_valid_nsec: 'u32',
  attr: fuse_attr,
});

export const fuse_attr_out = defStruct('fuse_attr_out', {
  attr_valid: 'u64',
  attr_valid_nsec: 'u32',
  dummy: 'u32',
  attr: fuse_attr,
});

export const fuse_statx_out = defStruct('fuse_statx_out', {
  attr_valid: 'u64',
  attr_valid_nsec: 'u32',
  flags: 'u32',
  spare: ['u64', 2],
  stat: fuse_statx,
});

export const fuse_open_out = defStruct('fuse_open_out', {
  fh: 'u64',
  open_flags: 'u32',
  backing_id: 's32',
});

export const fuse_write_out = defStruct('fuse_write_out', {
  size: 'u32',
  padding: 'u32',
});

export const fuse_statfs_out = defStruct('fuse_statfs_out', {
  st: fuse_kstatfs,
});

export const fuse_getxattr_out = defStruct('fuse_getxattr_out', {
  size: 'u32',
  padding: 'u32',
});

export const fuse_lk_out = defStruct('fuse_lk_out', {
  lk: fuse_file_lock,
});

export const fuse_init_out = defStruct('fuse_init_out', {
  major: 'u32',
  minor: 'u32',
  max_readahead: 'u32',
  flags: 'u32',
  max_background: 'u16',
  congestion_threshold: 'u16',
  max_write: 'u32',
  time_gran: 'u32',
  max_pages: 'u16',
  map_alignment: 'u16',
  flags2: 'u32',
  max_stack_depth: 'u32',
  request_timeout: 'u16',
  unused: ['u16', 11],
});

export const cuse_init_out = defStruct('cuse_init_out', {
  major: 'u32',
  minor: 'u32',
  unused: 'u32',
  flags: 'u32',
  max_read: 'u32',
  max_write: 'u32',
  dev_major: 'u32', // chardev major
  dev_minor: 'u32', // chardev minor
  spare: ['u32', 10],
});

export const fuse_bmap_out = defStruct('fuse_bmap_out', {
  block: 'u64',
});

export const fuse_ioctl_iovec = defStruct('fuse_ioctl_iovec', {
  base: 'u64',
  len: 'u64',
});

export const fuse_ioctl_out = defStruct('fuse_ioctl_out', {
  result: 's32',
  flags: 'u32',
  in_iovs: 'u32',
  out_iovs: 'u32',
});

export const fuse_poll_out = defStruct('fuse_poll_out', {
  revents: 'u32',
  padding: 'u32',
});

export const fuse_lseek_out = defStruct('fuse_lseek_out', {
  offset: 'u64',
});

export const fuse_copy_file_range_out = defStruct('fuse_copy_file_range_out', {
  bytes_copied: 'u64',
});

// ---- directory records (the name follows, padded to 8 bytes) -----------------------------------

export const fuse_dirent = defStruct('fuse_dirent', {
  ino: 'u64',
  off: 'u64',
  namelen: 'u32',
  type: 'u32',
});

export const fuse_direntplus = defStruct('fuse_direntplus', {
  entry_out: fuse_entry_out,
  dirent: fuse_dirent,
});

// ---- requests ---------------------------------------------------------------------------------

export const fuse_forget_in = defStruct('fuse_forget_in', {
  nlookup: 'u64',
});

export const fuse_forget_one = defStruct('fuse_forget_one', {
  nodeid: 'u64',
  nlookup: 'u64',
});

export const fuse_batch_forget_in = defStruct('fuse_batch_forget_in', {
  count: 'u32',
  dummy: 'u32',
});

export const fuse_getattr_in = defStruct('fuse_getattr_in', {
  getattr_flags: 'u32',
  dummy: 'u32',
  fh: 'u64',
});

export const fuse_statx_in = defStruct('fuse_statx_in', {
  getattr_flags: 'u32',
  reserved: 'u32',
  fh: 'u64',
  sx_flags: 'u32',
  sx_mask: 'u32',
});

export const fuse_mknod_in = defStruct('fuse_mknod_in', {
  mode: 'u32',
  rdev: 'u32',
  umask: 'u32',
  padding: 'u32',
});

export const fuse_mkdir_in = defStruct('fuse_mkdir_in', {
  mode: 'u32',
  umask: 'u32',
});

export const fuse_rename_in = defStruct('fuse_rename_in', {
  newdir: 'u64',
});

export const fuse_rename2_in = defStruct('fuse_rename2_in', {
  newdir: 'u64',
  flags: 'u32',
  padding: 'u32',
});

export const fuse_link_in = defStruct('fuse_link_in', {
  oldnodeid: 'u64',
});

export const fuse_setattr_in = defStruct('fuse_setattr_in', {
  valid: 'u32',
  padding: 'u32',
  fh: 'u64',
  size: 'u64',
  lock_owner: 'u64',
  atime: 's64',
  mtime: 's64',
  ctime: 's64',
  atimensec: 'u32',
  mtimensec: 'u32',
  ctimensec: 'u32',
  mode: 'u32',
  unused4: 'u32',
  uid: 'u32',
  gid: 'u32',
  unused5: 'u32',
});

export const fuse_open_in = defStruct('fuse_open_in', {
  flags: 'u32',
  open_flags: 'u32', // FUSE_OPEN_...
});

export const fuse_create_in = defStruct('fuse_create_in', {
  flags: 'u32',
  mode: 'u32',
  umask: 'u32',
  open_flags: 'u32', // FUSE_OPEN_...
});

export const fuse_release_in = defStruct('fuse_release_in', {
  fh: 'u64',
  flags: 'u32',
  release_flags: 'u32',
  lock_owner: 'u64',
});

export const fuse_flush_in = defStruct('fuse_flush_in', {
  fh: 'u64',
  unused: 'u32',
  padding: 'u32',
  lock_owner: 'u64',
});

export const fuse_read_in = defStruct('fuse_read_in', {
  fh: 'u64',
  offset: 'u64',
  size: 'u32',
  read_flags: 'u32',
  lock_owner: 'u64',
  flags: 'u32',
  padding: 'u32',
});

export const fuse_write_in = defStruct('fuse_write_in', {
  fh: 'u64',
  offset: 'u64',
  size: 'u32',
  write_flags: 'u32',
  lock_owner: 'u64',
  flags: 'u32',
  padding: 'u32',
});

export const fuse_fsync_in = defStruct('fuse_fsync_in', {
  fh: 'u64',
  fsync_flags: 'u32',
  padding: 'u32',
});

export const fuse_setxattr_in = defStruct('fuse_setxattr_in', {
  size: 'u32',
  flags: 'u32',
  setxattr_flags: 'u32', // only sent when FUSE_SETXATTR_EXT was negotiated
  padding: 'u32',
});

export const fuse_getxattr_in = defStruct('fuse_getxattr_in', {
  size: 'u32',
  padding: 'u32',
});

export const fuse_lk_in = defStruct('fuse_lk_in', {
  fh: 'u64',
  owner: 'u64',
  lk: fuse_file_lock,
  lk_flags: 'u32',
  padding: 'u32',
});

export const fuse_access_in = defStruct('fuse_access_in', {
  mask: 'u32',
  padding: 'u32',
});

export const fuse_init_in = defStruct('fuse_init_in', {
  major: 'u32',
  minor: 'u32',
  max_readahead: 'u32',
  flags: 'u32',
  flags2: 'u32',
  unused: ['u32', 11],
});

export const cuse_init_in = defStruct('cuse_init_in', {
  major: 'u32',
  minor: 'u32',
  unused: 'u32',
  flags: 'u32',
});

export const fuse_interrupt_in = defStruct('fuse_interrupt_in', {
  unique: 'u64',
});

export const fuse_bmap_in = defStruct('fuse_bmap_in', {
  block: 'u64',
  blocksize: 'u32',
  padding: 'u32',
});

export const fuse_ioctl_in = defStruct('fuse_ioctl_in', {
  fh: 'u64',
  flags: 'u32',
  cmd: 'u32',
  arg: 'u64',
  in_size: 'u32',
  out_size: 'u32',
});

export const fuse_poll_in = defStruct('fuse_poll_in', {
  fh: 'u64',
  kh: 'u64',
  flags: 'u32',
  events: 'u32',
});

export const fuse_fallocate_in = defStruct('fuse_fallocate_in', {
  fh: 'u64',
  offset: 'u64',
  length: 'u64',
  mode: 'u32',
  padding: 'u32',
});

export const fuse_lseek_in = defStruct('fuse_lseek_in', {
  fh: 'u64',
  offset: 'u64',
  whence: 'u32',
  padding: 'u32',
});

export const fuse_copy_file_range_in = defStruct('fuse_copy_file_range_in', {
  fh_in: 'u64',
  off_in: 'u64',
  nodeid_out: 'u64',
  fh_out: 'u64',
  off_out: 'u64',
  len: 'u64',
  flags: 'u64',
});

export const fuse_setupmapping_in = defStruct('fuse_setupmapping_in', {
  fh: 'u64',
  foffset: 'u64',
  len: 'u64',
  flags: 'u64',
  moffset: 'u64',
});

// sizeof is 4: the fuse_removemapping_one array follows at offset 4, unaligned.
export const fuse_removemapping_in = defStruct('fuse_removemapping_in', {
  count: 'u32',
});

export const fuse_removemapping_one = defStruct('fuse_removemapping_one', {
  moffset: 'u64',
  len: 'u64',
});

export const fuse_syncfs_in = defStruct('fuse_syncfs_in', {
  padding: 'u64',
});

/** The body of FUSE_NOTIFY_REPLY, the kernel's answer to a RETRIEVE notification. */
export const fuse_notify_retrieve_in = defStruct('fuse_notify_retrieve_in', {
  dummy1: 'u64',
  offset: 'u64',
  size: 'u32',
  dummy2: 'u32',
  dummy3: 'u64',
  dummy4: 'u64',
});

// ---- notifications (server -> kernel, unique 0, error = notify code) ---------------------------

export const fuse_notify_poll_wakeup_out = defStruct('fuse_notify_poll_wakeup_out', {
  kh: 'u64',
});

export const fuse_notify_inval_inode_out = defStruct('fuse_notify_inval_inode_out', {
  ino: 'u64',
  off: 's64',
  len: 's64',
});

export const fuse_notify_inval_entry_out = defStruct('fuse_notify_inval_entry_out', {
  parent: 'u64',
  namelen: 'u32',
  flags: 'u32',
});

export const fuse_notify_delete_out = defStruct('fuse_notify_delete_out', {
  parent: 'u64',
  child: 'u64',
  namelen: 'u32',
  padding: 'u32',
});

export const fuse_notify_store_out = defStruct('fuse_notify_store_out', {
  nodeid: 'u64',
  offset: 'u64',
  size: 'u32',
  padding: 'u32',
});

export const fuse_notify_retrieve_out = defStruct('fuse_notify_retrieve_out', {
  notify_unique: 'u64',
  nodeid: 'u64',
  offset: 'u64',
  size: 'u32',
  padding: 'u32',
});

export const fuse_notify_prune_out = defStruct('fuse_notify_prune_out', {
  count: 'u32',
  padding: 'u32',
  spare: 'u64',
});

// ---- request extensions (after the body, counted by fuse_in_header.total_extlen) ---------------

export const fuse_ext_header = defStruct('fuse_ext_header', {
  size: 'u32', // total size of this extension including this header
  type: 'u32',
});

export const fuse_secctx_header = defStruct('fuse_secctx_header', {
  size: 'u32',
  nr_secctx: 'u32',
});

export const fuse_secctx = defStruct('fuse_secctx', {
  size: 'u32',
  padding: 'u32',
});

export const fuse_supp_groups = defStruct('fuse_supp_groups', {
  nr_groups: 'u32',
});

// ---- device ioctl argument ---------------------------------------------------------------------

export const fuse_backing_map = defStruct('fuse_backing_map', {
  fd: 's32',
  flags: 'u32',
  padding: 'u64',
});

/** Every struct above, for the layout tests. */
export const ALL_STRUCTS: readonly StructDef<string>[] = [
  fuse_in_header, fuse_out_header, fuse_attr, fuse_sx_time, fuse_statx, fuse_kstatfs,
  fuse_file_lock, fuse_entry_out, fuse_attr_out, fuse_statx_out, fuse_open_out, fuse_write_out,
  fuse_statfs_out, fuse_getxattr_out, fuse_lk_out, fuse_init_out, cuse_init_out, fuse_bmap_out,
  fuse_ioctl_iovec, fuse_ioctl_out, fuse_poll_out, fuse_lseek_out, fuse_copy_file_range_out,
  fuse_dirent, fuse_direntplus, fuse_forget_in, fuse_forget_one, fuse_batch_forget_in,
  fuse_getattr_in, fuse_statx_in, fuse_mknod_in, fuse_mkdir_in, fuse_rename_in, fuse_rename2_in,
  fuse_link_in, fuse_setattr_in, fuse_open_in, fuse_create_in, fuse_release_in, fuse_flush_in,
  fuse_read_in, fuse_write_in, fuse_fsync_in, fuse_setxattr_in, fuse_getxattr_in, fuse_lk_in,
  fuse_access_in, fuse_init_in, cuse_init_in, fuse_interrupt_in, fuse_bmap_in, fuse_ioctl_in,
  fuse_poll_in, fuse_fallocate_in, fuse_lseek_in, fuse_copy_file_range_in, fuse_setupmapping_in,
  fuse_removemapping_in, fuse_removemapping_one, fuse_syncfs_in, fuse_notify_retrieve_in,
  fuse_notify_poll_wakeup_out, fuse_notify_inval_inode_out, fuse_notify_inval_entry_out,
  fuse_notify_delete_out, fuse_notify_store_out, fuse_notify_retrieve_out, fuse_notify_prune_out,
  fuse_ext_header, fuse_secctx_header, fuse_secctx, fuse_supp_groups, fuse_backing_map,
];
