// The probe's interpretation, fed INIT offers of kernels other than this machine's: request bytes
// as an old kernel sends them go through the codec's decoder and the probe's verdict logic.
// No mount, no root needed.
import t from 'tap';
import { formatProbe } from '../src/cli/commands/probe';
import { Opcode } from '../src/protocol/constants';
import { decodeRequest } from '../src/protocol/decode';
import { encodeInitFlags, type InitFlagName } from '../src/protocol/init-flags';
import {
  explainBackingErrno,
  interpretProbe,
  passthroughVerdict,
  probeExitCode,
  verdictLine,
  type ProbeFacts,
} from '../src/kernel/probe';
import type { BackingAttempt, InitOffer, LiveReport } from '../src/kernel/probe-live';

/** An INIT request as the kernel writes it: fuse_in_header + fuse_init_in of `bodySize` bytes. */
function initRequestBytes(o: { major: number; minor: number; maxReadahead: number; flags: number; flags2?: number; bodySize: number }): Buffer {
  const buf = Buffer.alloc(40 + o.bodySize);
  buf.writeUInt32LE(buf.length, 0); // len
  buf.writeUInt32LE(Opcode.INIT, 4);
  buf.writeUInt32LE(2, 8); // unique
  buf.writeUInt32LE(o.major, 40);
  buf.writeUInt32LE(o.minor, 44);
  buf.writeUInt32LE(o.maxReadahead, 48);
  buf.writeUInt32LE(o.flags >>> 0, 52);
  if (o.bodySize >= 24 && o.flags2 !== undefined) buf.writeUInt32LE(o.flags2 >>> 0, 56);
  return buf;
}

function decodeOffer(buf: Buffer): InitOffer {
  const req = decodeRequest(buf);
  if ('kind' in req || req.opcode !== Opcode.INIT) throw new Error(`not an INIT: ${JSON.stringify(req)}`);
  return { major: req.major, minor: req.minor, maxReadahead: req.maxReadahead, flags: req.flags, flags2: req.flags2 };
}

// Linux 5.10 (protocol 7.32): fuse_init_in was 16 bytes, no FUSE_INIT_EXT, no flags2. Its
// fuse_send_init offers these (MAP_ALIGNMENT/SUBMOUNTS only for DAX/virtiofs).
const LINUX_5_10_FLAGS: InitFlagName[] = [
  'FUSE_ASYNC_READ', 'FUSE_POSIX_LOCKS', 'FUSE_ATOMIC_O_TRUNC', 'FUSE_EXPORT_SUPPORT', 'FUSE_BIG_WRITES',
  'FUSE_DONT_MASK', 'FUSE_SPLICE_WRITE', 'FUSE_SPLICE_MOVE', 'FUSE_SPLICE_READ', 'FUSE_FLOCK_LOCKS',
  'FUSE_HAS_IOCTL_DIR', 'FUSE_AUTO_INVAL_DATA', 'FUSE_DO_READDIRPLUS', 'FUSE_READDIRPLUS_AUTO', 'FUSE_ASYNC_DIO',
  'FUSE_WRITEBACK_CACHE', 'FUSE_NO_OPEN_SUPPORT', 'FUSE_PARALLEL_DIROPS', 'FUSE_HANDLE_KILLPRIV', 'FUSE_POSIX_ACL',
  'FUSE_ABORT_ERROR', 'FUSE_MAX_PAGES', 'FUSE_CACHE_SYMLINKS', 'FUSE_NO_OPENDIR_SUPPORT', 'FUSE_EXPLICIT_INVAL_DATA',
];

const attempt = (errno: string | null, maxStackDepth = 1): BackingAttempt => ({
  maxStackDepth,
  id: errno === null ? 1 : null,
  errno,
  closeErrno: null,
});

function live(offer: InitOffer, backing: BackingAttempt[], backingDir: LiveReport['backingDir'] = null, ring: LiveReport['ring'] = null): LiveReport {
  return { mounted: true, mountError: null, offer, backing, backingDir, ring, error: null };
}

/** Facts of a root process on `release`, whose live check produced `report`. */
function facts(release: string, report: LiveReport | null, over: Partial<ProbeFacts> = {}): ProbeFacts {
  return {
    release: { value: release, how: 'test' },
    devFuse: { value: { exists: true, openable: true, errno: null }, how: 'test' },
    privilege: { value: { euid: 0, capSysAdmin: true, initialUserNs: true }, how: 'test' },
    fusermount3: { value: { path: null, setuidRoot: false }, how: 'test' },
    config: { value: { source: '/proc/config.gz', FUSE_FS: 'y', FUSE_PASSTHROUGH: 'y', FUSE_IO_URING: 'y' }, how: 'test' },
    enableUring: { value: false, how: 'test' },
    backing: null,
    live: report,
    liveRoute: report === null ? null : 'mount',
    mountError: null,
    usernsError: null,
    ...over,
  };
}

