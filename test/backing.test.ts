// BackingRegistry against a model of the kernel's passthrough rules (fs/fuse/iomode.c,
// passthrough.c, backing.c), with the ioctl injected: no /dev/fuse needed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import {
  BackingRegistry, FOPEN_PASSTHROUGH_MASK, PassthroughUnavailableError, ioctlErrno, type IoctlFunction,
} from '../src/kernel/backing';
import {
  FOPEN_CACHE_DIR, FOPEN_DIRECT_IO, FOPEN_KEEP_CACHE, FOPEN_NOFLUSH, FOPEN_NONSEEKABLE,
  FOPEN_PARALLEL_DIRECT_WRITES, FOPEN_PASSTHROUGH, FOPEN_STREAM,
} from '../src/protocol/constants';
import { Errno } from '../src/protocol/errors';
import { FUSE_DEV_IOC_BACKING_CLOSE, FUSE_DEV_IOC_BACKING_OPEN } from '../src/protocol/ioctl';
import { negotiateInit } from '../src/protocol/init';
import { INIT_FLAG_BITS } from '../src/protocol/init-flags';
import type { OpenOut } from '../src/protocol/types';
import * as sys from '../src/sys';
import { tempDir } from './helpers/tmp';

const DEV_FD = 42;

/** ioctl-napi's error shape: `code` is the errno number as a string. */
function errnoError(name: keyof typeof Errno): Error {
  return Object.assign(new Error(`ioctl failed: ${name}`), { code: String(Errno[name]) });
}

/**
 * The kernel's side: backing ids of the connection, and per inode the io mode the opens put it
 * in. `deliver` plays the opener processing an open reply and says what open() returned.
 */
class FakeKernel {
  calls: Array<{ op: 'open' | 'close'; arg: number; result: number | string }> = [];
  live = new Set<number>();
  nextId = 1;
  /** Errno to fail BACKING_OPEN with, per call (undefined: succeed). */
  failOpen: (fd: number) => keyof typeof Errno | undefined = () => undefined;
  /** Per nodeid: the backing id its passthrough opens use, and how many cached/uncached opens it has. */
  inodes = new Map<number, { backing: number; passthrough: number; cached: number; direct: number }>();

  ioctl: IoctlFunction = (fd, request, arg) => {
    if (fd !== DEV_FD) throw errnoError('EBADF');
    if (request === FUSE_DEV_IOC_BACKING_OPEN) {
      if (arg.length !== 16 || arg.readUInt32LE(4) !== 0 || arg.readBigUInt64LE(8) !== 0n) throw errnoError('EINVAL');
      const backingFd = arg.readInt32LE(0);
      const fail = this.failOpen(backingFd);
      if (fail !== undefined) {
        this.calls.push({ op: 'open', arg: backingFd, result: fail });
        throw errnoError(fail);
      }
      const id = this.nextId++;
      this.live.add(id);
      this.calls.push({ op: 'open', arg: backingFd, result: id });
      return id;
    }
    if (request === FUSE_DEV_IOC_BACKING_CLOSE) {
      const id = arg.readUInt32LE(0);
      this.calls.push({ op: 'close', arg: id, result: this.live.has(id) ? 0 : 'ENOENT' });
      if (!this.live.delete(id)) throw errnoError('ENOENT');
      return 0;
    }
    throw errnoError('ENOTTY');
  };

