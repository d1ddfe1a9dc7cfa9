// Typed wrappers for the Linux syscalls Node's fs lacks (native/, built as tsfuse_sys.node).
//
// Every call is synchronous except the blocking locks (flockWait, setlkw), which return a
// Promise. Errors are thrown as Node-style Errors: .code is the errno name as Node's fs
// spells it ('ENOENT', 'EAGAIN' for EWOULDBLOCK, 'ENOTSUP' for EOPNOTSUPP), .errno the
// positive errno number, .syscall the call, and .path the name when there is one. They carry
// no stack trace: most are answers (ENOENT, ENODATA), and capturing one cost more than the
// syscall (native/util.c).
// Numbers that the kernel keeps as 64-bit (sizes, offsets, inode numbers) are JS numbers,
// exact below 2^53; lastStatDevIno() gives the exact dev and ino as bigints.
import { native, type LockWaitHandle, type Name, type UringRing } from './native'

export type { Name, UringRing }

const c = native.constants

// open(2) flags that fs.constants lacks (O_PATH = 0o10000000 on x86 and arm).
export const O_PATH: number = c.O_PATH
export const O_TMPFILE: number = c.O_TMPFILE
export const O_NOFOLLOW: number = c.O_NOFOLLOW
export const O_DIRECTORY: number = c.O_DIRECTORY
export const O_CLOEXEC: number = c.O_CLOEXEC
export const O_NOATIME: number = c.O_NOATIME

export const AT_FDCWD: number = c.AT_FDCWD
export const AT_EMPTY_PATH: number = c.AT_EMPTY_PATH
export const AT_SYMLINK_NOFOLLOW: number = c.AT_SYMLINK_NOFOLLOW
export const AT_SYMLINK_FOLLOW: number = c.AT_SYMLINK_FOLLOW
export const AT_REMOVEDIR: number = c.AT_REMOVEDIR
export const AT_NO_AUTOMOUNT: number = c.AT_NO_AUTOMOUNT
export const AT_STATX_SYNC_AS_STAT: number = c.AT_STATX_SYNC_AS_STAT
export const AT_STATX_FORCE_SYNC: number = c.AT_STATX_FORCE_SYNC
export const AT_STATX_DONT_SYNC: number = c.AT_STATX_DONT_SYNC

export const STATX_TYPE: number = c.STATX_TYPE
export const STATX_MODE: number = c.STATX_MODE
export const STATX_NLINK: number = c.STATX_NLINK
export const STATX_UID: number = c.STATX_UID
export const STATX_GID: number = c.STATX_GID
export const STATX_ATIME: number = c.STATX_ATIME
export const STATX_MTIME: number = c.STATX_MTIME
export const STATX_CTIME: number = c.STATX_CTIME
export const STATX_INO: number = c.STATX_INO
export const STATX_SIZE: number = c.STATX_SIZE
export const STATX_BLOCKS: number = c.STATX_BLOCKS
export const STATX_BASIC_STATS: number = c.STATX_BASIC_STATS
export const STATX_BTIME: number = c.STATX_BTIME

export const RENAME_NOREPLACE: number = c.RENAME_NOREPLACE
export const RENAME_EXCHANGE: number = c.RENAME_EXCHANGE
export const RENAME_WHITEOUT: number = c.RENAME_WHITEOUT

export const FALLOC_FL_KEEP_SIZE: number = c.FALLOC_FL_KEEP_SIZE
export const FALLOC_FL_PUNCH_HOLE: number = c.FALLOC_FL_PUNCH_HOLE
export const FALLOC_FL_NO_HIDE_STALE: number = c.FALLOC_FL_NO_HIDE_STALE
export const FALLOC_FL_COLLAPSE_RANGE: number = c.FALLOC_FL_COLLAPSE_RANGE
export const FALLOC_FL_ZERO_RANGE: number = c.FALLOC_FL_ZERO_RANGE
export const FALLOC_FL_INSERT_RANGE: number = c.FALLOC_FL_INSERT_RANGE
export const FALLOC_FL_UNSHARE_RANGE: number = c.FALLOC_FL_UNSHARE_RANGE

