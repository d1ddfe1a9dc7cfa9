// src/sys on real files: each call's success and its errno errors.
import t, { type Test } from 'tap'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { setTimeout as delay, setImmediate as tick } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import * as sys from '../src/sys'
import { tempDir } from './helpers/tmp'

const { errno } = os.constants
const S_IFMT = fs.constants.S_IFMT

/** A fresh directory under os.tmpdir(), an O_PATH fd on it, and fds closed at teardown. */
function workdir(t: Test) {
  const dir = tempDir(t, 'tsfuse-sys-')
  const fds: number[] = []
  const track = (fd: number): number => {
    fds.push(fd)
    return fd
  }
  const dirfd = track(sys.openat(sys.AT_FDCWD, dir, sys.O_PATH | sys.O_DIRECTORY))
  t.teardown(() => {
    for (const fd of fds) {
      try {
        fs.closeSync(fd)
      } catch {
        // closed by the test itself
      }
    }
  })
  const file = (name: string, content: string | Buffer = ''): string => {
    const p = path.join(dir, name)
    fs.writeFileSync(p, content)
    return p
  }
  const open = (name: string, flags: number, mode = 0o644): number =>
    track(sys.openat(dirfd, name, flags, mode))
  return { dir, dirfd, track, file, open }
}

t.test('errors are Node-style errno errors', async (t) => {
  const w = workdir(t)
  const err = t.throws(() => sys.openat(w.dirfd, 'missing', fs.constants.O_RDONLY)) as NodeJS.ErrnoException
  t.ok(err instanceof Error)
  t.equal(err.code, 'ENOENT')
  t.equal(err.errno, errno.ENOENT)
  t.equal(err.syscall, 'openat')
  t.equal(err.path, 'missing')
  t.equal(err.message, "ENOENT: no such file or directory, openat 'missing'")
  t.throws(() => sys.fstat(-1), { code: 'EBADF', errno: errno.EBADF, syscall: 'fstat' })
})

t.test('openatOrErrno: -errno instead of a throw; errnoError: the error it stands for', async (t) => {
  const w = workdir(t)
  t.equal(sys.openatOrErrno(w.dirfd, 'missing', fs.constants.O_RDONLY), -errno.ENOENT)
  t.equal(sys.openatOrErrno(-1, 'missing', fs.constants.O_RDONLY), -errno.EBADF)
  const fd = w.track(sys.openatOrErrno(w.dirfd, 'new', fs.constants.O_CREAT | fs.constants.O_WRONLY, 0o600))
  t.ok(fd >= 0)
  t.equal(fs.fstatSync(fd).mode & 0o777, 0o600)
  t.throws(() => sys.openatOrErrno(w.dirfd, 'a\0b', 0), { code: 'EINVAL' }, 'a bad name still throws')
  const err = sys.errnoError(errno.ENOENT, 'openat', 'missing')
  t.ok(err instanceof Error)
  t.match(err, { code: 'ENOENT', errno: errno.ENOENT, syscall: 'openat', path: 'missing',
    message: "ENOENT: no such file or directory, openat 'missing'" })
  t.notOk('path' in sys.errnoError(errno.EIO, 'read'), 'no path when none is given')
})

t.test('errors are built without a stack trace, and leave Error.stackTraceLimit as it was', async (t) => {
  const w = workdir(t)
  const before = Error.stackTraceLimit
  t.teardown(() => { Error.stackTraceLimit = before })
  for (const limit of [10, 3, Infinity]) {
    Error.stackTraceLimit = limit
    const err = t.throws(() => sys.openat(w.dirfd, 'missing', fs.constants.O_RDONLY)) as Error
    t.equal(Error.stackTraceLimit, limit, `limit ${limit} restored`)
    t.notMatch(err.stack ?? '', /\n\s+at /, 'no frames')
    t.match(err.stack ?? '', /^Error: ENOENT: no such file or directory, openat 'missing'/)
  }
})

t.test('names: string or Buffer, never silently cut', async (t) => {
  const w = workdir(t)
  w.file('a')
  t.equal(sys.fstatat(w.dirfd, Buffer.from('a')).size, 0)
  // Bytes that are not UTF-8 name a file as they are.
  const raw = Buffer.from([0x66, 0xff, 0x66])
  sys.mkdirat(w.dirfd, raw, 0o755)
  t.ok(fs.readdirSync(w.dir, { encoding: 'buffer' }).some((n) => n.equals(raw)))
  t.throws(() => sys.fstatat(w.dirfd, 'a\0b'), { code: 'EINVAL' })
  t.throws(() => sys.fstatat(w.dirfd, Buffer.from('a\0b')), { code: 'EINVAL' })
  t.throws(() => sys.fstatat(w.dirfd, 'x'.repeat(5000)), { code: 'ENAMETOOLONG' })
  t.throws(() => sys.fstatat(w.dirfd, 'x'.repeat(300)), { code: 'ENAMETOOLONG' }) // from the kernel
  t.throws(() => sys.fstatat(w.dirfd, 42 as unknown as string), TypeError)
  t.throws(() => sys.fstatat('3' as unknown as number, 'a'), TypeError)
})