  /** fuse_file_io_open: 'ok', or 'EIO' when the reply breaks a rule (the kernel then sends RELEASE at once). */
  deliver(nodeid: number, out: OpenOut): 'ok' | 'EIO' {
    const ino = this.inodes.get(nodeid) ?? { backing: 0, passthrough: 0, cached: 0, direct: 0 };
    this.inodes.set(nodeid, ino);
    const flags = out.openFlags;
    if (ino.passthrough > 0 && !(flags & FOPEN_PASSTHROUGH)) return 'EIO';
    if (flags & FOPEN_PASSTHROUGH) {
      if ((flags & ~FOPEN_PASSTHROUGH_MASK) !== 0) return 'EIO';
      if (!out.backingId || !this.live.has(out.backingId)) return 'EIO';
      if (ino.cached > 0) return 'EIO';
      if (ino.passthrough > 0 && ino.backing !== out.backingId) return 'EIO';
      ino.backing = out.backingId;
      ino.passthrough++;
    } else if (flags & FOPEN_DIRECT_IO) {
      ino.direct++;
    } else {
      ino.cached++;
    }
    return 'ok';
  }

  /** The open's file is closed: the kernel drops its io mode before it sends RELEASE. */
  close(nodeid: number, out: OpenOut): void {
    const ino = this.inodes.get(nodeid)!;
    if (out.openFlags & FOPEN_PASSTHROUGH) {
      if (--ino.passthrough === 0) ino.backing = 0;
    } else if (out.openFlags & FOPEN_DIRECT_IO) ino.direct--;
    else ino.cached--;
  }

  get backingOpens(): number {
    return this.calls.filter((c) => c.op === 'open').length;
  }
}

function setup(options: { require?: boolean; negotiated?: boolean } = {}) {
  const kernel = new FakeKernel();
  const warnings: string[] = [];
  const debug: string[] = [];
  const registry = new BackingRegistry({
    deviceFd: DEV_FD,
    require: options.require,
    ioctl: kernel.ioctl,
    warn: (m) => warnings.push(m),
    debug: (m) => debug.push(m),
  });
  if (options.negotiated !== false) registry.negotiated(true);
  return { kernel, registry, warnings, debug };
}

t.test('ioctlErrno reads ioctl-napi, Node and numeric errors', async (t) => {
  t.equal(ioctlErrno(Object.assign(new Error('x'), { code: '1' })), 'EPERM');
  t.equal(ioctlErrno(Object.assign(new Error('x'), { code: 'ELOOP' })), 'ELOOP');
  t.equal(ioctlErrno(95), 'EOPNOTSUPP');
  t.equal(ioctlErrno(new Error('no code')), 'EIO');
});

t.test('no ioctl before INIT, nor when INIT did not negotiate passthrough', async (t) => {
  const { kernel, registry, warnings } = setup({ negotiated: false });
  const before = registry.open(2, { fh: 1, openFlags: FOPEN_KEEP_CACHE | FOPEN_PASSTHROUGH, passthrough: true, backingFd: 7 });
  t.same(before, { fh: 1, openFlags: FOPEN_KEEP_CACHE }, 'plain, PASSTHROUGH bit stripped, other flags as asked');
  registry.negotiated(false, true, 'the kernel does not offer FUSE_PASSTHROUGH');
  for (let i = 0; i < 5; i++) {
    const out = registry.open(2 + i, { fh: 10 + i, openFlags: 0, passthrough: true, backingFd: 7 });
    t.equal(out.backingId, undefined);
    t.equal(kernel.deliver(2 + i, out), 'ok');
  }
  t.equal(kernel.calls.length, 0, 'BACKING_OPEN never called');
  t.equal(warnings.length, 1, 'one warning');
  t.match(warnings[0], /passthrough off: the kernel does not offer FUSE_PASSTHROUGH; use Linux 6\.9/);
  t.equal(registry.enabled, false);
  t.equal(registry.release(2, 10), false, 'nothing tracked');
});

t.test('not negotiated and not wanted: silent', async (t) => {
  const { warnings, registry } = setup({ negotiated: false });
  registry.negotiated(false, false);
  t.equal(warnings.length, 0);
});

t.test('required but not negotiated: refuses to start', async (t) => {
  const { registry } = setup({ require: true, negotiated: false });
  t.throws(() => registry.negotiated(false, true, 'the kernel offers no FUSE_INIT_EXT (protocol 7.39)'), PassthroughUnavailableError);
  try {
    registry.negotiated(false, true, 'x');
  } catch (err) {
    t.equal((err as PassthroughUnavailableError).code, null);
    t.match((err as Error).message, /required but unavailable: x/);
  }
});

