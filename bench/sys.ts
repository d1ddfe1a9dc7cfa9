// ns per stat call: src/sys (our addon) against Node's fs, on the same file.
// Run: npm run build && node dist/bench/sys.js [iterations]
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import * as sys from '../src/sys'

const iterations = Number(process.argv[2] ?? 300_000)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsfuse-bench-sys-'))
const file = path.join(dir, 'file')
fs.writeFileSync(file, 'x')
const dirfd = sys.openat(sys.AT_FDCWD, dir, sys.O_PATH | sys.O_DIRECTORY)
const fd = fs.openSync(file, 'r')
const nameBuffer = Buffer.from('file')

let sink = 0
const cases: Record<string, () => void> = {
  'fs.lstatSync(path, {bigint})': () => { sink += Number(fs.lstatSync(file, { bigint: true }).ino) },
  'fs.lstatSync(path)': () => { sink += fs.lstatSync(file).ino },
  'sys.fstatat(dirfd, name)': () => { sink += sys.fstatat(dirfd, 'file', sys.AT_SYMLINK_NOFOLLOW).ino },
  'sys.fstatat(dirfd, Buffer)': () => { sink += sys.fstatat(dirfd, nameBuffer, sys.AT_SYMLINK_NOFOLLOW).ino },
  'sys.fstatat(AT_FDCWD, path)': () => { sink += sys.fstatat(sys.AT_FDCWD, file, sys.AT_SYMLINK_NOFOLLOW).ino },
  'sys.fstatat(fd, "", EMPTY_PATH)': () => { sink += sys.fstatat(fd, '', sys.AT_EMPTY_PATH).ino },
  'fs.fstatSync(fd, {bigint})': () => { sink += Number(fs.fstatSync(fd, { bigint: true }).ino) },
  'sys.fstat(fd)': () => { sink += sys.fstat(fd).ino },
  'sys.statx(dirfd, name)': () => { sink += sys.statx(dirfd, 'file', sys.AT_SYMLINK_NOFOLLOW).ino },
}

function measure(run: () => void, n: number): number {
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) run()
  return Number(process.hrtime.bigint() - start) / n
}

try {
  console.log(`${iterations} calls each, ${file}`)
  for (const [label, run] of Object.entries(cases)) {
    measure(run, Math.min(iterations, 20_000)) // warm up the JIT
    const best = Math.min(measure(run, iterations), measure(run, iterations))
    console.log(`${label.padEnd(34)} ${best.toFixed(0).padStart(6)} ns/call`)
  }
} finally {
  fs.closeSync(fd)
  fs.closeSync(dirfd)
  fs.rmSync(dir, { recursive: true, force: true })
}
if (sink === 0.5) console.log(sink) // keeps the results alive