t.test('openat', async (t) => {
  const w = workdir(t)
  w.file('f', 'hello')
  fs.symlinkSync('f', path.join(w.dir, 'link'))
  fs.mkdirSync(path.join(w.dir, 'sub'))

  const fd = w.open('f', fs.constants.O_RDONLY)
  t.equal(fs.readFileSync(fd, 'utf8'), 'hello')
  // O_CLOEXEC is always added: "flags:" in fdinfo is octal, O_CLOEXEC = 02000000.
  const flags = /flags:\s+(\d+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))
  t.ok(flags && (parseInt(flags[1], 8) & sys.O_CLOEXEC) !== 0, 'O_CLOEXEC set')

  t.equal(sys.O_PATH, 0o10000000)
  t.equal(sys.AT_FDCWD, -100)
  // O_PATH dirfd + name, relative to an O_PATH dirfd.
  const sub = w.open('sub', sys.O_PATH | sys.O_DIRECTORY)
  fs.writeFileSync(path.join(w.dir, 'sub', 'g'), 'in sub')
  t.equal(fs.readFileSync(w.open('sub/g', fs.constants.O_RDONLY), 'utf8'), 'in sub')
  t.equal(sys.fstatat(sub, 'g').size, 6)

  t.throws(() => w.open('link', fs.constants.O_RDONLY | sys.O_NOFOLLOW), { code: 'ELOOP' })
  const linkfd = w.open('link', sys.O_PATH | sys.O_NOFOLLOW)
  t.equal(sys.fstat(linkfd).mode & S_IFMT, fs.constants.S_IFLNK)
  t.equal(sys.readlinkat(linkfd, '').toString(), 'f')
  t.throws(() => w.open('f', sys.O_DIRECTORY), { code: 'ENOTDIR' })
  t.throws(() => w.open('f', fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY), { code: 'EEXIST' })

  const created = w.open('new', fs.constants.O_CREAT | fs.constants.O_WRONLY, 0o600)
  t.equal(sys.fstat(created).mode & 0o777, 0o600 & ~process.umask())

  // O_TMPFILE: an unnamed file that linkat(AT_EMPTY_PATH) can give a name.
  const tmp = w.open('.', sys.O_TMPFILE | fs.constants.O_RDWR, 0o644)
  fs.writeSync(tmp, 'tmp')
  t.same(fs.readdirSync(w.dir).sort(), ['f', 'link', 'new', 'sub'], 'unnamed')
  sys.linkat(tmp, '', w.dirfd, 'named', sys.AT_EMPTY_PATH)
  t.equal(fs.readFileSync(path.join(w.dir, 'named'), 'utf8'), 'tmp')
})

t.test('fstatat, fstat, statx', async (t) => {
  const w = workdir(t)
  const p = w.file('f', 'x'.repeat(5000))
  fs.utimesSync(p, 1_700_000_000.25, 1_600_000_000.5)
  fs.symlinkSync('f', path.join(w.dir, 'link'))

  const st = sys.fstatat(w.dirfd, 'f', sys.AT_SYMLINK_NOFOLLOW)
  const ref = fs.lstatSync(p, { bigint: true })
  t.same(st, {
    dev: Number(ref.dev), ino: Number(ref.ino), mode: Number(ref.mode), nlink: Number(ref.nlink),
    uid: Number(ref.uid), gid: Number(ref.gid), rdev: Number(ref.rdev), size: 5000,
    blksize: Number(ref.blksize), blocks: Number(ref.blocks),
    atime: Number(ref.atimeNs / 1_000_000_000n), atimeNsec: Number(ref.atimeNs % 1_000_000_000n),
    mtime: Number(ref.mtimeNs / 1_000_000_000n), mtimeNsec: Number(ref.mtimeNs % 1_000_000_000n),
    ctime: Number(ref.ctimeNs / 1_000_000_000n), ctimeNsec: Number(ref.ctimeNs % 1_000_000_000n),
  })
  t.same(sys.lastStatDevIno(), { dev: ref.dev, ino: ref.ino })

  t.equal(sys.fstatat(w.dirfd, 'link', sys.AT_SYMLINK_NOFOLLOW).mode & S_IFMT, fs.constants.S_IFLNK)
  t.equal(sys.fstatat(w.dirfd, 'link').ino, st.ino, 'follows without AT_SYMLINK_NOFOLLOW')
  t.equal(sys.fstatat(sys.AT_FDCWD, p).ino, st.ino)
  const opath = w.open('f', sys.O_PATH)
  t.equal(sys.fstatat(opath, '', sys.AT_EMPTY_PATH).ino, st.ino)
  t.equal(sys.fstat(opath).ino, st.ino)
  t.throws(() => sys.fstatat(opath, ''), { code: 'ENOENT' })
  t.throws(() => sys.fstatat(w.dirfd, 'missing'), { code: 'ENOENT', syscall: 'fstatat', path: 'missing' })
  t.throws(() => sys.fstatat(opath, 'x'), { code: 'ENOTDIR' })
  t.throws(() => sys.fstat(123456), { code: 'EBADF' })

  const sx = sys.statx(w.dirfd, 'f', sys.AT_SYMLINK_NOFOLLOW)
  t.equal(sx.mask & sys.STATX_BASIC_STATS, sys.STATX_BASIC_STATS)
  t.equal(sx.ino, st.ino)
  t.equal(sx.dev, st.dev)
  t.equal(sx.size, 5000)
  t.equal(sx.mtime, 1_600_000_000)
  t.equal(sx.mtimeNsec, 500_000_000)
  if (sx.mask & sys.STATX_BTIME) t.equal(sx.btime, Number(ref.birthtimeMs / 1000n))
  t.throws(() => sys.statx(w.dirfd, 'missing'), { code: 'ENOENT', syscall: 'statx' })
})

