// Hostile input, CI-sized: the decoder and the session (serving a real Loopback over an
// in-memory transport) fed seeded random and mutated requests — truncated, oversized, lying
// lengths, unknown opcodes, names without NUL or with '/', replies to unknown uniques — must
// answer every request that has a unique exactly once, with a well-formed reply, and never
// throw. Names the kernel would never send ('/', '..', '', > NAME_MAX) are refused with
// EINVAL/ENAMETOOLONG and never reach a path. `npm run stress` runs 1,000,000 messages.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Opcode } from '../src/protocol/constants';
import { Bridge } from '../src/fs/bridge';
import { Loopback } from '../src/fs/loopback';
import { MemoryTransport } from '../src/kernel/memory-transport';
import { Session } from '../src/kernel/session';
import { fuzzDecoder, fuzzSession } from './stress/fuzz';
import { tempDir } from './helpers/tmp';
import { initRequest, nameRequest, parseReply, request } from './helpers/requests';

const SEED = Number(process.env.TSFUSE_FUZZ_SEED ?? 20261124);
const EINVAL = -22;
const ENAMETOOLONG = -36;

/** A small tmpfs the loopback serves (detached by tempDir's teardown): a lucky FALLOCATE or WRITE cannot fill a real disk. */
function smallTmpfs(t: Test): string {
  const base = tempDir(t, 'tsfuse-fuzz-');
  const dir = path.join(base, 'src');
  fs.mkdirSync(dir);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tsfuse-fuzz', dir]);
  if (r.status !== 0) t.comment(`no tmpfs (${r.stderr}), fuzzing in ${dir} directly`);
  fs.mkdirSync(path.join(dir, 'dir'));
  fs.writeFileSync(path.join(dir, 'a'), 'hello');
  fs.writeFileSync(path.join(dir, 'dir', 'b'), Buffer.alloc(70000, 1));
  fs.symlinkSync('a', path.join(dir, 'link'));
  return dir;
}

t.test('the decoder: 200,000 hostile messages, never a throw, EINVAL/ENOSYS only, the unique kept', async (t) => {
  const r = fuzzDecoder(SEED, 200_000);
  t.same(r.failures, [], `seed ${SEED}`);
  t.ok(r.decoded > 0 && r.rejected > 0, `both decoded (${r.decoded}) and rejected (${r.rejected}) messages`);
});

t.test('the session serving a loopback: 50,000 hostile messages, each owed reply sent once and well-formed', async (t) => {
  const dir = smallTmpfs(t);
  const r = await fuzzSession({ seed: SEED, count: 50_000, dir });
  t.same(r.failures, [], `seed ${SEED}: no crash, no missing, extra or malformed reply`);
  t.equal(r.answered + r.unanswerable, r.messages, 'every message either answered or owed none');
  t.ok((r.byError.OK ?? 0) > 0, `some requests succeeded (${JSON.stringify(r.byError)})`);
  t.notOk(fs.existsSync(path.join(path.dirname(dir), 'escape')), 'nothing created next to the source directory');
  // Hostile READ offsets/sizes and READDIR sizes used to reach Node's fs and Buffer as RangeErrors
  // (answered EIO, logged as handler bugs); the session now refuses them (OpcodeRow.implausible, src/protocol/limits.ts).
  t.same(r.handlerBugs, {}, 'no handler failed with a non-errno error');
});

