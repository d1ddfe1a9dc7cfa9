// The numbers a path filesystem compares modes, open flags and errors with, so that a user
// needs neither fs.constants (whose members are typed optional per platform) nor magic octal.
// Values are Linux's (include/uapi/linux/stat.h, include/uapi/asm-generic/fcntl.h): tsfuse
// only runs there.
import { Errno } from '../../protocol/errors';

/** File type bits of st_mode. */
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

/** open(2) flags as OPEN, CREATE and OPENDIR deliver them. */
export const O_ACCMODE = 0o3;
export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NOCTTY = 0o400;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
export const O_DSYNC = 0o10000;
export const O_DIRECT = 0o40000;
export const O_LARGEFILE = 0o100000;
export const O_DIRECTORY = 0o200000;
export const O_NOFOLLOW = 0o400000;
export const O_NOATIME = 0o1000000;
export const O_CLOEXEC = 0o2000000;
export const O_SYNC = 0o4010000;
export const O_PATH = 0o10000000;
export const O_TMPFILE = 0o20200000;

/** rename flags (include/uapi/linux/fs.h). */
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const RENAME_WHITEOUT = 4;

/** setxattr flags (include/uapi/linux/xattr.h). */
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;

/** access(2) masks. */
export const F_OK = 0;
export const X_OK = 1;
export const W_OK = 2;
export const R_OK = 4;

/** Positive errno numbers by name (ENOENT: 2 …), for `new FuseError('ENOENT')` or comparisons. */
export const errno = Errno;