t.test('mkdirat, mknodat, symlinkat, readlinkat', async (t) => {
  const w = workdir(t)
  sys.mkdirat(w.dirfd, 'd', 0o750)
  t.equal(fs.statSync(path.join(w.dir, 'd')).mode & 0o7777, 0o750 & ~process.umask())
  t.throws(() => sys.mkdirat(w.dirfd, 'd', 0o755), { code: 'EEXIST', syscall: 'mkdirat' })
  t.throws(() => sys.mkdirat(w.dirfd, 'no/such', 0o755), { code: 'ENOENT' })

  sys.mknodat(w.dirfd, 'fifo', fs.constants.S_IFIFO | 0o644)
  t.ok(fs.lstatSync(path.join(w.dir, 'fifo')).isFIFO())
  sys.mknodat(w.dirfd, 'plain', fs.constants.S_IFREG | 0o644)
  t.ok(fs.lstatSync(path.join(w.dir, 'plain')).isFile())
  t.throws(() => sys.mknodat(w.dirfd, 'fifo', fs.constants.S_IFIFO | 0o644), { code: 'EEXIST' })
  // The dev_t FUSE_MKNOD carries is the one mknodat takes: 1:3 is /dev/null.
  sys.mknodat(w.dirfd, 'null', fs.constants.S_IFCHR | 0o666, (1 << 8) | 3)
  t.equal(sys.fstatat(w.dirfd, 'null').rdev, fs.statSync('/dev/null').rdev)

  sys.symlinkat('../some/where', w.dirfd, 'l')
  t.equal(fs.readlinkSync(path.join(w.dir, 'l')), '../some/where')
  const bytes = Buffer.from([0x2f, 0xfe, 0x80, 0x41])
  sys.symlinkat(bytes, w.dirfd, Buffer.from('raw'))
  t.same(sys.readlinkat(w.dirfd, 'raw'), bytes)
  t.throws(() => sys.symlinkat('x', w.dirfd, 'l'), { code: 'EEXIST', syscall: 'symlinkat' })
  t.throws(() => sys.readlinkat(w.dirfd, 'd'), { code: 'EINVAL', syscall: 'readlinkat' })
  t.throws(() => sys.readlinkat(w.dirfd, 'missing'), { code: 'ENOENT' })
})

t.test('unlinkat, linkat', async (t) => {
  const w = workdir(t)
  w.file('f', 'data')
  sys.linkat(w.dirfd, 'f', w.dirfd, 'f2')
  t.equal(sys.fstatat(w.dirfd, 'f').nlink, 2)
  t.throws(() => sys.linkat(w.dirfd, 'f', w.dirfd, 'f2'), { code: 'EEXIST', syscall: 'linkat' })
  t.throws(() => sys.linkat(w.dirfd, 'missing', w.dirfd, 'x'), { code: 'ENOENT' })
  // AT_SYMLINK_FOLLOW links the target rather than the symlink.
  fs.symlinkSync('f', path.join(w.dir, 'l'))
  sys.linkat(w.dirfd, 'l', w.dirfd, 'viaLink', sys.AT_SYMLINK_FOLLOW)
  t.equal(sys.fstatat(w.dirfd, 'viaLink', sys.AT_SYMLINK_NOFOLLOW).ino, sys.fstatat(w.dirfd, 'f').ino)

  sys.unlinkat(w.dirfd, 'f2')
  t.equal(sys.fstatat(w.dirfd, 'f').nlink, 2)
  t.throws(() => sys.unlinkat(w.dirfd, 'f2'), { code: 'ENOENT', syscall: 'unlinkat' })
  fs.mkdirSync(path.join(w.dir, 'd'))
  t.throws(() => sys.unlinkat(w.dirfd, 'd'), { code: 'EISDIR' })
  t.throws(() => sys.unlinkat(w.dirfd, 'f', sys.AT_REMOVEDIR), { code: 'ENOTDIR' })
  fs.writeFileSync(path.join(w.dir, 'd', 'x'), '')
  t.throws(() => sys.unlinkat(w.dirfd, 'd', sys.AT_REMOVEDIR), { code: 'ENOTEMPTY' })
  fs.unlinkSync(path.join(w.dir, 'd', 'x'))
  sys.unlinkat(w.dirfd, 'd', sys.AT_REMOVEDIR)
  t.notOk(fs.existsSync(path.join(w.dir, 'd')))
})

t.test('renameat2', async (t) => {
  const w = workdir(t)
  w.file('a', 'A')
  w.file('b', 'B')
  const read = (n: string): string => fs.readFileSync(path.join(w.dir, n), 'utf8')
  t.throws(() => sys.renameat2(w.dirfd, 'a', w.dirfd, 'b', sys.RENAME_NOREPLACE),
    { code: 'EEXIST', syscall: 'renameat2' })
  t.equal(read('b'), 'B')
  sys.renameat2(w.dirfd, 'a', w.dirfd, 'b', sys.RENAME_EXCHANGE)
  t.equal(read('a'), 'B')
  t.equal(read('b'), 'A')
  t.throws(() => sys.renameat2(w.dirfd, 'a', w.dirfd, 'missing', sys.RENAME_EXCHANGE), { code: 'ENOENT' })
  sys.renameat2(w.dirfd, 'a', w.dirfd, 'c', sys.RENAME_NOREPLACE)
  t.equal(read('c'), 'B')
  sys.renameat2(w.dirfd, 'c', w.dirfd, 'b')
  t.equal(read('b'), 'B')
  t.notOk(fs.existsSync(path.join(w.dir, 'c')))
  t.throws(() => sys.renameat2(w.dirfd, 'b', w.dirfd, 'x', sys.RENAME_NOREPLACE | sys.RENAME_EXCHANGE),
    { code: 'EINVAL' })
})

