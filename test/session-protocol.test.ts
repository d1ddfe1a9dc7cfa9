// The session driven with raw request bytes over an in-memory transport: what a real kernel on
// this machine cannot show (old kernels' INIT offers, truncated requests, refused replies), and
// the session's own duties request by request.
import t, { type Test } from 'tap';
import { Opcode } from '../src/protocol/constants';
import { Bridge } from '../src/fs/bridge';
import { FuseError } from '../src/fs/errors';
import type { Filesystem } from '../src/fs/api';
import { MemoryTransport } from '../src/kernel/memory-transport';
import { Session } from '../src/kernel/session';
import { sampleFs, MemFs } from './helpers/memfs';
import {
  batchForgetRequest, forgetRequest, getattrRequest, initRequest, interruptRequest, nameRequest, notifyReplyRequest,
  parseReply, request, writeRequest,
} from './helpers/requests';

const ENOENT = -2;
const EIO = -5;
const EINTR = -4;
const EINVAL = -22;
const ENOSYS = -38;
const EPROTO = -71;
const INIT_EXT = 1 << 30;

function setup(fs: Filesystem = sampleFs()): { tr: MemoryTransport; session: Session; logs: string[] } {
  const tr = new MemoryTransport();
  const logs: string[] = [];
  const session = new Session(tr, new Bridge(fs), { log: (l) => logs.push(l) });
  session.start();
  return { tr, session, logs };
}

/** Setup plus an answered INIT from this machine's kernel. */
async function ready(fs?: Filesystem): Promise<ReturnType<typeof setup>> {
  const s = setup(fs);
  s.tr.push(initRequest(1));
  await s.session.ready;
  s.tr.replies.length = 0;
  return s;
}

/** The reply to `unique`, waiting for it. */
async function replyTo(tr: MemoryTransport, unique: number) {
  for (;;) {
    const r = tr.replies.map(parseReply).find((x) => x.unique === unique);
    if (r) return r;
    await tr.waitReplies(tr.replies.length + 1);
  }
}

t.test('INIT from this kernel: 7.45 with INIT_EXT, max_write 1 MiB, ready resolves', async (t) => {
  const { tr, session } = setup(sampleFs({ features: { passthrough: true } }));
  tr.push(initRequest(1));
  const negotiated = await session.ready;
  const r = parseReply(tr.replies[0]);
  t.equal(r.unique, 1);
  t.equal(r.error, 0);
  t.equal(r.len, 16 + 64, 'full fuse_init_out');
  t.equal(r.body.readUInt32LE(0), 7);
  t.equal(r.body.readUInt32LE(4), 45);
  t.ok(r.body.readUInt32LE(12) & INIT_EXT, 'INIT_EXT echoed');
  t.equal(r.body.readUInt32LE(20), 1 << 20, 'max_write');
  t.equal(negotiated.passthrough, true, 'passthrough granted when offered and wanted');
  t.equal(session.stats().requests.INIT, 1);
});

t.test("an old kernel's INIT offer", async (t) => {
  await t.test('7.31 (no INIT_EXT): flags only, no passthrough, a warning says why', async (t) => {
    const { tr, session } = setup(sampleFs({ features: { passthrough: true } }));
    tr.push(initRequest(3, { minor: 31, flags: 0x3fffffb & ~INIT_EXT, flags2: 0 }));
    const negotiated = await session.ready;
    const r = parseReply(tr.replies[0]);
    t.equal(r.len, 16 + 64);
    t.equal(r.body.readUInt32LE(4), 31, 'answers with the kernel minor');
    t.notOk(r.body.readUInt32LE(12) & INIT_EXT, 'no INIT_EXT');
    t.equal(r.body.readUInt32LE(52), 0, 'no flags2');
    t.equal(negotiated.passthrough, false);
    t.match(session.initWarnings.join('\n'), /passthrough/);
  });
  await t.test('7.22: the 24-byte compat fuse_init_out', async (t) => {
    const { tr, session } = setup();
    tr.push(initRequest(5, { minor: 22, flags: 0xffff, flags2: 0 }));
    await session.ready;
    t.equal(parseReply(tr.replies[0]).len, 16 + 24);
  });
  await t.test('major 8: our major back, then the real INIT', async (t) => {
    const { tr, session } = setup();
    tr.push(initRequest(7, { major: 8 }));
    await tr.waitReplies(1);
    const r = parseReply(tr.replies[0]);
    t.equal(r.error, 0);
    t.equal(r.body.readUInt32LE(0), 7, 'major 7 offered back');
    tr.push(initRequest(9));
    await session.ready;
    t.equal(parseReply(tr.replies[1]).body.readUInt32LE(4), 45);
  });
  await t.test('major 6: refused with EPROTO, ready rejects', async (t) => {
    const { tr, session } = setup();
    tr.push(initRequest(11, { major: 6 }));
    await t.rejects(session.ready, /INIT refused/);
    t.equal(parseReply(tr.replies[0]).error, EPROTO);
    t.equal(session.stats().errors.INIT, 1);
  });
});