t.test('Linux 5.10 INIT offer: 7.32, 25 flags by name, no passthrough, exit 1', async (t) => {
  const words = encodeInitFlags(LINUX_5_10_FLAGS);
  const bytes = initRequestBytes({ major: 7, minor: 32, maxReadahead: 131072, flags: words.flags, bodySize: 16 });
  t.equal(bytes.length, 56, 'a 7.32 INIT request is 56 bytes');
  const offer = decodeOffer(bytes);
  t.same(offer, { major: 7, minor: 32, maxReadahead: 131072, flags: words.flags, flags2: 0 });

  // A 5.10 kernel has no FUSE_DEV_IOC_BACKING_OPEN: the ioctl fails with ENOTTY.
  const p = interpretProbe(facts('5.10.0-28-amd64', live(offer, [attempt('ENOTTY')])));
  t.equal(p.protocol, '7.32');
  t.same(p.flags, LINUX_5_10_FLAGS);
  t.equal(p.flagWords?.flags2, '0x0');
  t.equal(p.passthrough.offered, false);
  t.equal(p.passthrough.usable, false);
  t.match(p.passthrough.reason, /5\.10\.0-28-amd64 predates FUSE passthrough \(6\.9\)/);
  t.equal(p.ioUring.offered, false);
  t.equal(p.error, null);
  t.equal(probeExitCode(p), 1);
  t.match(verdictLine(p), /^passthrough: unavailable — kernel 5\.10\.0-28-amd64 predates FUSE passthrough \(6\.9\), use Linux 6\.9 or later$/);
});

t.test('flags2 is read only when FUSE_INIT_EXT is offered', async (t) => {
  const flags = encodeInitFlags(['FUSE_ASYNC_READ']).flags;
  const noExt = decodeOffer(initRequestBytes({ major: 7, minor: 40, maxReadahead: 4096, flags, flags2: 0x20, bodySize: 64 }));
  t.equal(noExt.flags2, 0, 'a PASSTHROUGH bit in flags2 without INIT_EXT is not an offer');
  const p = interpretProbe(facts('6.9.0', live(noExt, [attempt('EPERM')])));
  t.equal(p.passthrough.offered, false);
  t.notOk(p.flags.includes('FUSE_PASSTHROUGH'));
});

t.test('Linux 6.8 (7.39): INIT_EXT and flags2, but no passthrough yet', async (t) => {
  const w = encodeInitFlags([...LINUX_5_10_FLAGS, 'FUSE_INIT_EXT', 'FUSE_SECURITY_CTX', 'FUSE_CREATE_SUPP_GROUP', 'FUSE_HAS_EXPIRE_ONLY', 'FUSE_DIRECT_IO_ALLOW_MMAP']);
  const offer = decodeOffer(initRequestBytes({ major: 7, minor: 39, maxReadahead: 131072, flags: w.flags, flags2: w.flags2, bodySize: 64 }));
  t.equal(offer.flags2, w.flags2);
  const p = interpretProbe(facts('6.8.12', live(offer, [attempt('ENOTTY')])));
  t.equal(p.protocol, '7.39');
  t.ok(p.flags.includes('FUSE_DIRECT_IO_ALLOW_MMAP'), 'flags2 names decoded');
  t.equal(p.passthrough.offered, false);
  t.match(p.passthrough.reason, /predates FUSE passthrough/);
});

t.test('6.12 built without CONFIG_FUSE_PASSTHROUGH', async (t) => {
  const w = encodeInitFlags([...LINUX_5_10_FLAGS, 'FUSE_INIT_EXT', 'FUSE_ALLOW_IDMAP']);
  const offer = decodeOffer(initRequestBytes({ major: 7, minor: 41, maxReadahead: 131072, flags: w.flags, flags2: w.flags2, bodySize: 64 }));
  const f = facts('6.12.1', live(offer, [attempt('EOPNOTSUPP')]));
  f.config.value = { ...f.config.value, FUSE_PASSTHROUGH: 'n' };
  const p = interpretProbe(f);
  t.equal(p.passthrough.offered, false);
  t.match(p.passthrough.reason, /built without CONFIG_FUSE_PASSTHROUGH/);
  t.equal(probeExitCode(p), 1);
});