t.test('fchownat, fchmodat', async (t) => {
  const w = workdir(t)
  const p = w.file('f')
  fs.symlinkSync('f', path.join(w.dir, 'l'))
  if (process.getuid?.() === 0) {
    sys.fchownat(w.dirfd, 'f', 1234, 5678)
    t.match(fs.statSync(p), { uid: 1234, gid: 5678 })
    sys.fchownat(w.dirfd, 'f', -1, 42)
    t.match(fs.statSync(p), { uid: 1234, gid: 42 })
    sys.fchownat(w.dirfd, 'l', 7, 7, sys.AT_SYMLINK_NOFOLLOW)
    t.match(fs.lstatSync(path.join(w.dir, 'l')), { uid: 7, gid: 7 })
    t.match(fs.statSync(p), { uid: 1234, gid: 42 })
    const opath = w.open('f', sys.O_PATH)
    sys.fchownat(opath, '', 0, 0, sys.AT_EMPTY_PATH)
    t.match(fs.statSync(p), { uid: 0, gid: 0 })
  }
  t.throws(() => sys.fchownat(w.dirfd, 'missing', 0, 0), { code: 'ENOENT', syscall: 'fchownat' })

  sys.fchmodat(w.dirfd, 'f', 0o640)
  t.equal(fs.statSync(p).mode & 0o7777, 0o640)
  sys.fchmodat(w.dirfd, 'l', 0o600) // follows the symlink
  t.equal(fs.statSync(p).mode & 0o7777, 0o600)
  // An O_PATH fd: fchmod(2) refuses it, AT_EMPTY_PATH does not.
  const opath = w.open('f', sys.O_PATH)
  t.throws(() => fs.fchmodSync(opath, 0o644), { code: 'EBADF' })
  sys.fchmodat(opath, '', 0o4711, sys.AT_EMPTY_PATH)
  t.equal(fs.statSync(p).mode & 0o7777, 0o4711)
  t.throws(() => sys.fchmodat(w.dirfd, 'l', 0o644, sys.AT_SYMLINK_NOFOLLOW), { code: 'ENOTSUP' })
  t.throws(() => sys.fchmodat(w.dirfd, 'missing', 0o644), { code: 'ENOENT', syscall: 'fchmodat' })
})

t.test('utimensat, futimens', async (t) => {
  const w = workdir(t)
  const p = w.file('f')
  const ns = (name: string): { atime: bigint; mtime: bigint } => {
    const st = fs.lstatSync(path.join(w.dir, name), { bigint: true })
    return { atime: st.atimeNs, mtime: st.mtimeNs }
  }
  sys.utimensat(w.dirfd, 'f', 1000, 1, 2000, 999_999_999)
  t.same(ns('f'), { atime: 1000_000_000_001n, mtime: 2000_999_999_999n })
  sys.utimensat(w.dirfd, 'f', 0, sys.UTIME_OMIT, 3000, 5)
  t.same(ns('f'), { atime: 1000_000_000_001n, mtime: 3000_000_000_005n })
  sys.utimensat(w.dirfd, 'f', 0, sys.UTIME_NOW, 0, sys.UTIME_OMIT)
  t.ok(ns('f').atime > 1_600_000_000_000_000_000n, 'UTIME_NOW')
  t.equal(ns('f').mtime, 3000_000_000_005n)
  // A negative time (before 1970).
  sys.utimensat(w.dirfd, 'f', -10, 0, -20, 0)
  t.same(ns('f'), { atime: -10_000_000_000n, mtime: -20_000_000_000n })

  fs.symlinkSync('f', path.join(w.dir, 'l'))
  sys.utimensat(w.dirfd, 'l', 5, 0, 6, 0, sys.AT_SYMLINK_NOFOLLOW)
  t.same(ns('l'), { atime: 5_000_000_000n, mtime: 6_000_000_000n })
  t.same(ns('f'), { atime: -10_000_000_000n, mtime: -20_000_000_000n })

  const fd = w.open('f', fs.constants.O_RDONLY)
  sys.utimensat(fd, null, 7, 0, 8, 0)
  t.same(ns('f'), { atime: 7_000_000_000n, mtime: 8_000_000_000n })
  const opath = w.open('f', sys.O_PATH)
  t.throws(() => sys.utimensat(opath, null, 1, 0, 1, 0), { code: 'EBADF' })
  sys.utimensat(opath, '', 9, 0, 10, 0, sys.AT_EMPTY_PATH)
  t.same(ns('f'), { atime: 9_000_000_000n, mtime: 10_000_000_000n })
  sys.futimens(fd, 11, 0, 0, sys.UTIME_OMIT)
  t.same(ns('f'), { atime: 11_000_000_000n, mtime: 10_000_000_000n })
  t.throws(() => sys.utimensat(w.dirfd, 'f', 0, 2_000_000_000, 0, 0), { code: 'EINVAL' })
  t.throws(() => sys.utimensat(w.dirfd, 'missing', 0, 0, 0, 0), { code: 'ENOENT', syscall: 'utimensat' })
  t.throws(() => sys.futimens(opath, 0, 0, 0, 0), { code: 'EBADF', syscall: 'futimens' })
  t.ok(p)
})

