// Passthrough at the protocol level: the session over a MemoryTransport plays against a pretend
// kernel, with the BACKING_OPEN/CLOSE ioctls injected. It shows what a live kernel here cannot:
// an old kernel's INIT offer (7.39, no FUSE_PASSTHROUGH), a refused open reply.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import type { Filesystem, OpenReply } from '../src/fs/api';
import { Bridge } from '../src/fs/bridge';
import { Loopback } from '../src/fs/loopback';
import { PassthroughUnavailableError, type IoctlFunction } from '../src/kernel/backing';
import { MemoryTransport } from '../src/kernel/memory-transport';
import { Session } from '../src/kernel/session';
import { FOPEN_KEEP_CACHE, FOPEN_PASSTHROUGH, Opcode } from '../src/protocol/constants';
import { Errno } from '../src/protocol/errors';
import { INIT_FLAG_BITS } from '../src/protocol/init-flags';
import { FUSE_DEV_IOC_BACKING_CLOSE, FUSE_DEV_IOC_BACKING_OPEN } from '../src/protocol/ioctl';
import * as L from '../src/protocol/layouts';
import { initRequest, parseReply, request } from './helpers/requests';
import { tempDir } from './helpers/tmp';

const BACKING_FD = 99;
const DEVICE_FD = 5;
const bit = (name: keyof typeof INIT_FLAG_BITS): number => 1 << INIT_FLAG_BITS[name] % 32;

/** A Linux 6.6-era offer: protocol 7.39, INIT_EXT, but no FUSE_PASSTHROUGH (7.40). */
const OFFER_7_39 = { minor: 39, flags: 0x73fffffb, flags2: 0x1f };

function openRequest(unique: number, nodeid: number, flags = 0): Buffer {
  const body = Buffer.alloc(L.fuse_open_in.size);
  body.writeUInt32LE(flags, L.fuse_open_in.off.flags);
  return request(Opcode.OPEN, body, { unique, nodeid });
}

function releaseRequest(unique: number, nodeid: number, fh: number): Buffer {
  const body = Buffer.alloc(L.fuse_release_in.size);
  body.writeBigUInt64LE(BigInt(fh), L.fuse_release_in.off.fh);
  return request(Opcode.RELEASE, body, { unique, nodeid });
}

function openOut(reply: Buffer): { error: number; fh: number; openFlags: number; backingId: number } {
  const r = parseReply(reply);
  if (r.error !== 0) return { error: r.error, fh: 0, openFlags: 0, backingId: 0 };
  return {
    error: 0,
    fh: Number(r.body.readBigUInt64LE(L.fuse_open_out.off.fh)),
    openFlags: r.body.readUInt32LE(L.fuse_open_out.off.open_flags),
    backingId: r.body.readInt32LE(L.fuse_open_out.off.backing_id),
  };
}

interface Setup {
  transport: MemoryTransport;
  session: Session;
  ioctls: Array<{ op: 'open' | 'close'; arg: number }>;
  logs: string[];
  releases: number[];
}

/** A filesystem whose every open asks for passthrough to BACKING_FD (with KEEP_CACHE, which must go). */
async function start(offer: { minor?: number; flags?: number; flags2?: number }, options: {
  features?: Filesystem['features'];
  require?: boolean;
  withRelease?: boolean;
} = {}): Promise<Setup> {
  const ioctls: Setup['ioctls'] = [];
  const logs: string[] = [];
  const releases: number[] = [];
  let nextId = 1;
  // The pretend kernel: ids for BACKING_FD, EISDIR for the session's start-up check of '/'.
  const ioctl: IoctlFunction = (fd, req, arg) => {
    if (fd !== DEVICE_FD) throw Object.assign(new Error('EBADF'), { code: String(Errno.EBADF) });
    if (req === FUSE_DEV_IOC_BACKING_OPEN) {
      const backingFd = arg.readInt32LE(0);
      ioctls.push({ op: 'open', arg: backingFd });
      if (backingFd !== BACKING_FD) throw Object.assign(new Error('EISDIR'), { code: String(Errno.EISDIR) });
      return nextId++;
    }
    if (req === FUSE_DEV_IOC_BACKING_CLOSE) {
      ioctls.push({ op: 'close', arg: arg.readUInt32LE(0) });
      return 0;
    }
    throw new Error(`unexpected ioctl ${req}`);
  };
  let fh = 1;
  const fs: Filesystem = {
    features: options.features ?? { passthrough: true },
    async open(): Promise<OpenReply> {
      return { fh: fh++, backingFd: BACKING_FD, keepCache: true };
    },
    // Present so that the bridge adds no FOPEN_NOFLUSH of its own: the flags seen are ours.
    async flush(): Promise<void> {},
  };
  if (options.withRelease !== false) {
    fs.release = async (_ctx, _nodeid, f) => void releases.push(f);
  }
  const transport = new MemoryTransport();
  const session = new Session(transport, new Bridge(fs), {
    log: (line) => logs.push(line),
    backing: { deviceFd: DEVICE_FD, ioctl, require: options.require },
  });
  session.start();
  transport.push(initRequest(1, offer));
  await session.ready.catch(() => {});
  return { transport, session, ioctls, logs, releases };
}

