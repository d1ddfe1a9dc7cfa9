// fuse-native's README example, unchanged but for the require: mounts a filesystem with one
// file, /test, reads it back through the mount, and unmounts. fuse-native's README leaves
// `stat`, `mnt`, `fs` and `path` to the reader; they are filled in here.
// Run (as root): npm run build && node examples/fuse-native-readme.js /mnt/readme
const fs = require('fs')
const path = require('path')
const Fuse = require('tsfuse/fuse-native') // was: require('fuse-native')

const mnt = process.argv[2] || './mnt'

// As fuse-native's own test helper: a stat object from a mode name and a size.
function stat (st) {
  return {
    mtime: new Date(),
    atime: new Date(),
    ctime: new Date(),
    size: st.size !== undefined ? st.size : 0,
    mode: st.mode === 'dir' ? 16877 : (st.mode === 'file' ? 33188 : (st.mode === 'link' ? 41453 : st.mode)),
    uid: process.getuid(),
    gid: process.getgid()
  }
}

const ops = {
  readdir: function (path, cb) {
    if (path === '/') return cb(null, ['test'])
    return cb(Fuse.ENOENT)
  },
  getattr: function (path, cb) {
    if (path === '/') return cb(null, stat({ mode: 'dir', size: 4096 }))
    if (path === '/test') return cb(null, stat({ mode: 'file', size: 11 }))
    return cb(Fuse.ENOENT)
  },
  open: function (path, flags, cb) {
    return cb(0, 42)
  },
  release: function (path, fd, cb) {
    return cb(0)
  },
  read: function (path, fd, buf, len, pos, cb) {
    var str = 'hello world'.slice(pos, pos + len)
    if (!str) return cb(0)
    buf.write(str)
    return cb(str.length)
  }
}

const fuse = new Fuse(mnt, ops, { debug: process.env.DEBUG !== undefined })
fuse.mount(function (err) {
  if (err) {
    console.error('mount failed: ' + err.message)
    process.exitCode = 1
    return
  }
  fs.readFile(path.join(mnt, 'test'), function (err, buf) {
    // buf should be 'hello world'
    console.log(err ? 'read failed: ' + err.message : buf.toString())
    fuse.unmount(function (err) {
      if (err) console.error('unmount failed: ' + err.message)
    })
  })
})