t.test('fallocate, lseek SEEK_DATA/SEEK_HOLE', async (t) => {
  const w = workdir(t)
  w.file('f')
  const fd = w.open('f', fs.constants.O_RDWR)
  const MiB = 1 << 20
  sys.fallocate(fd, 0, 0, MiB)
  t.equal(sys.fstat(fd).size, MiB)
  t.ok(sys.fstat(fd).blocks * 512 >= MiB, 'blocks allocated')
  sys.fallocate(fd, sys.FALLOC_FL_KEEP_SIZE, MiB, MiB)
  t.equal(sys.fstat(fd).size, MiB, 'KEEP_SIZE')
  t.throws(() => sys.fallocate(fd, sys.FALLOC_FL_PUNCH_HOLE, 0, 4096), { code: 'ENOTSUP', syscall: 'fallocate' })
  t.throws(() => sys.fallocate(fd, 0, 0, 0), { code: 'EINVAL' })
  const ro = w.open('f', fs.constants.O_RDONLY)
  t.throws(() => sys.fallocate(ro, 0, 0, 4096), { code: 'EBADF' })

  // A sparse file: data at [0, 4K) and [1M, 1M+4K), a hole between.
  w.file('sparse')
  const sp = w.open('sparse', fs.constants.O_RDWR)
  fs.writeSync(sp, Buffer.alloc(4096, 1), 0, 4096, 0)
  fs.writeSync(sp, Buffer.alloc(4096, 2), 0, 4096, MiB)
  t.equal(sys.lseek(sp, 0, sys.SEEK_DATA), 0)
  t.equal(sys.lseek(sp, 0, sys.SEEK_HOLE), 4096)
  t.equal(sys.lseek(sp, 8192, sys.SEEK_DATA), MiB)
  t.equal(sys.lseek(sp, MiB, sys.SEEK_HOLE), MiB + 4096)
  t.throws(() => sys.lseek(sp, MiB + 4096, sys.SEEK_DATA), { code: 'ENXIO', syscall: 'lseek' })
  t.equal(sys.lseek(sp, 10, sys.SEEK_SET), 10)
  t.equal(sys.lseek(sp, 5, sys.SEEK_CUR), 15)
  t.equal(sys.lseek(sp, 0, sys.SEEK_END), MiB + 4096)
  // Beyond 2^32: offsets are 64-bit numbers.
  t.equal(sys.lseek(sp, 2 ** 40, sys.SEEK_SET), 2 ** 40)
  t.throws(() => sys.lseek(sp, -1, sys.SEEK_SET), { code: 'EINVAL' })

  sys.fallocate(sp, sys.FALLOC_FL_PUNCH_HOLE | sys.FALLOC_FL_KEEP_SIZE, MiB, 4096)
  t.throws(() => sys.lseek(sp, 4096, sys.SEEK_DATA), { code: 'ENXIO' }, 'punched')
  t.equal(sys.fstat(sp).size, MiB + 4096)
})

t.test('copyFileRange', async (t) => {
  const w = workdir(t)
  w.file('src', '0123456789')
  w.file('dst', 'abcdefghij')
  const src = w.open('src', fs.constants.O_RDONLY)
  const dst = w.open('dst', fs.constants.O_RDWR)
  t.equal(sys.copyFileRange(src, 2, dst, 5, 3), 3)
  t.equal(fs.readFileSync(path.join(w.dir, 'dst'), 'utf8'), 'abcde234ij')
  t.equal(sys.copyFileRange(src, 8, dst, 0, 100), 2, 'short at end of input')
  t.equal(sys.copyFileRange(src, 10, dst, 0, 100), 0)
  // null offsets use and advance the file positions.
  sys.lseek(src, 4, sys.SEEK_SET)
  sys.lseek(dst, 1, sys.SEEK_SET)
  t.equal(sys.copyFileRange(src, null, dst, null, 2), 2)
  t.equal(sys.lseek(src, 0, sys.SEEK_CUR), 6)
  t.equal(sys.lseek(dst, 0, sys.SEEK_CUR), 3)
  t.equal(fs.readFileSync(path.join(w.dir, 'dst'), 'utf8'), '845de234ij')
  t.throws(() => sys.copyFileRange(src, 0, src, 0, 1), { code: 'EBADF', syscall: 'copy_file_range' })
  t.throws(() => sys.copyFileRange(dst, 0, dst, 1, 4), { code: 'EINVAL' }, 'overlapping ranges')
  t.throws(() => sys.copyFileRange(src, 0, dst, 0, -1), { code: 'EINVAL' })
})

t.test('syncfs, fstatfs', async (t) => {
  const w = workdir(t)
  sys.syncfs(w.open('.', fs.constants.O_RDONLY))
  t.throws(() => sys.syncfs(-1), { code: 'EBADF', syscall: 'syncfs' })
  const st = sys.fstatfs(w.dirfd) // an O_PATH fd
  const ref = fs.statfsSync(w.dir)
  t.equal(st.bsize, ref.bsize)
  t.equal(st.blocks, ref.blocks)
  t.equal(st.files, ref.files)
  t.equal(st.type, ref.type)
  t.ok(st.namelen >= 255)
  t.ok(st.frsize > 0 && st.bavail <= st.bfree && st.ffree <= st.files)
  t.throws(() => sys.fstatfs(-1), { code: 'EBADF', syscall: 'fstatfs' })
})