export const SEEK_SET: number = c.SEEK_SET
export const SEEK_CUR: number = c.SEEK_CUR
export const SEEK_END: number = c.SEEK_END
export const SEEK_DATA: number = c.SEEK_DATA
export const SEEK_HOLE: number = c.SEEK_HOLE

export const XATTR_CREATE: number = c.XATTR_CREATE
export const XATTR_REPLACE: number = c.XATTR_REPLACE

export const LOCK_SH: number = c.LOCK_SH
export const LOCK_EX: number = c.LOCK_EX
export const LOCK_UN: number = c.LOCK_UN
export const LOCK_NB: number = c.LOCK_NB

export const F_GETLK: number = c.F_GETLK
export const F_SETLK: number = c.F_SETLK
export const F_SETLKW: number = c.F_SETLKW
export const F_OFD_GETLK: number = c.F_OFD_GETLK
export const F_OFD_SETLK: number = c.F_OFD_SETLK
export const F_OFD_SETLKW: number = c.F_OFD_SETLKW
export const F_RDLCK: number = c.F_RDLCK
export const F_WRLCK: number = c.F_WRLCK
export const F_UNLCK: number = c.F_UNLCK

export const UTIME_NOW: number = c.UTIME_NOW
export const UTIME_OMIT: number = c.UTIME_OMIT

// Stat-like results arrive in this per-thread scratch memory and are copied out at once.
const out = new Float64Array(native.scratch, 0, 32)
const out64 = new BigUint64Array(native.scratch, 32 * 8, 2)

/** struct stat, with the nanosecond parts of the times. */
export interface Stat {
  dev: number
  ino: number
  mode: number
  nlink: number
  uid: number
  gid: number
  rdev: number
  size: number
  blksize: number
  /** 512-byte units */
  blocks: number
  atime: number
  atimeNsec: number
  mtime: number
  mtimeNsec: number
  ctime: number
  ctimeNsec: number
}

function readStat(): Stat {
  return {
    dev: out[0], ino: out[1], mode: out[2], nlink: out[3], uid: out[4], gid: out[5],
    rdev: out[6], size: out[7], blksize: out[8], blocks: out[9],
    atime: out[10], atimeNsec: out[11], mtime: out[12], mtimeNsec: out[13],
    ctime: out[14], ctimeNsec: out[15],
  }
}

/** Opens name relative to dirfd. O_CLOEXEC is always added (as Node's fs.open does). */
export function openat(dirfd: number, name: Name, flags: number, mode = 0): number {
  return native.openat(dirfd, name, flags, mode)
}

/**
 * openat, but a failure returns -errno instead of throwing: for callers to whom failure is
 * an ordinary answer (a LOOKUP of a name that does not exist). Throwing costs more than the
 * syscall: on a 2-core VM (Node 20) a missing name took 16 us to throw and catch even without
 * a stack trace (V8 still locates the throw), against 6 us for the syscall in C.
 */
export function openatOrErrno(dirfd: number, name: Name, flags: number, mode = 0): number {
  return native.openat(dirfd, name, flags, mode, true)
}

/** The Node-style error a call would have thrown for `errno` (positive), e.g. after an *OrErrno. */
export function errnoError(errno: number, syscall: string, path?: Name): NodeJS.ErrnoException {
  return native.errnoError(errno, syscall, path)
}

/** flags: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH (name '' stats dirfd itself, O_PATH included). */
export function fstatat(dirfd: number, name: Name, flags = 0): Stat {
  native.fstatat(dirfd, name, flags)
  return readStat()
}

/** fstat(2); works on O_PATH fds. */
export function fstat(fd: number): Stat {
  native.fstat(fd)
  return readStat()
}

/**
 * The exact st_dev and st_ino of the latest fstatat/fstat/statx on this thread, for file
 * systems whose inode numbers exceed 2^53 (overlayfs with xino, some NFS servers), where
 * Stat.ino is rounded. Read it right after the stat call.
 */