t.test("the filesystem's init() runs before the INIT reply and sees the negotiated connection", async (t) => {
  const order: string[] = [];
  const fs: Filesystem = {
    init: async (conn) => {
      order.push(`init ${conn.protoMinor} ${conn.maxWrite} ${conn.flags.has('FUSE_INIT_EXT')}`);
      await new Promise((r) => setTimeout(r, 10));
      order.push('init done');
    },
  };
  const { tr, session } = setup(fs);
  tr.push(initRequest(1));
  t.equal(tr.replies.length, 0, 'no reply while init() runs');
  await session.ready;
  t.same(order, ['init 45 1048576 true', 'init done']);
  t.equal(tr.replies.length, 1);
});

t.test('truncated and malformed requests', async (t) => {
  const { tr, session } = await ready();
  const good = getattrRequest(20, 1);
  tr.push(good.subarray(0, 24)); // header cut short: unique (bytes 8..16) is still readable
  t.same(parseReply(tr.replies[0]), { len: 16, error: EINVAL, unique: 20, body: Buffer.alloc(0) }, 'EINVAL to the unique it could read');
  tr.push(good.subarray(0, 12)); // no unique: nothing to answer
  t.equal(tr.replies.length, 1, 'no reply without a unique');
  tr.push(request(Opcode.LOOKUP, Buffer.from('no-nul'), { unique: 22 }));
  t.equal(parseReply(tr.replies[1]).error, EINVAL, 'a name without NUL');
  tr.push(request(Opcode.GETATTR, Buffer.alloc(16), { unique: 24 }, 999));
  t.equal(parseReply(tr.replies[2]).error, EINVAL, 'header len disagreeing with the bytes read');
  tr.push(request(Opcode.FORGET, Buffer.alloc(3), { unique: 26 }));
  t.equal(tr.replies.length, 3, 'a malformed FORGET gets no reply either');
  tr.push(getattrRequest(28, 1));
  t.equal((await replyTo(tr, 28)).error, 0, 'the session goes on');
  t.equal(session.stats().errors.GETATTR, 2);
});

t.test('unknown opcode: ENOSYS, counted under OTHER', async (t) => {
  const { tr, session } = await ready();
  tr.push(request(99, [], { unique: 30 }));
  t.equal(parseReply(tr.replies[0]).error, ENOSYS);
  t.equal(session.stats().requests.OTHER, 1);
  t.equal(session.stats().errors.OTHER, 1);
});

t.test('a request before INIT is answered EIO', async (t) => {
  const { tr } = setup();
  tr.push(getattrRequest(2, 1));
  t.equal(parseReply(tr.replies[0]).error, EIO);
});