t.test('protocol level: an INIT offer of 7.39 (no passthrough) means no ioctl at all', async (t) => {
  // A 6.1-era kernel: INIT_EXT exists (7.36+) but no FUSE_PASSTHROUGH bit (7.40).
  const flags = (1 << INIT_FLAG_BITS.FUSE_INIT_EXT) | (1 << INIT_FLAG_BITS.FUSE_ASYNC_READ) | (1 << INIT_FLAG_BITS.FUSE_BIG_WRITES)
    | (1 << INIT_FLAG_BITS.FUSE_MAX_PAGES) | (1 << INIT_FLAG_BITS.FUSE_WRITEBACK_CACHE);
  const init = negotiateInit({ major: 7, minor: 39, maxReadahead: 131072, flags, flags2: 0, unique: 2 },
    { passthrough: true, writebackCache: false });
  t.equal(init.status, 'ok');
  t.equal(init.negotiated!.passthrough, false);
  t.equal(init.initOut!.flags2 & (1 << (INIT_FLAG_BITS.FUSE_PASSTHROUGH - 32)), 0, 'FUSE_PASSTHROUGH not in the reply');
  t.equal(init.initOut!.maxStackDepth, 0);
  const { kernel, registry, warnings } = setup({ negotiated: false });
  registry.negotiated(init.negotiated!.passthrough, true, init.warnings.join('; '));
  const out = registry.open(5, { fh: 1, openFlags: 0, passthrough: true, backingFd: 3 });
  t.same(out, { fh: 1, openFlags: 0 });
  t.equal(kernel.calls.length, 0);
  t.equal(warnings.length, 1);
  t.match(warnings[0], /does not offer FUSE_PASSTHROUGH/);
});

t.test('one refcounted id per inode, closed with the last release', async (t) => {
  const { kernel, registry } = setup();
  const a = registry.open(2, { fh: 1, openFlags: 0, passthrough: true, backingFd: 10 });
  t.same(a, { fh: 1, openFlags: FOPEN_PASSTHROUGH, backingId: 1 });
  t.equal(kernel.deliver(2, a), 'ok');
  const b = registry.open(2, { fh: 2, openFlags: 0, passthrough: true, backingFd: 11 });
  t.equal(b.backingId, 1, 'second open shares the id');
  t.equal(kernel.deliver(2, b), 'ok');
  // The policy (say `ro`) asked for a plain open of an inode with passthrough opens.
  const c = registry.open(2, { fh: 3, openFlags: FOPEN_KEEP_CACHE, passthrough: false });
  t.same(c, { fh: 3, openFlags: FOPEN_PASSTHROUGH, backingId: 1 }, 'plain request passes through, KEEP_CACHE dropped');
  t.equal(kernel.deliver(2, c), 'ok');
  t.equal(kernel.backingOpens, 1, 'one BACKING_OPEN for three opens');
  t.equal(registry.registeredIds, 1);
  t.same(registry.inode(2), { mode: 'passthrough', backingId: 1, opens: 3 });

  const other = registry.open(3, { fh: 4, openFlags: 0, passthrough: true, backingFd: 12 });
  t.equal(other.backingId, 2, 'another inode, another id');
  t.equal(kernel.deliver(3, other), 'ok');
  t.equal(registry.registeredIds, 2);

  for (const [fh, out] of [[1, a], [3, c]] as const) {
    kernel.close(2, out);
    t.equal(registry.release(2, fh), true);
  }
  t.equal(kernel.live.has(1), true, 'still open once: not closed');
  kernel.close(2, b);
  registry.release(2, 2);
  t.equal(kernel.live.has(1), false, 'closed with the last release');
  t.same(kernel.calls.at(-1), { op: 'close', arg: 1, result: 0 });
  kernel.close(3, other);
  registry.release(3, 4);
  t.equal(registry.registeredIds, 0);
  t.equal(registry.openCount, 0);
  t.same(registry.stats, { registered: 2, closed: 2, failed: 0, live: 0 });
  t.equal(registry.release(3, 4), false, 'a second RELEASE finds nothing');
});