export function lastStatDevIno(): { dev: bigint; ino: bigint } {
  return { dev: out64[0], ino: out64[1] }
}

/** struct statx; fields outside `mask` are whatever the kernel left (usually 0). */
export interface Statx {
  mask: number
  blksize: number
  attributes: number
  nlink: number
  uid: number
  gid: number
  mode: number
  ino: number
  size: number
  blocks: number
  attributesMask: number
  atime: number
  atimeNsec: number
  btime: number
  btimeNsec: number
  ctime: number
  ctimeNsec: number
  mtime: number
  mtimeNsec: number
  rdev: number
  dev: number
}

export function statx(dirfd: number, name: Name, flags = 0,
  mask: number = STATX_BASIC_STATS | STATX_BTIME): Statx {
  native.statx(dirfd, name, flags, mask)
  return {
    mask: out[0], blksize: out[1], attributes: out[2], nlink: out[3], uid: out[4], gid: out[5],
    mode: out[6], ino: out[7], size: out[8], blocks: out[9], attributesMask: out[10],
    atime: out[11], atimeNsec: out[12], btime: out[13], btimeNsec: out[14],
    ctime: out[15], ctimeNsec: out[16], mtime: out[17], mtimeNsec: out[18],
    rdev: out[19], dev: out[20],
  }
}

export function mkdirat(dirfd: number, name: Name, mode: number): void {
  native.mkdirat(dirfd, name, mode)
}

/**
 * mode includes the file type (S_IFIFO, S_IFCHR...). dev is a glibc dev_t; for majors
 * below 4096 it equals the kernel's 32-bit encoding FUSE uses for rdev.
 */
export function mknodat(dirfd: number, name: Name, mode: number, dev = 0): void {
  native.mknodat(dirfd, name, mode, dev)
}

export function symlinkat(target: Name, dirfd: number, name: Name): void {
  native.symlinkat(target, dirfd, name)
}

/** The target, byte for byte. name '' reads the symlink an O_PATH|O_NOFOLLOW fd refers to. */
export function readlinkat(dirfd: number, name: Name): Buffer {
  return native.readlinkat(dirfd, name)
}

/** flags: AT_REMOVEDIR to remove a directory. */
export function unlinkat(dirfd: number, name: Name, flags = 0): void {
  native.unlinkat(dirfd, name, flags)
}

/**
 * flags: AT_SYMLINK_FOLLOW, or AT_EMPTY_PATH with oldname '' to link the file olddirfd
 * refers to (an O_TMPFILE or O_PATH fd; needs CAP_DAC_READ_SEARCH).
 */
export function linkat(olddirfd: number, oldname: Name, newdirfd: number, newname: Name,
  flags = 0): void {
  native.linkat(olddirfd, oldname, newdirfd, newname, flags)
}

/** flags: RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT. */
export function renameat2(olddirfd: number, oldname: Name, newdirfd: number, newname: Name,
  flags = 0): void {
  native.renameat2(olddirfd, oldname, newdirfd, newname, flags)
}

/** uid or gid -1 leaves it unchanged. flags: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH. */
export function fchownat(dirfd: number, name: Name, uid: number, gid: number, flags = 0): void {
  native.fchownat(dirfd, name, uid, gid, flags)
}

/**
 * chmod relative to dirfd, with flags honoured: uses fchmodat2 (Linux 6.6+), so
 * `fchmodat(opathFd, '', mode, AT_EMPTY_PATH)` changes the file an O_PATH fd refers to
 * (fchmod(2) gives EBADF there) and AT_SYMLINK_NOFOLLOW on a symlink gives EOPNOTSUPP
 * (Linux symlinks have no mode). On older kernels AT_EMPTY_PATH goes through
 * /proc/self/fd/N and AT_SYMLINK_NOFOLLOW through glibc's emulation, with the same results.
 */
export function fchmodat(dirfd: number, name: Name, mode: number, flags = 0): void {
  native.fchmodat(dirfd, name, mode, flags)
}