t.test('names the kernel never sends are refused before they reach a path', async (t) => {
  const { base, logs, tr, send, nextUnique } = await loopbackSession(t, 'tsfuse-names-', (src) => {
    fs.mkdirSync(path.join(src, 'sub'));
    fs.writeFileSync(path.join(src, 'f'), 'x');
  });
  const dir = path.join(base, 'src');
  const ask = async (buf: Buffer): Promise<number> => (await send(buf)).error;
  // LOOKUP of the root's own subdirectory gives a live nodeid to use as the other parent.
  const sub = tr.replies.length;
  await ask(nameRequest(Opcode.LOOKUP, nextUnique(), 1, 'sub'));
  const subId = Number(parseReply(tr.replies[sub]).body.readBigUInt64LE(0));
  t.ok(subId > 1, 'sub looked up');
  const fLookup = tr.replies.length;
  await ask(nameRequest(Opcode.LOOKUP, nextUnique(), 1, 'f'));
  const fId = Number(parseReply(tr.replies[fLookup]).body.readBigUInt64LE(0));

  const bad: [string, number][] = [
    ['', EINVAL], ['.', EINVAL], ['..', EINVAL], ['/', EINVAL], ['a/b', EINVAL], ['../escape', EINVAL],
    ['sub/../../escape', EINVAL], ['x'.repeat(256), ENAMETOOLONG], ['é'.repeat(128), ENAMETOOLONG],
  ];
  const struct = (size: number, fill: (b: Buffer) => void = () => {}): Buffer => {
    const b = Buffer.alloc(size);
    fill(b);
    return b;
  };
  const withNames = (opcode: number, parent: number, head: Buffer, ...names: string[]): Buffer =>
    request(opcode, Buffer.concat([head, ...names.map((n) => Buffer.from(n + '\0'))]), { unique: nextUnique(), nodeid: parent, uid: 0, gid: 0 });
  for (const [name, errno] of bad) {
    const cases: [string, Buffer][] = [
      ['LOOKUP', withNames(Opcode.LOOKUP, subId, Buffer.alloc(0), name)],
      ['MKDIR', withNames(Opcode.MKDIR, subId, struct(8, (b) => b.writeUInt32LE(0o755, 0)), name)],
      ['MKNOD', withNames(Opcode.MKNOD, subId, struct(16, (b) => b.writeUInt32LE(0o100644, 0)), name)],
      ['CREATE', withNames(Opcode.CREATE, subId, struct(16, (b) => { b.writeUInt32LE(0o101, 0); b.writeUInt32LE(0o644, 4); }), name)],
      ['SYMLINK', withNames(Opcode.SYMLINK, subId, Buffer.alloc(0), name, '/etc/passwd')],
      ['LINK', withNames(Opcode.LINK, subId, struct(8, (b) => b.writeBigUInt64LE(BigInt(fId), 0)), name)],
      ['UNLINK', withNames(Opcode.UNLINK, subId, Buffer.alloc(0), name)],
      ['RMDIR', withNames(Opcode.RMDIR, subId, Buffer.alloc(0), name)],
      ['RENAME from', withNames(Opcode.RENAME, subId, struct(8, (b) => b.writeBigUInt64LE(1n, 0)), name, 'moved')],
      ['RENAME to', withNames(Opcode.RENAME, 1, struct(8, (b) => b.writeBigUInt64LE(BigInt(subId), 0)), 'f', name)],
      ['RENAME2 to', withNames(Opcode.RENAME2, 1, struct(16, (b) => b.writeBigUInt64LE(BigInt(subId), 0)), 'f', name)],
    ];
    for (const [what, buf] of cases) {
      // UNLINK/RMDIR of '' or '.' may be refused as EINVAL or, for too-long names, ENAMETOOLONG; nothing else.
      t.equal(await ask(buf), errno, `${what} ${JSON.stringify(name.length > 20 ? name.slice(0, 3) + '…' + name.length : name)}`);
    }
  }
  t.notOk(fs.existsSync(path.join(base, 'escape')), 'nothing created outside the source');
  t.ok(fs.existsSync(path.join(dir, 'f')), 'f was not moved or removed');
  t.same(fs.readdirSync(path.join(dir, 'sub')), [], 'nothing created in sub');
  t.same(logs, [], 'no handler failure logged');
});

/**
 * A session serving a Loopback of `<tmp>/src` (filled by `setup`), INIT answered. `send` pushes a
 * request and resolves with its reply; `ask` builds one from an opcode, a nodeid and a body.
 */