t.test('an inode with plain opens serves passthrough requests plain', async (t) => {
  const { kernel, registry, debug } = setup();
  const plain = registry.open(2, { fh: 1, openFlags: FOPEN_KEEP_CACHE });
  t.same(plain, { fh: 1, openFlags: FOPEN_KEEP_CACHE });
  t.equal(kernel.deliver(2, plain), 'ok');
  const pt = registry.open(2, { fh: 2, openFlags: 0, passthrough: true, backingFd: 10 });
  t.same(pt, { fh: 2, openFlags: 0 });
  t.equal(kernel.deliver(2, pt), 'ok');
  t.equal(kernel.calls.length, 0, 'no BACKING_OPEN for it');
  t.match(debug.join('\n'), /served plain: the inode has 1 plain open/);
  registry.release(2, 1);
  registry.release(2, 2);
  kernel.close(2, plain);
  kernel.close(2, pt);
  const later = registry.open(2, { fh: 3, openFlags: 0, passthrough: true, backingFd: 10 });
  t.equal(later.backingId, 1, 'once the plain opens are gone, passthrough again');
  t.equal(kernel.deliver(2, later), 'ok');
});

t.test('FOPEN flags with passthrough: only DIRECT_IO, PARALLEL_DIRECT_WRITES, NOFLUSH', async (t) => {
  const { kernel, registry } = setup();
  const all = FOPEN_DIRECT_IO | FOPEN_KEEP_CACHE | FOPEN_NONSEEKABLE | FOPEN_CACHE_DIR | FOPEN_STREAM | FOPEN_NOFLUSH | FOPEN_PARALLEL_DIRECT_WRITES;
  const out = registry.open(2, { fh: 1, openFlags: all, passthrough: true, backingFd: 10 });
  t.equal(out.openFlags, FOPEN_PASSTHROUGH | FOPEN_DIRECT_IO | FOPEN_NOFLUSH | FOPEN_PARALLEL_DIRECT_WRITES);
  t.equal(kernel.deliver(2, out), 'ok', 'DIRECT_IO + PASSTHROUGH is a valid mode');
  const viaBit = registry.open(3, { fh: 2, openFlags: FOPEN_PASSTHROUGH | FOPEN_KEEP_CACHE, backingFd: 11 });
  t.equal(viaBit.openFlags, FOPEN_PASSTHROUGH, 'a FOPEN_PASSTHROUGH bit counts as asking');
  t.equal(kernel.deliver(3, viaBit), 'ok');
});

t.test('passthrough asked without a backing fd: plain', async (t) => {
  const { kernel, registry } = setup();
  const out = registry.open(2, { fh: 1, openFlags: 0, passthrough: true });
  t.same(out, { fh: 1, openFlags: 0 });
  t.equal(kernel.calls.length, 0);
});

t.test('one fh for many opens (a filesystem that answers fh 0)', async (t) => {
  const { kernel, registry } = setup();
  for (let i = 0; i < 3; i++) registry.open(2, { fh: 0, openFlags: 0, passthrough: true, backingFd: 10 });
  t.equal(registry.release(2, 0), true);
  t.equal(registry.release(2, 0), true);
  t.equal(kernel.live.size, 1);
  t.equal(registry.release(2, 0), true);
  t.equal(kernel.live.size, 0);
  t.equal(registry.release(2, 0), false);
});