t.test('an operation the filesystem lacks is ENOSYS; errno errors map; other errors are EIO and one log line', async (t) => {
  const fs: Filesystem = {
    lookup: async (_ctx, _parent, name) => {
      if (name === 'fuse') throw new FuseError('ENOENT');
      if (name === 'node') await import('node:fs/promises').then((p) => p.readFile('/nonexistent/tsfuse'));
      if (name === 'numeric') throw Object.assign(new Error('x'), { errno: -13 });
      throw new TypeError('boom');
    },
  };
  const { tr, session, logs } = await ready(fs);
  tr.push(getattrRequest(40, 1));
  t.equal((await replyTo(tr, 40)).error, ENOSYS, 'no getattr: ENOSYS');
  tr.push(nameRequest(Opcode.LOOKUP, 42, 1, 'fuse'));
  t.equal((await replyTo(tr, 42)).error, ENOENT, 'FuseError');
  tr.push(nameRequest(Opcode.LOOKUP, 44, 1, 'node'));
  t.equal((await replyTo(tr, 44)).error, ENOENT, "Node's fs error");
  tr.push(nameRequest(Opcode.LOOKUP, 46, 1, 'numeric'));
  t.equal((await replyTo(tr, 46)).error, -13, 'a negative errno number');
  t.equal(logs.length, 0, 'errno errors are not logged');
  tr.push(nameRequest(Opcode.LOOKUP, 48, 1, 'bug'));
  t.equal((await replyTo(tr, 48)).error, EIO, 'TypeError: EIO');
  t.equal(logs.length, 1, 'one log line');
  t.match(logs[0], /LOOKUP.*unique 48.*TypeError: boom/);
  t.notMatch(logs[0], /\n/);
  t.equal(session.stats().errors.LOOKUP, 4);
  t.equal(session.stats().requests.LOOKUP, 4);
});

t.test('FORGET and BATCH_FORGET reach the filesystem and get no reply', async (t) => {
  const m = sampleFs();
  const { tr, session } = await ready(m);
  tr.push(forgetRequest(50, 2, 3));
  tr.push(batchForgetRequest(52, [[3, 1], [4, 2]]));
  await new Promise((r) => setImmediate(r));
  t.equal(tr.replies.length, 0);
  t.same([...m.forgotten], [[2, 3], [3, 1], [4, 2]]);
  t.equal(session.stats().requests.FORGET, 1);
  t.equal(session.stats().requests.BATCH_FORGET, 1);
});

t.test('INTERRUPT aborts the signal; the reply is EINTR, once', async (t) => {
  const m = sampleFs();
  let sawAbort = false;
  m.onLookup.set('hang', (ctx) => new Promise((_, reject) => {
    ctx.signal.addEventListener('abort', () => {
      sawAbort = true;
      reject(ctx.signal.reason);
    });
  }));
  m.onLookup.set('stubborn', async (ctx) => {
    await new Promise((r) => setTimeout(r, 20));
    t.ok(ctx.signal.aborted, 'a signal first read after the INTERRUPT is aborted already');
  });
  const { tr, session } = await ready(m);
  tr.push(nameRequest(Opcode.LOOKUP, 60, 1, 'hang'));
  await new Promise((r) => setImmediate(r));
  t.equal(tr.replies.length, 0, 'the handler is waiting');
  tr.push(interruptRequest(62, 60));
  const r = await replyTo(tr, 60);
  t.ok(sawAbort, 'the handler saw the abort');
  t.equal(r.error, EINTR);
  tr.push(interruptRequest(64, 60)); // late, for an answered request
  tr.push(interruptRequest(66, 12345)); // for a request never seen
  await new Promise((r) => setTimeout(r, 10));
  t.equal(tr.replies.filter((b) => parseReply(b).unique === 60).length, 1, 'one reply for the request');
  t.equal(tr.replies.length, 1, 'INTERRUPT itself is never answered');

  tr.push(nameRequest(Opcode.LOOKUP, 68, 1, 'stubborn'));
  tr.push(interruptRequest(70, 68));
  t.equal((await replyTo(tr, 68)).error, ENOENT, 'a handler that ignores the interruption answers normally');
  t.equal(session.stats().requests.INTERRUPT, 4);
});