t.test('xattrs', async (t) => {
  const w = workdir(t)
  w.file('f')
  const fd = w.open('f', fs.constants.O_RDWR)
  try {
    sys.fsetxattr(fd, 'user.probe', Buffer.from('1'))
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTSUP') return t.plan(0, `no user xattrs on ${w.dir}`)
    throw e
  }
  sys.fremovexattr(fd, 'user.probe')

  sys.fsetxattr(fd, 'user.a', Buffer.from('alpha'))
  sys.fsetxattr(fd, Buffer.from('user.b'), Buffer.alloc(0))
  t.same(sys.fgetxattr(fd, 'user.a'), Buffer.from('alpha'))
  t.same(sys.fgetxattr(fd, 'user.b'), Buffer.alloc(0))
  t.equal(sys.fgetxattrSize(fd, 'user.a'), 5)
  t.same(sys.fgetxattr(fd, 'user.a', 5), Buffer.from('alpha'))
  t.same(sys.fgetxattr(fd, 'user.a', 100), Buffer.from('alpha'))
  t.throws(() => sys.fgetxattr(fd, 'user.a', 4), { code: 'ERANGE', syscall: 'fgetxattr' })
  t.throws(() => sys.fgetxattr(fd, 'user.a', 0), RangeError)
  t.throws(() => sys.fgetxattr(fd, 'user.none'), { code: 'ENODATA', errno: errno.ENODATA })
  t.throws(() => sys.fgetxattrSize(fd, 'user.none'), { code: 'ENODATA' })
  t.same(sys.fgetxattrOrErrno(fd, 'user.a'), Buffer.from('alpha'))
  t.equal(sys.fgetxattrOrErrno(fd, 'user.none'), -errno.ENODATA, 'a missing attribute: -ENODATA, no throw')
  t.equal(sys.fgetxattrOrErrno(-1, 'user.a'), -errno.EBADF)

  const list = sys.flistxattr(fd)
  t.same(sys.xattrNames(list).sort(), ['user.a', 'user.b'])
  t.equal(list.at(-1), 0, 'each name NUL-terminated')
  t.equal(sys.flistxattrSize(fd), list.length)
  t.same(sys.flistxattr(fd, list.length), list)
  t.throws(() => sys.flistxattr(fd, 3), { code: 'ERANGE', syscall: 'flistxattr' })

  t.throws(() => sys.fsetxattr(fd, 'user.a', Buffer.from('x'), sys.XATTR_CREATE), { code: 'EEXIST' })
  t.throws(() => sys.fsetxattr(fd, 'user.c', Buffer.from('x'), sys.XATTR_REPLACE), { code: 'ENODATA' })
  sys.fsetxattr(fd, 'user.a', Buffer.from('A'), sys.XATTR_REPLACE)
  t.same(sys.fgetxattr(fd, 'user.a'), Buffer.from('A'))
  // The largest value, in one read.
  const big = Buffer.alloc(65536 - 100, 7)
  try {
    sys.fsetxattr(fd, 'user.big', big)
    t.same(sys.fgetxattr(fd, 'user.big'), big)
    sys.fremovexattr(fd, 'user.big')
  } catch (e) {
    // ext4 without ea_inode caps a value at a block.
    t.equal((e as NodeJS.ErrnoException).code, 'ENOSPC')
  }

  sys.fremovexattr(fd, 'user.b')
  t.throws(() => sys.fremovexattr(fd, 'user.b'), { code: 'ENODATA', syscall: 'fremovexattr' })
  t.same(sys.xattrNames(sys.flistxattr(fd)), ['user.a'])
  t.throws(() => sys.fgetxattr(-1, 'user.a'), { code: 'EBADF' })

  // Path forms. /proc/self/fd/N of an O_PATH fd, as the loopback uses, needs the following form.
  const opath = w.open('f', sys.O_PATH)
  const proc = `/proc/self/fd/${opath}`
  t.same(sys.getxattr(proc, 'user.a'), Buffer.from('A'))
  sys.setxattr(proc, 'user.p', Buffer.from('via proc'))
  t.same(sys.fgetxattr(fd, 'user.p'), Buffer.from('via proc'))
  t.equal(sys.getxattrSize(proc, 'user.p'), 8)
  t.same(sys.xattrNames(sys.listxattr(proc)).sort(), ['user.a', 'user.p'])
  t.equal(sys.listxattrSize(proc), sys.flistxattrSize(fd))
  sys.removexattr(proc, 'user.p')
  t.throws(() => sys.getxattr(proc, 'user.p'), { code: 'ENODATA', syscall: 'getxattr', path: proc })
  t.equal(sys.getxattrOrErrno(proc, 'user.p'), -errno.ENODATA)
  t.same(sys.getxattrOrErrno(proc, 'user.a'), Buffer.from('A'))

  const p = path.join(w.dir, 'f')
  fs.symlinkSync('f', path.join(w.dir, 'l'))
  const l = path.join(w.dir, 'l')
  t.same(sys.lgetxattr(p, 'user.a'), Buffer.from('A'))
  t.equal(sys.lgetxattrSize(p, 'user.a'), 1)
  t.same(sys.getxattr(l, 'user.a'), Buffer.from('A'), 'follows the symlink')
  t.throws(() => sys.lgetxattr(l, 'user.a'), { code: 'ENODATA', syscall: 'lgetxattr' })
  // user.* attributes are not allowed on symlinks.
  t.throws(() => sys.lsetxattr(l, 'user.x', Buffer.from('1')), { code: 'EPERM', syscall: 'lsetxattr' })
  sys.lsetxattr(p, 'user.l', Buffer.from('L'))
  t.same(sys.xattrNames(sys.llistxattr(p)).sort(), ['user.a', 'user.l'])
  t.equal(sys.llistxattrSize(l), sys.llistxattr(l).length)
  sys.lremovexattr(p, 'user.l')
  t.throws(() => sys.lremovexattr(p, 'user.l'), { code: 'ENODATA', syscall: 'lremovexattr' })
  t.throws(() => sys.lgetxattr(path.join(w.dir, 'missing'), 'user.a'), { code: 'ENOENT' })
})