t.test('a reply that never reached the kernel gives its reference back', async (t) => {
  const { kernel, registry } = setup();
  registry.open(2, { fh: 1, openFlags: 0, passthrough: true, backingFd: 10 });
  t.equal(registry.notDelivered(2, 1), true);
  t.equal(kernel.live.size, 0);
  t.equal(registry.registeredIds, 0);
});

for (const errno of ['EPERM', 'ENOTTY', 'EOPNOTSUPP'] as const) {
  t.test(`first BACKING_OPEN fails with ${errno}: one warning, plain from now on`, async (t) => {
    const { kernel, registry, warnings } = setup();
    kernel.failOpen = () => errno;
    const out = registry.open(2, { fh: 1, openFlags: FOPEN_KEEP_CACHE, passthrough: true, backingFd: 10 });
    t.same(out, { fh: 1, openFlags: FOPEN_KEEP_CACHE }, 'the failed open is answered plain, not EIO');
    t.equal(kernel.deliver(2, out), 'ok');
    for (let i = 0; i < 10; i++) {
      const o = registry.open(3 + i, { fh: 2 + i, openFlags: 0, passthrough: true, backingFd: 11 });
      t.equal(kernel.deliver(3 + i, o), 'ok');
    }
    t.equal(kernel.backingOpens, 1, 'never tried again');
    t.equal(warnings.length, 1, 'warned once');
    t.match(warnings[0], new RegExp(`^passthrough off: ${errno}`));
    t.match(warnings[0], /READ\/WRITE go through the server/);
    if (errno === 'EPERM') t.match(warnings[0], /CAP_SYS_ADMIN/);
    t.equal(registry.enabled, false);
    t.ok(registry.disabledReason?.startsWith(errno));
  });

  t.test(`require: ${errno} fails every open asked to pass through, never serves it plain`, async (t) => {
    const { kernel, registry, warnings } = setup({ require: true });
    kernel.failOpen = () => errno;
    for (let i = 0; i < 3; i++) {
      t.throws(() => registry.open(2 + i, { fh: 1 + i, openFlags: 0, passthrough: true, backingFd: 10 }),
        { name: 'PassthroughUnavailableError', code: errno });
    }
    t.equal(registry.openCount, 0, 'the failed opens are not counted');
    t.equal(registry.enabled, true, 'not switched off: still required');
    t.equal(warnings.length, 1, 'said once');
    t.match(warnings[0], new RegExp(`^passthrough refused: ${errno}.*--passthrough=require`));
  });
}

/** Real fds, so that the registry can tell filesystems apart: two files of one, one of another. */
function filesOnTwoFilesystems(t: Test): { a1: number; a2: number; b: number } {
  const dir = tempDir(t, 'tsfuse-backing-');
  const fds = [fs.openSync(path.join(dir, 'a1'), 'w'), fs.openSync(path.join(dir, 'a2'), 'w'), fs.openSync('/dev/null', 'r')];
  t.teardown(() => {
    for (const fd of fds) fs.closeSync(fd);
  });
  t.not(fs.fstatSync(fds[0]).dev, fs.fstatSync(fds[2]).dev, 'two filesystems');
  return { a1: fds[0], a2: fds[1], b: fds[2] };
}

t.test('ELOOP: that filesystem is served plain, warned once; other filesystems still pass through', async (t) => {
  const { kernel, registry, warnings } = setup();
  const { a1, a2, b } = filesOnTwoFilesystems(t);
  // Filesystem A is stacked too deep (e.g. a FUSE or overlayfs submount inside SRC).
  kernel.failOpen = (fd) => (fd === a1 || fd === a2 ? 'ELOOP' : undefined);
  const first = registry.open(2, { fh: 1, openFlags: FOPEN_KEEP_CACHE, passthrough: true, backingFd: a1 });
  t.same(first, { fh: 1, openFlags: FOPEN_KEEP_CACHE }, 'the failed open is answered plain, not EIO');
  t.equal(kernel.deliver(2, first), 'ok');
  const again = registry.open(3, { fh: 2, openFlags: 0, passthrough: true, backingFd: a2 });
  t.equal(again.backingId, undefined, 'another file of A: plain');
  t.equal(kernel.backingOpens, 1, 'without asking the kernel again');
  const other = registry.open(4, { fh: 3, openFlags: 0, passthrough: true, backingFd: b });
  t.equal(other.backingId, 1, 'a file of another filesystem passes through');
  t.equal(kernel.deliver(4, other), 'ok');
  t.equal(registry.enabled, true);
  t.equal(warnings.length, 1, 'warned once');
  t.match(warnings[0], /^passthrough off for the files of one filesystem.*ELOOP.*--max-stack-depth 2/);
});