t.test('several requests in flight: INTERRUPT finds the one named, the end aborts the others', async (t) => {
  const m = sampleFs();
  const aborted: number[] = [];
  for (const name of ['a', 'b', 'c', 'd']) {
    m.onLookup.set(name, (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => {
      aborted.push(ctx.unique);
      reject(ctx.signal.reason);
    })));
  }
  const { tr, session } = await ready(m);
  tr.push(nameRequest(Opcode.LOOKUP, 140, 1, 'a'));
  tr.push(nameRequest(Opcode.LOOKUP, 142, 1, 'b'));
  tr.push(nameRequest(Opcode.LOOKUP, 144, 1, 'c'));
  tr.push(nameRequest(Opcode.LOOKUP, 146, 1, 'hello.txt'));
  t.equal((await replyTo(tr, 146)).error, 0);
  t.equal(session.stats().inFlight, 3);
  tr.push(interruptRequest(148, 142)); // the middle one
  t.equal((await replyTo(tr, 142)).error, EINTR);
  t.same(aborted, [142]);
  t.equal(session.stats().inFlight, 2);
  tr.push(interruptRequest(150, 144)); // the newest
  tr.push(interruptRequest(152, 140)); // the oldest
  t.equal((await replyTo(tr, 140)).error, EINTR);
  t.equal((await replyTo(tr, 144)).error, EINTR);
  t.equal(session.stats().inFlight, 0);
  tr.push(nameRequest(Opcode.LOOKUP, 154, 1, 'd'));
  tr.push(nameRequest(Opcode.LOOKUP, 156, 1, 'a'));
  t.equal(session.stats().inFlight, 2, 'the list is usable again after emptying');
  tr.end();
  await session.closed;
  t.same(aborted, [142, 144, 140, 154, 156], 'the end aborts what is left, oldest first');
  t.equal(session.stats().inFlight, 0);
});

t.test('a handler that throws a non-errno error after an INTERRUPT is answered EINTR, not logged', async (t) => {
  const fs: Filesystem = {
    lookup: (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new DOMException('gone', 'AbortError')))),
  };
  const { tr, logs } = await ready(fs);
  tr.push(nameRequest(Opcode.LOOKUP, 80, 1, 'x'));
  tr.push(interruptRequest(82, 80));
  t.equal((await replyTo(tr, 80)).error, EINTR);
  t.equal(logs.length, 0);
});

t.test('a reply the kernel refuses with ENOENT (it forgot the request) is not fatal', async (t) => {
  const { tr, session, logs } = await ready();
  tr.refuse = (reply) => (parseReply(reply).unique === 90 ? 'ENOENT' : undefined);
  tr.push(getattrRequest(90, 1));
  tr.push(getattrRequest(92, 1));
  t.equal((await replyTo(tr, 92)).error, 0, 'the next request is answered');
  t.equal(session.stats().orphanedReplies, 1);
  t.equal(logs.length, 0);
});

t.test('slow handlers do not hold up fast ones', async (t) => {
  const m = sampleFs();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  m.onLookup.set('slow', () => gate);
  const { tr, session } = await ready(m);
  tr.push(nameRequest(Opcode.LOOKUP, 100, 1, 'slow'));
  tr.push(nameRequest(Opcode.LOOKUP, 102, 1, 'hello.txt'));
  t.equal((await replyTo(tr, 102)).error, 0, 'the fast one is answered first');
  t.equal(session.stats().inFlight, 1);
  release();
  t.equal((await replyTo(tr, 100)).error, ENOENT);
  t.same(tr.replies.map((b) => parseReply(b).unique), [102, 100]);
});

t.test('a WRITE keeps its read buffer until answered', async (t) => {
  const m = new MemFs();
  const id = m.addFile(1, 'f', '');
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const write = m.write.bind(m);
  m.write = async (...args) => {
    await gate;
    return write(...args);
  };
  const { tr } = await ready(m);
  tr.push(writeRequest(110, id, 0, 0, Buffer.from('payload')));
  t.equal(tr.kept.size, 1, 'kept while the handler runs');
  release();
  const r = await replyTo(tr, 110);
  t.equal(r.body.readUInt32LE(0), 7, 'bytes written');
  t.equal(tr.kept.size, 0, 'released after the reply');
  t.equal(m.get(id).data.toString(), 'payload');
});

t.test('DESTROY calls destroy() and is answered; the end of the session does not call it again', async (t) => {
  const m = sampleFs();
  let calls = 0;
  m.destroy = () => void calls++;
  const { tr, session } = await ready(m);
  tr.push(request(Opcode.DESTROY, [], { unique: 120, nodeid: 0 }));
  t.equal((await replyTo(tr, 120)).error, 0);
  tr.end();
  await session.closed;
  t.equal(calls, 1);
});