/**
 * Sets atime and mtime; a Nsec of UTIME_NOW or UTIME_OMIT sets that time to now or leaves
 * it. name null acts on dirfd itself, but not on an O_PATH fd (EBADF): use '' with
 * AT_EMPTY_PATH for those. flags: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH.
 */
export function utimensat(dirfd: number, name: Name | null, atimeSec: number, atimeNsec: number,
  mtimeSec: number, mtimeNsec: number, flags = 0): void {
  native.utimensat(dirfd, name, atimeSec, atimeNsec, mtimeSec, mtimeNsec, flags)
}

export function futimens(fd: number, atimeSec: number, atimeNsec: number, mtimeSec: number,
  mtimeNsec: number): void {
  native.futimens(fd, atimeSec, atimeNsec, mtimeSec, mtimeNsec)
}

/** mode: 0 or FALLOC_FL_* flags. */
export function fallocate(fd: number, mode: number, offset: number, len: number): void {
  native.fallocate(fd, mode, offset, len)
}

/** Returns the new offset. SEEK_DATA/SEEK_HOLE past the last data give ENXIO. */
export function lseek(fd: number, offset: number, whence: number): number {
  return native.lseek(fd, offset, whence)
}

/**
 * Copies up to len bytes in the kernel; returns the count (0 at end of input).
 * An offset of null uses and advances that fd's file position.
 */
export function copyFileRange(fdIn: number, offIn: number | null, fdOut: number,
  offOut: number | null, len: number, flags = 0): number {
  return native.copyFileRange(fdIn, offIn, fdOut, offOut, len, flags)
}

/**
 * Raises the open-file limit (RLIMIT_NOFILE) to at least `want` where the
 * process may (root can also raise the hard limit), and returns the soft limit
 * now in force.
 */
export function raiseNofileLimit(want: number): number {
  return native.raiseNofileLimit(want)
}

export function syncfs(fd: number): void {
  native.syncfs(fd)
}

/** struct statfs; the first eight are what FUSE_STATFS replies with. */
export interface StatFs {
  bsize: number
  frsize: number
  blocks: number
  bfree: number
  bavail: number
  files: number
  ffree: number
  namelen: number
  /** f_type, the file system's magic number */
  type: number
  /** f_flags, ST_* mount flags */
  flags: number
}

/** Works on O_PATH fds too. */
export function fstatfs(fd: number): StatFs {
  native.fstatfs(fd)
  return {
    bsize: out[0], frsize: out[1], blocks: out[2], bfree: out[3], bavail: out[4],
    files: out[5], ffree: out[6], namelen: out[7], type: out[8], flags: out[9],
  }
}

// ---- extended attributes ----
// Three forms, as in libc: f* on an open fd (an O_PATH fd gives EBADF, measured on 6.18);
// plain on a path, following symlinks: the form for /proc/self/fd/N, which is how
// passthrough_hp reaches the file behind an O_PATH fd (a symlink's own, if the fd is one);
// and l* on a path, not following the last symlink.
//
// get/list without size return the whole value or list (at most 64 KiB, XATTR_SIZE_MAX);
// with size > 0 they return at most size bytes and fail with ERANGE if it is longer, which
// is what FUSE_GETXATTR/LISTXATTR ask for. The *Size forms are the size-0 query.

function xattrSize(size: number | undefined): number {
  if (size === undefined) return -1
  if (!(size > 0)) throw new RangeError('xattr size must be > 0; use the *Size function to query')
  return size
}

export function fgetxattr(fd: number, name: Name, size?: number): Buffer {
  return native.getxattr(fd, false, name, xattrSize(size)) as Buffer
}
export function getxattr(path: Name, name: Name, size?: number): Buffer {
  return native.getxattr(path, true, name, xattrSize(size)) as Buffer
}
export function lgetxattr(path: Name, name: Name, size?: number): Buffer {
  return native.getxattr(path, false, name, xattrSize(size)) as Buffer
}
/**
 * The whole value, or -errno instead of throwing (-ENODATA: not set): for the GETXATTR of
 * security.capability the kernel sends before the first write to each new file, which is
 * almost always not set (openatOrErrno says why).
 */