async function loopbackSession(t: Test, prefix: string, setup: (src: string) => void) {
  const base = tempDir(t, prefix);
  const src = path.join(base, 'src');
  fs.mkdirSync(src);
  setup(src);
  const tr = new MemoryTransport();
  const logs: string[] = [];
  const session = new Session(tr, new Bridge(new Loopback(src)), { log: (l) => logs.push(l) });
  t.teardown(async () => {
    session.close();
    await session.closed;
  });
  session.start();
  tr.push(initRequest(1));
  await session.ready;
  let unique = 100;
  const nextUnique = (): number => (unique += 2);
  const send = async (buf: Buffer) => {
    const u = Number(buf.readBigUInt64LE(8));
    tr.push(buf);
    for (;;) {
      const r = tr.replies.map(parseReply).find((x) => x.unique === u);
      if (r) return r;
      await tr.waitReplies(tr.replies.length + 1);
    }
  };
  const ask = (opcode: number, nodeid: number, body: Buffer) =>
    send(request(opcode, body, { unique: nextUnique(), nodeid, uid: 0, gid: 0 }));
  return { base, tr, session, logs, send, ask, nextUnique };
}

t.test('out-of-range numbers from the kernel are refused with an errno, not a RangeError answered EIO', async (t) => {
  const { logs, ask } = await loopbackSession(t, 'tsfuse-hostile-', (src) => fs.writeFileSync(path.join(src, 'a'), 'hello'));
  const a = Number((await ask(Opcode.LOOKUP, 1, Buffer.from('a\0'))).body.readBigUInt64LE(0));
  const openIn = Buffer.alloc(8);
  openIn.writeUInt32LE(2, 0); // O_RDWR
  const fh = Number((await ask(Opcode.OPEN, a, openIn)).body.readBigUInt64LE(0));
  const readIn = (offset: bigint, size: number): Buffer => {
    const b = Buffer.alloc(40);
    b.writeBigUInt64LE(BigInt(fh), 0);
    b.writeBigUInt64LE(offset, 8);
    b.writeUInt32LE(size, 16);
    return b;
  };
  const big = await ask(Opcode.READ, a, readIn(1n << 60n, 4096));
  t.not(big.error, -5, `READ at offset 2^60: ${big.error} (EINVAL or 0 bytes, not EIO)`);
  const setattr = Buffer.alloc(88);
  setattr.writeUInt32LE(1 << 3, 0); // FATTR_SIZE
  setattr.writeBigUInt64LE(1n << 60n, 16);
  const trunc = await ask(Opcode.SETATTR, a, setattr);
  t.not(trunc.error, -5, `SETATTR size 2^60: ${trunc.error} (EFBIG/EINVAL, not EIO)`);
  const opendir = await ask(Opcode.OPENDIR, 1, Buffer.alloc(8));
  const dfh = opendir.body.readBigUInt64LE(0);
  const rd = Buffer.alloc(40);
  rd.writeBigUInt64LE(dfh, 0);
  rd.writeUInt32LE(0xffffffff, 16);
  const dir = await ask(Opcode.READDIR, 1, rd);
  t.not(dir.error, -5, `READDIR of size 4 GiB - 1: ${dir.error} (clamped or EINVAL, not EIO)`);
  t.same(logs, [], 'no handler failure logged');
});

t.test('requests after DESTROY are answered without reaching the destroyed filesystem', async (t) => {
  const { tr, logs, ask } = await loopbackSession(t, 'tsfuse-hostile-', (src) => fs.writeFileSync(path.join(src, 'a'), 'hello'));
  const before = tr.replies.length;
  tr.push(request(Opcode.DESTROY, Buffer.alloc(0), { unique: 50, nodeid: 0 }));
  await tr.waitReplies(before + 1);
  const r = await ask(Opcode.SYNCFS, 1, Buffer.alloc(8));
  t.ok(r.error < 0, `SYNCFS after DESTROY answered ${r.error}`);
  const g = await ask(Opcode.GETATTR, 1, Buffer.alloc(16));
  t.ok(g.error <= 0, `GETATTR after DESTROY answered ${g.error}`);
  // Seen in the fuzz: a byte-flipped DESTROY cleared the loopback's inode table, and every later
  // request on the root recursed in InodeTable.fd until the stack overflowed (answered EIO).
  t.same(logs, [], 'no handler failure (TypeError, stack overflow) logged');
});