t.test('require: ELOOP fails the opens of that filesystem only', async (t) => {
  const { kernel, registry, warnings } = setup({ require: true });
  const { a1, a2, b } = filesOnTwoFilesystems(t);
  kernel.failOpen = (fd) => (fd === a1 || fd === a2 ? 'ELOOP' : undefined);
  for (const [nodeid, fd] of [[2, a1], [3, a2]]) {
    t.throws(() => registry.open(nodeid, { fh: nodeid, openFlags: 0, passthrough: true, backingFd: fd }),
      { name: 'PassthroughUnavailableError', code: 'ELOOP' });
  }
  t.equal(registry.open(4, { fh: 4, openFlags: 0, passthrough: true, backingFd: b }).backingId, 1);
  t.equal(warnings.length, 1);
});

t.test('switched off while other inodes pass through: they keep their ids', async (t) => {
  const { kernel, registry, warnings } = setup();
  const a = registry.open(2, { fh: 1, openFlags: 0, passthrough: true, backingFd: 10 });
  kernel.failOpen = () => 'EPERM';
  registry.open(3, { fh: 2, openFlags: 0, passthrough: true, backingFd: 11 });
  const again = registry.open(2, { fh: 3, openFlags: 0, passthrough: false });
  t.equal(again.backingId, a.backingId, 'inode 2 still passes through');
  t.equal(warnings.length, 1);
  registry.release(2, 1);
  registry.release(2, 3);
  t.equal(registry.registeredIds, 0);
});

for (const errno of ['EBADF', 'EINVAL', 'EISDIR'] as const) {
  t.test(`BACKING_OPEN fails with ${errno}: that open plain, quietly; the next file tries again`, async (t) => {
    const { kernel, registry, warnings, debug } = setup();
    kernel.failOpen = (fd) => (fd === 10 ? errno : undefined);
    const bad = registry.open(2, { fh: 1, openFlags: 0, passthrough: true, backingFd: 10 });
    t.same(bad, { fh: 1, openFlags: 0 });
    t.equal(kernel.deliver(2, bad), 'ok');
    const good = registry.open(3, { fh: 2, openFlags: 0, passthrough: true, backingFd: 11 });
    t.equal(good.backingId, 1);
    t.equal(warnings.length, 0);
    t.match(debug.join('\n'), new RegExp(`failed with ${errno}; served plain`));
    t.equal(registry.enabled, true);
  });
}

t.test('an unexpected BACKING_OPEN errno: plain, warned once per errno', async (t) => {
  const { kernel, registry, warnings } = setup();
  kernel.failOpen = () => 'ENOMEM';
  registry.open(2, { fh: 1, openFlags: 0, passthrough: true, backingFd: 10 });
  registry.open(3, { fh: 2, openFlags: 0, passthrough: true, backingFd: 10 });
  t.equal(kernel.backingOpens, 2, 'still trying');
  t.equal(warnings.length, 1);
  t.match(warnings[0], /ENOMEM/);
});