export function fgetxattrOrErrno(fd: number, name: Name): Buffer | number {
  return native.getxattr(fd, false, name, -1, true)
}
export function getxattrOrErrno(path: Name, name: Name): Buffer | number {
  return native.getxattr(path, true, name, -1, true)
}
export function fgetxattrSize(fd: number, name: Name): number {
  return native.getxattr(fd, false, name, 0) as number
}
export function getxattrSize(path: Name, name: Name): number {
  return native.getxattr(path, true, name, 0) as number
}
export function lgetxattrSize(path: Name, name: Name): number {
  return native.getxattr(path, false, name, 0) as number
}

/** flags: 0, XATTR_CREATE (EEXIST if set) or XATTR_REPLACE (ENODATA if not). */
export function fsetxattr(fd: number, name: Name, value: Buffer, flags = 0): void {
  native.setxattr(fd, false, name, value, flags)
}
export function setxattr(path: Name, name: Name, value: Buffer, flags = 0): void {
  native.setxattr(path, true, name, value, flags)
}
export function lsetxattr(path: Name, name: Name, value: Buffer, flags = 0): void {
  native.setxattr(path, false, name, value, flags)
}

/** The names, each followed by a NUL byte (as the kernel and FUSE_LISTXATTR have them). */
export function flistxattr(fd: number, size?: number): Buffer {
  return native.listxattr(fd, false, xattrSize(size)) as Buffer
}
export function listxattr(path: Name, size?: number): Buffer {
  return native.listxattr(path, true, xattrSize(size)) as Buffer
}
export function llistxattr(path: Name, size?: number): Buffer {
  return native.listxattr(path, false, xattrSize(size)) as Buffer
}
export function flistxattrSize(fd: number): number {
  return native.listxattr(fd, false, 0) as number
}
export function listxattrSize(path: Name): number {
  return native.listxattr(path, true, 0) as number
}
export function llistxattrSize(path: Name): number {
  return native.listxattr(path, false, 0) as number
}

/** Splits a list from *listxattr into names. */
export function xattrNames(list: Buffer): string[] {
  // A NUL byte never occurs inside a UTF-8 sequence, so splitting the decoded text is safe.
  return list.toString().split('\0').slice(0, -1)
}

export function fremovexattr(fd: number, name: Name): void {
  native.removexattr(fd, false, name)
}
export function removexattr(path: Name, name: Name): void {
  native.removexattr(path, true, name)
}
export function lremovexattr(path: Name, name: Name): void {
  native.removexattr(path, false, name)
}

// ---- locks ----

/** struct flock. For the F_OFD_* commands pid must be 0 (getlk reports -1 for OFD holders). */
export interface Flock {
  /** F_RDLCK, F_WRLCK or F_UNLCK */
  type: number
  /** SEEK_SET, SEEK_CUR or SEEK_END */
  whence: number
  start: number
  /** 0 = to the end of the file, however far it grows */
  len: number
  pid: number
}

export type LockRequest = Pick<Flock, 'type'> & Partial<Flock>

function lockArgs(lock: LockRequest): [number, number, number, number, number] {
  return [lock.type, lock.whence ?? SEEK_SET, lock.start ?? 0, lock.len ?? 0, lock.pid ?? 0]
}

/**
 * flock(2) without waiting: op is LOCK_UN, or LOCK_SH/LOCK_EX with LOCK_NB (a held lock
 * gives EAGAIN, Linux's EWOULDBLOCK). A blocking op throws EINVAL: use flockWait.
 */
export function flock(fd: number, op: number): void {
  native.flock(fd, op)
}

/**
 * Which lock would block `lock` (cmd F_GETLK or F_OFD_GETLK); type F_UNLCK if none.
 */
export function getlk(fd: number, cmd: number, lock: LockRequest): Flock {
  native.getlk(fd, cmd, ...lockArgs(lock))
  return { type: out[0], whence: out[1], start: out[2], len: out[3], pid: out[4] }
}

/**
 * Takes or releases a record lock without waiting (cmd F_SETLK or F_OFD_SETLK); a
 * conflicting lock gives EAGAIN (or EACCES, which POSIX also allows). For waiting: setlkw.
 */
