import { constants } from 'node:fs';
import type { Attr } from '../api';
import type { Stat, Statx } from '../../sys/index';

export const { S_IFMT, S_IFDIR, S_IFREG, S_IFLNK, S_IXGRP } = constants;
// <sys/stat.h>; Node's fs.constants leaves these out.
export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
/** <fcntl.h>; not in Node's fs.constants either. */
export const O_ACCMODE = 3;
/** The permission bits chmod sets. */
export const MODE_BITS = 0o7777;

/** struct stat → struct fuse_attr; st_ino is passed on, so the mount shows the source's inode numbers. */
export function toAttr(st: Stat | Statx): Attr {
  return {
    ino: st.ino,
    size: st.size,
    blocks: st.blocks,
    atime: st.atime,
    mtime: st.mtime,
    ctime: st.ctime,
    atimensec: st.atimeNsec,
    mtimensec: st.mtimeNsec,
    ctimensec: st.ctimeNsec,
    mode: st.mode,
    nlink: st.nlink,
    uid: st.uid,
    gid: st.gid,
    rdev: st.rdev,
    blksize: st.blksize,
    flags: 0,
  };
}

/** The attributes of a negative entry, which the kernel ignores. */
export const NO_ATTR: Readonly<Attr> = toAttr({
  dev: 0, ino: 0, mode: 0, nlink: 0, uid: 0, gid: 0, rdev: 0, size: 0, blksize: 0, blocks: 0,
  atime: 0, atimeNsec: 0, mtime: 0, mtimeNsec: 0, ctime: 0, ctimeNsec: 0,
});