t.test('flock between two open files', async (t) => {
  const w = workdir(t)
  w.file('f')
  const a = w.open('f', fs.constants.O_RDONLY)
  const b = w.open('f', fs.constants.O_RDONLY)
  sys.flock(a, sys.LOCK_EX | sys.LOCK_NB)
  t.throws(() => sys.flock(b, sys.LOCK_EX | sys.LOCK_NB), { code: 'EAGAIN', errno: errno.EWOULDBLOCK, syscall: 'flock' })
  t.throws(() => sys.flock(b, sys.LOCK_SH | sys.LOCK_NB), { code: 'EAGAIN' })
  t.throws(() => sys.flock(b, sys.LOCK_EX), { code: 'EINVAL' }, 'a blocking flock is refused')
  sys.flock(a, sys.LOCK_UN)
  sys.flock(b, sys.LOCK_SH | sys.LOCK_NB)
  sys.flock(a, sys.LOCK_SH | sys.LOCK_NB)
  t.throws(() => sys.flock(a, sys.LOCK_EX | sys.LOCK_NB), { code: 'EAGAIN' })
  t.throws(() => sys.flock(-1, sys.LOCK_UN), { code: 'EBADF' })
})

t.test('fcntl locks: OFD and classic', async (t) => {
  const w = workdir(t)
  w.file('f', 'x'.repeat(200))
  const a = w.open('f', fs.constants.O_RDWR)
  const b = w.open('f', fs.constants.O_RDWR)
  sys.setlk(a, sys.F_OFD_SETLK, { type: sys.F_WRLCK, start: 0, len: 100 })
  t.same(sys.getlk(b, sys.F_OFD_GETLK, { type: sys.F_RDLCK, start: 50, len: 10 }),
    { type: sys.F_WRLCK, whence: sys.SEEK_SET, start: 0, len: 100, pid: -1 })
  t.same(sys.getlk(b, sys.F_OFD_GETLK, { type: sys.F_WRLCK, start: 100, len: 10 }),
    { type: sys.F_UNLCK, whence: sys.SEEK_SET, start: 100, len: 10, pid: 0 })
  t.throws(() => sys.setlk(b, sys.F_OFD_SETLK, { type: sys.F_RDLCK, start: 99, len: 1 }),
    { code: 'EAGAIN', syscall: 'fcntl' })
  sys.setlk(b, sys.F_OFD_SETLK, { type: sys.F_WRLCK, start: 100, len: 0 })
  // A classic (process-owned) lock conflicts with OFD locks of the same process.
  t.throws(() => sys.setlk(b, sys.F_SETLK, { type: sys.F_WRLCK, start: 0, len: 1 }), { code: 'EAGAIN' })
  t.same(sys.getlk(b, sys.F_GETLK, { type: sys.F_WRLCK, start: 10, len: 1 }).type, sys.F_WRLCK)
  t.throws(() => sys.setlk(b, sys.F_OFD_SETLK, { type: sys.F_WRLCK, pid: 1 }), { code: 'EINVAL' }, 'OFD pid must be 0')
  t.throws(() => sys.setlk(a, sys.F_SETLKW, { type: sys.F_WRLCK }), { code: 'EINVAL' }, 'blocking cmd refused')
  t.throws(() => sys.getlk(a, sys.F_SETLK, { type: sys.F_WRLCK }), { code: 'EINVAL' })
  sys.setlk(a, sys.F_OFD_SETLK, { type: sys.F_UNLCK, start: 0, len: 100 })
  sys.setlk(b, sys.F_SETLK, { type: sys.F_RDLCK, start: 0, len: 50 })
  t.same(sys.getlk(a, sys.F_OFD_GETLK, { type: sys.F_WRLCK, start: 0, len: 1 }),
    { type: sys.F_RDLCK, whence: sys.SEEK_SET, start: 0, len: 50, pid: process.pid })
  t.throws(() => sys.setlk(-1, sys.F_SETLK, { type: sys.F_WRLCK }), { code: 'EBADF' })
})

/** Resolves with whether `p` has settled, after letting the event loop run a few times. */
async function settledAfterTicks(p: Promise<unknown>): Promise<boolean> {
  let settled = false
  p.then(() => { settled = true }, () => { settled = true })
  for (let i = 0; i < 5; i++) await tick()
  await delay(20)
  return settled
}