export function setlk(fd: number, cmd: number, lock: LockRequest): void {
  native.setlk(fd, cmd, ...lockArgs(lock))
}

// The blocking locks wait on a thread of their own (native/lock_wait.c says why) and
// settle when the syscall returns.
function wait(handleAndPromise: [Promise<void>, LockWaitHandle | undefined],
  signal: AbortSignal | undefined): Promise<void> {
  const [promise, handle] = handleAndPromise
  if (handle === undefined || signal === undefined) return promise
  let timer: NodeJS.Timeout | undefined
  // A signal that lands just before the waiting thread enters the syscall is lost, so
  // cancelling repeats until the thread has left it.
  const cancel = (): void => {
    if (native.lockCancel(handle)) timer = setTimeout(cancel, 10)
  }
  if (signal.aborted) cancel()
  else signal.addEventListener('abort', cancel, { once: true })
  return promise.finally(() => {
    signal.removeEventListener('abort', cancel)
    clearTimeout(timer)
  })
}

/**
 * flock(2) that waits: op LOCK_SH or LOCK_EX. Aborting `signal` (FUSE INTERRUPT) ends the
 * wait with EINTR, unless the lock was granted first: then it resolves and the lock is held.
 */
export function flockWait(fd: number, op: number, signal?: AbortSignal): Promise<void> {
  return wait(native.lockWait(fd, true, op, 0, 0, 0, 0, 0), signal)
}

/**
 * fcntl record lock that waits (cmd F_SETLKW or F_OFD_SETLKW); EDEADLK for a classic lock
 * that would deadlock. `signal` as for flockWait.
 */
export function setlkw(fd: number, cmd: number, lock: LockRequest,
  signal?: AbortSignal): Promise<void> {
  return wait(native.lockWait(fd, false, cmd, ...lockArgs(lock)), signal)
}

/** An AF_UNIX stream socket pair, both ends close-on-exec. */
export function socketpair(): [number, number] {
  return native.socketpair()
}

/**
 * Waits up to `timeoutMs` (0: only what is already queued) for one fd sent as SCM_RIGHTS on
 * `sock` (fusermount3's `_FUSE_COMMFD` protocol) and returns it, close-on-exec; -1 when the
 * peer closed the socket without sending one. Throws ETIMEDOUT when nothing came.
 */
export function recvFd(sock: number, timeoutMs: number): number {
  return native.recvFd(sock, timeoutMs)
}

// ---- FUSE over io_uring (native/uring.c; the protocol side is src/kernel/uring.ts) ----

/**
 * A ring of `entries` 128-byte SQEs with room for `slots` registered FUSE ring entries, and the
 * non-blocking eventfd its completions signal.
 */
export function uringSetup(entries: number, slots: number): [UringRing, number] {
  return native.uringSetup(entries, slots)
}

/** Queues FUSE_IO_URING_CMD_REGISTER of one ring entry (completes with its first request). */
export function uringRegister(ring: UringRing, devFd: number, qid: number, slot: number, header: Buffer, payload: Buffer): void {
  native.uringRegister(ring, devFd, qid, slot, header, payload)
}

/** Queues FUSE_IO_URING_CMD_COMMIT_AND_FETCH for the entry in `slot`; `now` submits at once. */
export function uringCommit(ring: UringRing, devFd: number, qid: number, slot: number, unique: number, now: boolean): void {
  native.uringCommit(ring, devFd, qid, slot, unique, now)
}

/** Submits the queued commands without waiting for any completion. */
export function uringSubmit(ring: UringRing): void {
  native.uringSubmit(ring)
}

/** Moves completions into `out` as (user_data, res) pairs; returns how many. */
export function uringReap(ring: UringRing, out: Float64Array): number {
  return native.uringReap(ring, out)
}

export function uringClose(ring: UringRing): void {
  native.uringClose(ring)
}

/** Pins the calling thread to one CPU (sched_setaffinity). */
export function setAffinity(cpu: number): void {
  native.setAffinity(cpu)
}