// This machine's offer (Linux 6.18): 7.45, flags 0x73fffffb, flags2 0x5fd.
const OFFER_6_18: InitOffer = { major: 7, minor: 45, maxReadahead: 131072, flags: 0x73fffffb, flags2: 0x5fd };

t.test('6.18 offer decoded by name, both words', async (t) => {
  const offer = decodeOffer(initRequestBytes({ ...OFFER_6_18, bodySize: 64 }));
  t.same(offer, OFFER_6_18);
  const p = interpretProbe(facts('6.18.44', live(offer, [attempt(null)])));
  t.equal(p.protocol, '7.45');
  t.equal(p.flags.length, 37);
  for (const name of ['FUSE_ASYNC_READ', 'FUSE_INIT_EXT', 'FUSE_PASSTHROUGH', 'FUSE_ALLOW_IDMAP', 'FUSE_REQUEST_TIMEOUT']) {
    t.ok(p.flags.includes(name), name);
  }
  for (const name of ['FUSE_FILE_OPS', 'FUSE_MAP_ALIGNMENT', 'FUSE_SUBMOUNTS', 'FUSE_HAS_INODE_DAX', 'FUSE_OVER_IO_URING']) {
    t.notOk(p.flags.includes(name), `${name} not offered`);
  }
  t.same(p.flagWords, { flags: '0x73fffffb', flags2: '0x5fd' });
  t.same(passthroughVerdict(p), { usable: true, reason: 'BACKING_OPEN works', advice: null, maxStackDepth: 1 });
  t.equal(p.ioUring.offered, false);
  t.equal(verdictLine(p), 'passthrough: available');
  t.equal(probeExitCode(p), 0);
});

t.test('io_uring offered when the kernel sets FUSE_OVER_IO_URING', async (t) => {
  const offer = { ...OFFER_6_18, flags2: OFFER_6_18.flags2 | (1 << 9) };
  const ring = { errno: null, step: 'FUSE_IO_URING_CMD_REGISTER' };
  const p = interpretProbe(facts('6.18.44', live(offer, [attempt(null)], null, ring), { enableUring: { value: true, how: 'test' } }));
  t.same(p.ioUring, { offered: true, enableUring: true, configured: 'y', usable: true, errno: null });
  t.match(p.how.ioUring, /REGISTER of one ring entry per queue accepted/);
});

t.test('io_uring offered but its ring entries refused: not usable, and why', async (t) => {
  const offer = { ...OFFER_6_18, flags2: OFFER_6_18.flags2 | (1 << 9) };
  const ring = { errno: 'EPERM', step: 'io_uring_setup' };
  const p = interpretProbe(facts('6.18.44', live(offer, [attempt(null)], null, ring), { enableUring: { value: true, how: 'test' } }));
  t.same(p.ioUring, { offered: true, enableUring: true, configured: 'y', usable: false, errno: 'EPERM' });
  t.match(p.how.ioUring, /io_uring_setup of one ring entry per queue failed: EPERM/);
});

t.test('EPERM from a user namespace: no CAP_SYS_ADMIN in the initial one', async (t) => {
  const p = interpretProbe(
    facts('6.18.44', live(OFFER_6_18, [attempt('EPERM')]), {
      privilege: { value: { euid: 0, capSysAdmin: false, initialUserNs: true }, how: 'test' },
      liveRoute: 'userns',
      mountError: 'mount(8): permission denied',
    }),
  );
  t.equal(p.canMount, false);
  t.equal(p.passthrough.offered, true);
  t.equal(p.passthrough.errno, 'EPERM');
  t.match(p.passthrough.reason, /CAP_SYS_ADMIN in the initial user namespace/);
  t.equal(probeExitCode(p), 1);
  t.match(p.how.protocol, /new user and mount namespace/);
});

t.test('without any live check, the capability verdict is inferred and says so', async (t) => {
  const p = interpretProbe(
    facts('6.18.44', null, {
      privilege: { value: { euid: 1000, capSysAdmin: false, initialUserNs: true }, how: 'CapEff' },
      mountError: 'mount(8): permission denied',
      usernsError: 'unshare -Urm: Operation not permitted',
    }),
  );
  t.equal(p.protocol, null);
  t.same(p.flags, []);
  t.equal(p.passthrough.errno, null, 'no errno: nothing was measured');
  t.match(p.passthrough.reason, /CAP_SYS_ADMIN/);
  t.match(p.how.passthrough, /^inferred/);
  t.equal(probeExitCode(p), 1);
});