t.test('check(): a start-up BACKING_OPEN', async (t) => {
  const ok = setup();
  t.equal(ok.registry.check(5), true);
  t.same(ok.kernel.calls.map((c) => c.op), ['open', 'close'], 'a regular file: registered and closed at once');
  t.equal(ok.kernel.live.size, 0);

  // The session checks with a directory: past the capability check, the kernel says EISDIR.
  for (const errno of ['EISDIR', 'EINVAL', 'EBADF', 'ELOOP'] as const) {
    const dir = setup();
    dir.kernel.failOpen = () => errno;
    t.equal(dir.registry.check(5), true, `${errno}: allowed`);
    t.equal(dir.registry.enabled, true);
    t.equal(dir.warnings.length, 0);
  }

  for (const errno of ['EPERM', 'ENOTTY', 'EOPNOTSUPP'] as const) {
    const refused = setup();
    refused.kernel.failOpen = () => errno;
    t.equal(refused.registry.check(5), false, `${errno}: refused`);
    t.equal(refused.registry.enabled, false);
    t.equal(refused.warnings.length, 1);
    refused.registry.open(2, { fh: 1, openFlags: 0, passthrough: true, backingFd: 10 });
    t.equal(refused.kernel.backingOpens, 1, 'no BACKING_OPEN at open time');
    t.equal(refused.warnings.length, 1, 'still one warning');
  }

  const required = setup({ require: true });
  required.kernel.failOpen = () => 'EPERM';
  t.throws(() => required.registry.check(5), { name: 'PassthroughUnavailableError', code: 'EPERM' });

  const off = setup({ negotiated: false });
  t.equal(off.registry.check(5), false);
  t.equal(off.kernel.calls.length, 0);
});

t.test('BACKING_CLOSE failure is reported, the id forgotten', async (t) => {
  const { kernel, registry, warnings } = setup();
  registry.open(2, { fh: 1, openFlags: 0, passthrough: true, backingFd: 10 });
  kernel.live.clear(); // the kernel lost it (connection aborted, say)
  registry.release(2, 1);
  t.equal(registry.registeredIds, 0);
  t.match(warnings[0], /BACKING_CLOSE of backing id 1 failed with ENOENT/);
});

t.test('clear() forgets everything without ioctls', async (t) => {
  const { kernel, registry } = setup();
  registry.open(2, { fh: 1, openFlags: 0, passthrough: true, backingFd: 10 });
  const calls = kernel.calls.length;
  registry.clear();
  t.equal(registry.registeredIds, 0);
  t.equal(registry.openCount, 0);
  t.equal(kernel.calls.length, calls);
  t.equal(registry.enabled, false);
  t.same(registry.open(3, { fh: 2, openFlags: 0, passthrough: true, backingFd: 10 }), { fh: 2, openFlags: 0 }, 'later opens: plain');
  t.equal(registry.openCount, 0, 'and untracked');
  t.equal(kernel.calls.length, calls);
});