async function roundTrip(s: Setup, req: Buffer): Promise<Buffer> {
  const n = s.transport.replies.length;
  s.transport.push(req);
  return (await s.transport.waitReplies(n + 1))[n];
}

function initOut(reply: Buffer): { flags: number; flags2: number; maxStackDepth: number } {
  const body = parseReply(reply).body;
  const o = L.fuse_init_out.off;
  return { flags: body.readUInt32LE(o.flags), flags2: body.readUInt32LE(o.flags2), maxStackDepth: body.readUInt32LE(o.max_stack_depth) };
}

t.test('INIT from a kernel without passthrough (7.39): not requested, no ioctl, plain opens, one warning', async (t) => {
  const s = await start(OFFER_7_39);
  const init = initOut(s.transport.replies[0]);
  t.equal(init.flags2 & bit('FUSE_PASSTHROUGH'), 0, 'FUSE_PASSTHROUGH not in the reply');
  t.equal(init.maxStackDepth, 0);
  const open = openOut(await roundTrip(s, openRequest(2, 5)));
  t.same(open, { error: 0, fh: 1, openFlags: FOPEN_KEEP_CACHE, backingId: 0 }, 'a plain open, as the filesystem asked otherwise');
  t.equal(parseReply(await roundTrip(s, releaseRequest(3, 5, 1))).error, 0);
  t.same(s.ioctls, [], 'no ioctl attempted');
  const warnings = s.logs.filter((l) => /passthrough off/.test(l));
  t.equal(warnings.length, 1);
  t.match(warnings[0], /does not offer FUSE_PASSTHROUGH.*Linux 6\.9/);
});

t.test('7.39 with require: the session refuses to start', async (t) => {
  const s = await start(OFFER_7_39, { require: true });
  await t.rejects(s.session.ready, PassthroughUnavailableError);
  await s.session.closed;
  t.same(s.ioctls, []);
});

t.test('7.45: one backing id per inode, FOPEN flags masked, closed with the last RELEASE', async (t) => {
  const s = await start({});
  const init = initOut(s.transport.replies[0]);
  t.not(init.flags2 & bit('FUSE_PASSTHROUGH'), 0, 'FUSE_PASSTHROUGH requested');
  t.not(init.flags & bit('FUSE_INIT_EXT'), 0, 'with FUSE_INIT_EXT');
  t.equal(init.maxStackDepth, 1, 'max_stack_depth 1 by default');
  t.same(s.ioctls, [{ op: 'open', arg: s.ioctls[0]?.arg }], 'the start-up check: one BACKING_OPEN of a directory');
  t.not(s.ioctls[0].arg, BACKING_FD);
  s.ioctls.length = 0;

  const a = openOut(await roundTrip(s, openRequest(2, 7)));
  t.same(a, { error: 0, fh: 1, openFlags: FOPEN_PASSTHROUGH, backingId: 1 }, 'KEEP_CACHE dropped, backing id 1');
  const b = openOut(await roundTrip(s, openRequest(3, 7)));
  t.same(b, { error: 0, fh: 2, openFlags: FOPEN_PASSTHROUGH, backingId: 1 }, 'the same inode shares the id');
  const c = openOut(await roundTrip(s, openRequest(4, 8)));
  t.equal(c.backingId, 2, 'another inode, another id');
  t.same(s.ioctls, [{ op: 'open', arg: BACKING_FD }, { op: 'open', arg: BACKING_FD }]);
  t.equal(s.session.stats().backing.live, 2);

  await roundTrip(s, releaseRequest(5, 7, 1));
  t.equal(s.ioctls.length, 2, 'one open of inode 7 left: not closed');
  await roundTrip(s, releaseRequest(6, 7, 2));
  t.same(s.ioctls[2], { op: 'close', arg: 1 });
  await roundTrip(s, releaseRequest(7, 8, 3));
  t.same(s.ioctls[3], { op: 'close', arg: 2 });
  t.same(s.releases, [1, 2, 3], "the filesystem's release() ran too");
  t.same(s.session.stats().backing, { enabled: true, live: 0, registered: 2, closed: 2, failed: 0 });
});

t.test('an open reply the kernel refuses gives its reference back', async (t) => {
  const s = await start({});
  s.ioctls.length = 0;
  s.transport.refuse = (reply) => (parseReply(reply).unique === 2 ? 'ENOENT' : undefined);
  s.transport.push(openRequest(2, 7));
  // The refused reply is not recorded: let the handler's promise chain run out.
  await new Promise((resolve) => setImmediate(resolve));
  t.same(s.ioctls, [{ op: 'open', arg: BACKING_FD }, { op: 'close', arg: 1 }], 'registered, then closed: no RELEASE will come');
  t.equal(s.session.stats().backing.live, 0);
  t.same(s.releases, [1], "the filesystem's open was released too");
});