t.test('blocking locks wait without blocking the event loop', async (t) => {
  const w = workdir(t)
  w.file('f', 'x'.repeat(10))
  const holder = w.open('f', fs.constants.O_RDWR)
  const waiter = w.open('f', fs.constants.O_RDWR)

  t.test('flockWait', async (t) => {
    sys.flock(holder, sys.LOCK_EX | sys.LOCK_NB)
    const wait = sys.flockWait(waiter, sys.LOCK_EX)
    let ticks = 0
    const interval = setInterval(() => ticks++, 1)
    t.equal(await settledAfterTicks(wait), false, 'still waiting')
    t.ok(ticks > 0, 'timers ran meanwhile')
    clearInterval(interval)
    sys.flock(holder, sys.LOCK_UN)
    await wait
    t.throws(() => sys.flock(holder, sys.LOCK_SH | sys.LOCK_NB), { code: 'EAGAIN' }, 'waiter holds it')
    sys.flock(waiter, sys.LOCK_UN)
  })

  t.test('a free lock resolves at once', async (t) => {
    await sys.flockWait(waiter, sys.LOCK_SH)
    await sys.setlkw(waiter, sys.F_OFD_SETLKW, { type: sys.F_RDLCK })
    sys.flock(waiter, sys.LOCK_UN)
    sys.setlk(waiter, sys.F_OFD_SETLK, { type: sys.F_UNLCK })
  })

  t.test('F_OFD_SETLKW and F_SETLKW', async (t) => {
    sys.setlk(holder, sys.F_OFD_SETLK, { type: sys.F_WRLCK, start: 0, len: 5 })
    const ofd = sys.setlkw(waiter, sys.F_OFD_SETLKW, { type: sys.F_WRLCK, start: 4, len: 2 })
    const classic = sys.setlkw(waiter, sys.F_SETLKW, { type: sys.F_RDLCK, start: 0, len: 1 })
    t.equal(await settledAfterTicks(Promise.race([ofd, classic])), false, 'both waiting')
    sys.setlk(holder, sys.F_OFD_SETLK, { type: sys.F_UNLCK, start: 0, len: 5 })
    await Promise.all([ofd, classic])
    t.same(sys.getlk(holder, sys.F_OFD_GETLK, { type: sys.F_WRLCK, start: 5, len: 1 }).type, sys.F_WRLCK)
    sys.setlk(waiter, sys.F_OFD_SETLK, { type: sys.F_UNLCK })
    sys.setlk(waiter, sys.F_SETLK, { type: sys.F_UNLCK })
  })

  t.test('aborting a wait rejects it with EINTR and takes no lock', async (t) => {
    sys.flock(holder, sys.LOCK_EX | sys.LOCK_NB)
    const ac = new AbortController()
    const wait = sys.flockWait(waiter, sys.LOCK_EX, ac.signal)
    t.equal(await settledAfterTicks(wait), false)
    ac.abort()
    await t.rejects(wait, { code: 'EINTR', errno: errno.EINTR, syscall: 'flock' })
    sys.flock(holder, sys.LOCK_UN)
    const probe = w.open('f', fs.constants.O_RDONLY)
    sys.flock(probe, sys.LOCK_EX | sys.LOCK_NB) // the aborted waiter holds nothing
    sys.flock(probe, sys.LOCK_UN)

    sys.setlk(holder, sys.F_OFD_SETLK, { type: sys.F_WRLCK })
    const ac2 = new AbortController()
    ac2.abort()
    await t.rejects(sys.setlkw(waiter, sys.F_OFD_SETLKW, { type: sys.F_RDLCK }, ac2.signal), { code: 'EINTR' })
    sys.setlk(holder, sys.F_OFD_SETLK, { type: sys.F_UNLCK })
  })

  t.test("waits do not hold libuv's threadpool", async (t) => {
    sys.flock(holder, sys.LOCK_EX | sys.LOCK_NB)
    // More waits than the threadpool has threads (4 unless UV_THREADPOOL_SIZE says more).
    const fds = Array.from({ length: 8 }, () => w.open('f', fs.constants.O_RDONLY))
    const waits = fds.map((fd) => sys.flockWait(fd, sys.LOCK_SH))
    const giveUp = new AbortController()
    const result = await Promise.race([
      fs.promises.stat(w.dir).then(() => 'stat done'),
      delay(10_000, 'threadpool stuck', { signal: giveUp.signal }),
    ])
    giveUp.abort()
    t.equal(result, 'stat done')
    sys.flock(holder, sys.LOCK_UN)
    await Promise.all(waits)
    for (const fd of fds) sys.flock(fd, sys.LOCK_UN)
  })

  t.test('a worker may exit while its wait is pending', async (t) => {
    sys.flock(holder, sys.LOCK_EX | sys.LOCK_NB)
    // Raw addon calls: the worker runs plain JS.
    const worker = new Worker(`
      const { parentPort, workerData } = require('node:worker_threads')
      const fs = require('node:fs')
      const native = require(workerData.addon)
      const fd = fs.openSync(workerData.file, 'r')
      const [promise] = native.lockWait(fd, true, native.constants.LOCK_EX, 0, 0, 0, 0, 0)
      promise.then(() => parentPort.postMessage('locked'))
      parentPort.postMessage(fd)
    `, { eval: true, trackUnmanagedFds: false, workerData: { addon: path.join(__dirname, '..', 'build', 'Release', 'tsfuse_sys.node'), file: path.join(w.dir, 'f') } })
    const fd = await new Promise<number>((resolve) => worker.once('message', resolve))
    w.track(fd)
    await worker.terminate()
    // Its waiting thread now wakes with nobody to tell; the process must carry on.
    sys.flock(holder, sys.LOCK_UN)
    const free = (): boolean => {
      try {
        sys.flock(holder, sys.LOCK_EX | sys.LOCK_NB)
        sys.flock(holder, sys.LOCK_UN)
        return true
      } catch {
        return false
      }
    }
    for (let i = 0; i < 1000 && free(); i++) await delay(5)
    t.equal(free(), false, 'the orphaned wait took the lock, and the process lives on')
    fs.closeSync(fd)
    t.equal(free(), true)
  })

  t.test('errors', async (t) => {
    await t.rejects(sys.flockWait(-1, sys.LOCK_EX), { code: 'EBADF', syscall: 'flock' })
    t.throws(() => sys.flockWait(waiter, sys.LOCK_UN), { code: 'EINVAL' })
    t.throws(() => sys.setlkw(waiter, sys.F_SETLK, { type: sys.F_WRLCK }), { code: 'EINVAL' })
    await t.rejects(sys.setlkw(waiter, sys.F_OFD_SETLKW, { type: sys.F_WRLCK, pid: 5 }), { code: 'EINVAL' })
  })
})