t.test('the end of the connection: closed resolves, destroy() runs, handlers in flight are aborted', async (t) => {
  const m = sampleFs();
  let aborted = false;
  m.onLookup.set('hang', (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => {
    aborted = true;
    resolve();
  })));
  const { tr, session } = await ready(m);
  tr.push(nameRequest(Opcode.LOOKUP, 130, 1, 'hang'));
  tr.end();
  await session.closed;
  t.ok(m.destroyed);
  t.ok(aborted);
  t.equal(session.endError, null, 'ENODEV is a normal end');
  await t.rejects(session.notifyInvalInode(1), { code: 'ENOTCONN' });
});

t.test('notifications', async (t) => {
  const { tr, session } = await ready();
  await session.notifyInvalEntry(1, 'hello.txt', { expireOnly: true });
  const n = parseReply(tr.notifications[0]);
  t.equal(n.unique, 0);
  t.equal(n.error, 3, 'FUSE_NOTIFY_INVAL_ENTRY');
  t.equal(n.body.readUInt32LE(8), 9, 'namelen');
  t.equal(n.body.readUInt32LE(12), 1, 'FUSE_EXPIRE_ONLY');
  t.equal(n.body.toString('utf8', 16, 26), 'hello.txt\0');

  await session.notifyStore(2, 10, Buffer.from('abc'));
  const s = parseReply(tr.notifications[1]);
  t.equal(s.error, 4);
  t.equal(s.len, 16 + 24 + 3, 'header len counts the data');

  const data = session.notifyRetrieve(2, 0, 4096);
  await new Promise((r) => setImmediate(r));
  const rt = parseReply(tr.notifications[2]);
  t.equal(rt.error, 5, 'FUSE_NOTIFY_RETRIEVE');
  const notifyUnique = Number(rt.body.readBigUInt64LE(0));
  tr.push(notifyReplyRequest(notifyUnique, 2, 0, Buffer.from('cached')));
  t.equal((await data).toString(), 'cached');
  t.equal(tr.replies.length, 0, 'NOTIFY_REPLY is not answered');

  tr.refuse = () => 'ENOENT';
  await t.rejects(session.notifyInvalEntry(1, 'nothing-cached'), { code: 'ENOENT' });
  await t.rejects(session.notifyRetrieve(99, 0, 1), { code: 'ENOENT' });
});

t.test('the request context reaches the handler; CREATE-type requests carry the umask', async (t) => {
  const seen: unknown[] = [];
  const fs: Filesystem = {
    lookup: async (ctx) => {
      seen.push({ unique: ctx.unique, uid: ctx.uid, gid: ctx.gid, pid: ctx.pid });
      throw new FuseError('ENOENT');
    },
    mkdir: async (ctx) => {
      seen.push({ umask: ctx.umask });
      throw new FuseError('EROFS');
    },
  };
  const { tr } = await ready(fs);
  tr.push(request(Opcode.LOOKUP, Buffer.from('x\0'), { unique: 140, uid: 7, gid: 8, pid: 9 }));
  await replyTo(tr, 140);
  const body = Buffer.alloc(8 + 2);
  body.writeUInt32LE(0o755, 0);
  body.writeUInt32LE(0o022, 4);
  body.write('d\0', 8);
  tr.push(request(Opcode.MKDIR, body, { unique: 142 }));
  t.equal((await replyTo(tr, 142)).error, -30);
  t.same(seen, [{ unique: 140, uid: 7, gid: 8, pid: 9 }, { umask: 0o022 }]);
});

t.test('counters: every opcode present, requests and errors per opcode', async (t: Test) => {
  const { tr, session } = await ready();
  tr.push(nameRequest(Opcode.LOOKUP, 150, 1, 'hello.txt'));
  tr.push(nameRequest(Opcode.LOOKUP, 152, 1, 'missing'));
  await replyTo(tr, 152);
  const s = session.stats();
  t.equal(s.requests.LOOKUP, 2);
  t.equal(s.errors.LOOKUP, 1);
  t.equal(s.requests.READ, 0, 'opcodes never seen are present with 0');
  t.equal(s.inFlight, 0);
});