t.test('random interleavings never break a kernel rule and leave no id behind', async (t) => {
  // Deterministic xorshift, so a failure can be replayed.
  let seed = 0x2545f491;
  const rand = (n: number): number => {
    seed ^= seed << 13; seed >>>= 0;
    seed ^= seed >>> 17;
    seed ^= seed << 5; seed >>>= 0;
    return seed % n;
  };
  for (let round = 0; round < 50; round++) {
    const { kernel, registry } = setup();
    kernel.failOpen = () => (rand(20) === 0 ? 'EBADF' : undefined);
    const open: Array<{ nodeid: number; fh: number; out: OpenOut }> = [];
    let nextFh = 1;
    let eio = 0;
    for (let step = 0; step < 400; step++) {
      if (open.length > 0 && rand(2) === 0) {
        const [o] = open.splice(rand(open.length), 1);
        kernel.close(o.nodeid, o.out);
        registry.release(o.nodeid, o.fh);
      } else {
        const nodeid = 2 + rand(4);
        const fh = rand(4) === 0 ? 0 : nextFh++;
        const flags = [0, FOPEN_KEEP_CACHE, FOPEN_DIRECT_IO, FOPEN_NOFLUSH | FOPEN_STREAM][rand(4)];
        const out = registry.open(nodeid, { fh, openFlags: flags, passthrough: rand(3) !== 0, backingFd: rand(2) === 0 ? 100 + nodeid : undefined });
        if (rand(15) === 0) {
          registry.notDelivered(nodeid, fh);
          continue;
        }
        if (kernel.deliver(nodeid, out) === 'EIO') {
          eio++;
          registry.release(nodeid, fh);
          continue;
        }
        open.push({ nodeid, fh, out });
      }
      // Every id the kernel knows belongs to an inode with passthrough opens, and the reverse.
      for (const id of kernel.live) {
        if (![...kernel.inodes.values()].some((i) => i.backing === id && i.passthrough > 0)) {
          // Registered but its only open was not delivered yet/never: must not happen after the step.
          t.fail(`id ${id} live without passthrough opens (round ${round}, step ${step})`);
        }
      }
    }
    t.equal(eio, 0, `round ${round}: no open failed with EIO`);
    for (const o of open) {
      kernel.close(o.nodeid, o.out);
      registry.release(o.nodeid, o.fh);
    }
    t.equal(kernel.live.size, 0, `round ${round}: every id closed`);
    t.equal(registry.registeredIds, 0);
    t.equal(registry.openCount, 0);
  }
});

t.test('checkSource() and checkDir(): a file without a name asks about a directory\'s filesystem', async (t) => {
  const dir = fs.openSync(tempDir(t, 'tsfuse-backing-'), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  t.teardown(() => fs.closeSync(dir));
  const nameless = (fd: number): boolean => fs.fstatSync(fd).nlink === 0;

  // At start, without require: ELOOP warns once and serves that filesystem's files plain.
  const plain = setup();
  plain.kernel.failOpen = (fd) => (nameless(fd) ? 'ELOOP' : undefined);
  t.equal(plain.registry.checkSource(dir), false);
  t.match(plain.warnings, [/^passthrough off for the files of the source's filesystem: ELOOP.*--max-stack-depth 2/]);
  t.equal(plain.registry.enabled, true, 'other filesystems (submounts) may still pass through');
  const file = fs.openSync(`/proc/self/fd/${dir}`, sys.O_TMPFILE | fs.constants.O_RDWR, 0o600);
  t.teardown(() => fs.closeSync(file));
  t.equal(plain.registry.open(2, { fh: 1, openFlags: 0, passthrough: true, backingFd: file }).backingId, undefined);
  t.equal(plain.kernel.backingOpens, 1, 'its files are not asked about again');
  plain.registry.checkDir(dir);
  t.equal(plain.kernel.backingOpens, 1, 'checkDir asks nothing without require');

  // With require the mount refuses to start.
  const required = setup({ require: true });
  required.kernel.failOpen = () => 'ELOOP';
  t.throws(() => required.registry.checkSource(dir), { name: 'PassthroughUnavailableError', code: 'ELOOP', message: /--max-stack-depth 2/ });

  // Before a CREATE: one question per filesystem, answered from memory afterwards.
  const ok = setup({ require: true });
  ok.registry.checkDir(dir);
  ok.registry.checkDir(dir);
  t.same(ok.kernel.calls.map((c) => c.op), ['open', 'close'], 'asked once, the test id closed at once');
  t.same(ok.registry.stats, { registered: 0, closed: 0, failed: 0, live: 0 }, 'no backing file counted');

  const deep = setup({ require: true });
  deep.kernel.failOpen = () => 'ELOOP';
  t.throws(() => deep.registry.checkDir(dir), { name: 'PassthroughUnavailableError', code: 'ELOOP' });
  t.throws(() => deep.registry.checkDir(dir), { name: 'PassthroughUnavailableError', code: 'ELOOP' });
  t.equal(deep.kernel.backingOpens, 1, 'the refusal is remembered');
});