t.test('without passthrough too, a refused open reply releases the filesystem\'s open', async (t) => {
  const s = await start(OFFER_7_39);
  s.transport.refuse = (reply) => (parseReply(reply).unique === 2 ? 'ENOENT' : undefined);
  s.transport.push(openRequest(2, 7));
  await new Promise((resolve) => setImmediate(resolve));
  t.same(s.releases, [1], 'release() ran for the open the kernel never got');
  // A delivered open is not released before its RELEASE.
  s.transport.refuse = undefined;
  await roundTrip(s, openRequest(3, 7));
  t.same(s.releases, [1]);
});

t.test('RELEASE drops the reference even when the filesystem has no release()', async (t) => {
  const s = await start({}, { withRelease: false });
  s.ioctls.length = 0;
  await roundTrip(s, openRequest(2, 7));
  const r = parseReply(await roundTrip(s, releaseRequest(3, 7, 1)));
  t.equal(r.error, -Errno.ENOSYS, 'the filesystem answers ENOSYS');
  t.same(s.ioctls.at(-1), { op: 'close', arg: 1 }, 'the backing id is closed anyway');
});

t.test('writeback cache and passthrough: passthrough wins, and a warning says so', async (t) => {
  const s = await start({}, { features: { passthrough: true, writebackCache: true } });
  const init = initOut(s.transport.replies[0]);
  t.equal(init.flags & bit('FUSE_WRITEBACK_CACHE'), 0, 'no FUSE_WRITEBACK_CACHE');
  t.not(init.flags2 & bit('FUSE_PASSTHROUGH'), 0, 'FUSE_PASSTHROUGH');
  t.match(s.logs.join('\n'), /WRITEBACK_CACHE refused.*passthrough wins/);
});

t.test('max_stack_depth 2 on request', async (t) => {
  const s = await start({}, { features: { passthrough: true, maxStackDepth: 2 } });
  t.equal(initOut(s.transport.replies[0]).maxStackDepth, 2);
});

t.test('a filesystem that does not ask for passthrough at INIT: nothing requested, no ioctl, one warning', async (t) => {
  const s = await start({}, { features: {} });
  t.equal(initOut(s.transport.replies[0]).flags2 & bit('FUSE_PASSTHROUGH'), 0);
  t.notMatch(s.logs.join('\n'), /passthrough off/, 'no warning at INIT: nobody asked');
  // Its open() asks for passthrough all the same.
  const open = openOut(await roundTrip(s, openRequest(2, 5)));
  openOut(await roundTrip(s, openRequest(3, 7)));
  t.equal(open.openFlags, FOPEN_KEEP_CACHE, 'served plain');
  t.same(s.ioctls, []);
  t.equal(s.logs.filter((l) => /passthrough off/.test(l)).length, 1, 'one warning for both opens');
  t.match(s.logs.join('\n'), /did not ask for it at INIT: set `features: \{ passthrough: true \}`/, 'saying what to set');
});

t.test('a CREATE reply the kernel refuses takes the new name back; a later one is left alone', async (t) => {
  const src = tempDir(t, 'tsfuse-refused-create-');
  const transport = new MemoryTransport();
  const loopback = new Loopback(src);
  const session = new Session(transport, new Bridge(loopback), { log: () => {} });
  t.teardown(async () => {
    session.close();
    await session.closed;
  });
  session.start();
  transport.push(initRequest(1));
  await session.ready;
  const create = (unique: number, name: string): Buffer => {
    const body = Buffer.alloc(L.fuse_create_in.size);
    body.writeUInt32LE(fs.constants.O_WRONLY | fs.constants.O_CREAT, L.fuse_create_in.off.flags);
    body.writeUInt32LE(fs.constants.S_IFREG | 0o644, L.fuse_create_in.off.mode);
    return request(Opcode.CREATE, Buffer.concat([body, Buffer.from(`${name}\0`)]), { unique, nodeid: 1 });
  };
  transport.refuse = (reply) => (parseReply(reply).unique === 2 ? 'ENOENT' : undefined);
  transport.push(create(2, 'refused'));
  await new Promise((resolve) => setImmediate(resolve));
  t.same(fs.readdirSync(src), [], 'the file the refused CREATE made is gone');
  t.equal(loopback.inodeCount, 1, 'and its lookup reference: only the root is left');
  // Made again under that name (by someone else) before the refusal: not ours to remove.
  transport.refuse = (reply) => {
    if (parseReply(reply).unique !== 4) return undefined;
    fs.renameSync(path.join(src, 'taken'), path.join(src, 'moved'));
    fs.writeFileSync(path.join(src, 'taken'), 'theirs');
    return 'ENOENT';
  };
  transport.push(create(4, 'taken'));
  await new Promise((resolve) => setImmediate(resolve));
  t.same(fs.readdirSync(src).sort(), ['moved', 'taken']);
  t.equal(fs.readFileSync(path.join(src, 'taken'), 'utf8'), 'theirs', 'the other file under the name stays');
});