t.test('a privileged process that cannot mount: the probe could not decide, exit 2', async (t) => {
  const p = interpretProbe(facts('6.18.44', null, { mountError: 'mount(8): exit 32' }));
  t.equal(p.passthrough.usable, false);
  t.not(p.error, null);
  t.equal(probeExitCode(p), 2);
  t.match(verdictLine(p), /^passthrough: unknown/);
});

t.test('missing /dev/fuse is a verdict, not a probe failure', async (t) => {
  const p = interpretProbe(
    facts('6.18.44', null, { devFuse: { value: { exists: false, openable: false, errno: 'ENOENT' }, how: 'stat /dev/fuse: ENOENT' } }),
  );
  t.equal(probeExitCode(p), 1);
  t.match(verdictLine(p), /unavailable — \/dev\/fuse does not exist, load the fuse module/);
});

t.test('--backing: depth from ELOOP at max_stack_depth 1 and 2', async (t) => {
  const backing = { path: '/srv/ovl', mount: { mountPoint: '/srv/ovl', fsType: 'overlay' } };
  const dir = (attempts: BackingAttempt[]): LiveReport['backingDir'] => ({ path: '/srv/ovl', file: 'O_TMPFILE', fileErrors: [], attempts });

  const one = interpretProbe(facts('6.18.44', live(OFFER_6_18, [attempt(null)], dir([attempt('ELOOP'), attempt(null, 2)])), { backing }));
  t.match(one.stackDepth.backing, { depth: 1, source: 'live', maxStackDepth: 2, fsType: 'overlay' });
  t.same(passthroughVerdict(one), { usable: true, reason: 'BACKING_OPEN works with max_stack_depth 2', advice: null, maxStackDepth: 2 });

  const two = interpretProbe(facts('6.18.44', live(OFFER_6_18, [attempt(null)], dir([attempt('ELOOP'), attempt('ELOOP', 2)])), { backing }));
  t.match(two.stackDepth.backing, { depth: 2, source: 'live', maxStackDepth: null });
  t.equal(two.passthrough.usable, false);
  t.equal(two.passthrough.errno, 'ELOOP');
  t.equal(probeExitCode(two), 1);

  const guessed = interpretProbe(facts('6.18.44', live(OFFER_6_18, [attempt(null)], { path: '/srv/ovl', file: null, fileErrors: ['O_TMPFILE: EROFS'], attempts: [] }), { backing }));
  t.match(guessed.stackDepth.backing, { depth: 1, source: 'fsType', maxStackDepth: 2 });
  t.equal(guessed.passthrough.maxStackDepth, 1, 'no live evidence about the backing files: the temporary file decides');
});

t.test('explainBackingErrno: each errno has its meaning', async (t) => {
  t.match(explainBackingErrno('EPERM', { capSysAdmin: false }).reason, /CAP_SYS_ADMIN in the initial user namespace/);
  t.match(explainBackingErrno('EPERM', { capSysAdmin: true, initialUserNs: true }).reason, /not negotiated/);
  t.match(explainBackingErrno('ENOTTY', { release: '6.6.1' }).reason, /kernel 6\.6\.1 is older than 6\.9/);
  t.match(explainBackingErrno('ENOTTY').reason, /^ENOTTY: kernel is older than 6\.9/);
  t.match(explainBackingErrno('EOPNOTSUPP').reason, /CONFIG_FUSE_PASSTHROUGH/);
  t.match(explainBackingErrno('ELOOP').reason, /stacked too deep/);
  t.match(explainBackingErrno('EBADF').reason, /EBADF/);
});

t.test('human output: one aligned table, then the verdict line', async (t) => {
  const text = formatProbe(interpretProbe(facts('6.18.44', live(OFFER_6_18, [attempt(null)]))));
  const lines = text.split('\n');
  t.equal(lines.at(-1), 'passthrough: available');
  const row = (name: string): string => lines.find((l) => l.startsWith(name + ' ')) ?? '';
  t.match(row('protocol'), /^protocol\s+7\.45\s+major\.minor of the INIT request/);
  t.match(row('passthrough'), /offered, usable \(max_stack_depth 1\)/);
  t.match(row('mount routes'), /mount\(8\) (yes|no), fusermount3 no \(not installed\)/, 'which ways to mount this user has');
  // The "how" column starts at the same place on every row that has one: the rows whose how is
  // 'test' (kernel, /dev/fuse, CAP_SYS_ADMIN, fusermount3, kernel config) end at the same column.
  const testRows = lines.filter((l) => l.endsWith('  test'));
  t.equal(testRows.length, 5);
  t.equal(new Set(testRows.map((l) => l.length)).size, 1);
});
