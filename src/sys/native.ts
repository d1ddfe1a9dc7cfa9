// Loads build/Release/tsfuse_sys.node (built from native/ by `npm run build:native`) and
// describes its raw interface. Only src/sys/index.ts uses this file.
import * as fs from 'node:fs'
import * as path from 'node:path'

/** A name or path: a string is passed as UTF-8, a Buffer byte for byte. */
export type Name = string | Buffer

export interface NativeSys {
  /** Per-thread results of the stat-like calls: 32 float64 slots, then 2 uint64 (dev, ino). */
  scratch: ArrayBuffer
  constants: Record<string, number>

  /** The error a call would throw for `errno`. */
  errnoError(errno: number, syscall: string, path?: Name): Error
  /** orErrno: return -errno instead of throwing. */
  openat(dirfd: number, name: Name, flags: number, mode: number, orErrno?: boolean): number
  raiseNofileLimit(want: number): number
  fstatat(dirfd: number, name: Name, flags: number): void
  fstat(fd: number): void
  statx(dirfd: number, name: Name, flags: number, mask: number): void
  mkdirat(dirfd: number, name: Name, mode: number): void
  mknodat(dirfd: number, name: Name, mode: number, dev: number): void
  symlinkat(target: Name, dirfd: number, name: Name): void
  readlinkat(dirfd: number, name: Name): Buffer
  unlinkat(dirfd: number, name: Name, flags: number): void
  linkat(olddirfd: number, oldname: Name, newdirfd: number, newname: Name, flags: number): void
  renameat2(olddirfd: number, oldname: Name, newdirfd: number, newname: Name, flags: number): void
  fchownat(dirfd: number, name: Name, uid: number, gid: number, flags: number): void
  fchmodat(dirfd: number, name: Name, mode: number, flags: number): void
  utimensat(dirfd: number, name: Name | null, as: number, ans: number, ms: number, mns: number,
    flags: number): void
  futimens(fd: number, as: number, ans: number, ms: number, mns: number): void
  fallocate(fd: number, mode: number, offset: number, len: number): void
  lseek(fd: number, offset: number, whence: number): number
  copyFileRange(fdIn: number, offIn: number | null, fdOut: number, offOut: number | null,
    len: number, flags: number): number
  syncfs(fd: number): void
  fstatfs(fd: number): void
  /**
   * target: an fd, or a path followed (follow) or not; size -1 whole value, 0 length only.
   * orErrno: a failure returns -errno instead of throwing.
   */
  getxattr(target: number | Name, follow: boolean, name: Name, size: number, orErrno?: boolean): Buffer | number
  setxattr(target: number | Name, follow: boolean, name: Name, value: Buffer, flags: number): void
  listxattr(target: number | Name, follow: boolean, size: number): Buffer | number
  removexattr(target: number | Name, follow: boolean, name: Name): void
  flock(fd: number, op: number): void
  getlk(fd: number, cmd: number, type: number, whence: number, start: number, len: number,
    pid: number): void
  setlk(fd: number, cmd: number, type: number, whence: number, start: number, len: number,
    pid: number): void
  lockWait(fd: number, isFlock: boolean, op: number, type: number, whence: number, start: number,
    len: number, pid: number): [Promise<void>, LockWaitHandle | undefined]
  lockCancel(handle: LockWaitHandle): boolean
  socketpair(): [number, number]
  recvFd(sock: number, timeoutMs: number): number
  uringSetup(entries: number, slots: number): [UringRing, number]
  uringRegister(ring: UringRing, devFd: number, qid: number, slot: number, header: Buffer, payload: Buffer): void
  uringCommit(ring: UringRing, devFd: number, qid: number, slot: number, unique: number, now: boolean): void
  uringSubmit(ring: UringRing): void
  uringReap(ring: UringRing, out: Float64Array): number
  uringClose(ring: UringRing): void
  setAffinity(cpu: number): void
}

declare const uringBrand: unique symbol
/** An io_uring instance of native/uring.c (closed by uringClose or when collected). */
export type UringRing = { readonly [uringBrand]: true }

declare const lockWaitBrand: unique symbol
export type LockWaitHandle = { readonly [lockWaitBrand]: true }

const ADDON = path.join('build', 'Release', 'tsfuse_sys.node')

// Searched upward so that the same code works from src/sys (tests run the .ts files) and
// from dist/src/sys (the built package).
function findAddon(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, ADDON)
    if (fs.existsSync(candidate)) return candidate
    if (path.dirname(dir) === dir) {
      throw new Error(`tsfuse: ${ADDON} not found above ${__dirname}; run \`npm run build:native\``)
    }
  }
}

export const native: NativeSys = require(findAddon())
