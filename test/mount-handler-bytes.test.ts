// The names and data a handler is given stay its own across an await, through the real kernel:
// each handler here waits until other requests, with other names, have been read from /dev/fuse
// after its own, and only then reads what it was given. The transport reads every request into
// the same buffer unless one is kept, so a view into it would show the later request's bytes.
// The held names are not UTF-8, so they arrive as Buffers (api.ts, Name); one that is valid
// UTF-8, U+FFFD included, arrives as a string.
import t from 'tap';
import * as fs from 'node:fs';
import type { CreateContext, CreateReply, Entry, Name, RequestContext } from '../src/fs/api';
import { FuseError } from '../src/fs/errors';
import { MemFs } from './helpers/memfs';
import { mountHere, run } from './helpers/mounted';

const S_IFIFO = 0o010000;

/** `text` + 0xff: not UTF-8 (0xff never occurs in UTF-8). */
const bytes = (text: string): Buffer => Buffer.concat([Buffer.from(text), Buffer.from([0xff])]);

/** MemFs keys its names by strings: a Buffer name by its latin1 reading (0xff is 'ÿ'). */
const key = (name: Name): string => (typeof name === 'string' ? name : name.toString('latin1'));

/** How a name was given: a string as it is, a Buffer as `<latin1 reading>`. */
const shown = (name: Name): string => (typeof name === 'string' ? name : `<${name.toString('latin1')}>`);

/** A MemFs whose name operations hold at a gate, then record the names they were given. */
class HoldingFs extends MemFs {
  /** What each held handler read after the gate: `op name [second]`. */
  readonly seen: string[] = [];
  private arrivedResolve: (() => void) | null = null;
  private gate: Promise<void> = Promise.resolve();
  private openGate: () => void = () => {};

  /** Arms the gate: the next held handler waits at it; resolves when one has arrived. */
  arm(): Promise<void> {
    this.gate = new Promise((r) => (this.openGate = r));
    return new Promise((r) => (this.arrivedResolve = r));
  }

  letGo(): void {
    this.openGate();
  }

  private async hold(): Promise<void> {
    this.arrivedResolve?.();
    this.arrivedResolve = null;
    await this.gate;
  }

  private record(op: string, ...given: Name[]): void {
    this.seen.push([op, ...given.map(shown)].join(' '));
  }

  override async lookup(ctx: RequestContext, parent: number, name: Name): Promise<Entry> {
    if (key(name).startsWith('held-')) {
      await this.hold();
      this.record('lookup', name);
    }
    return super.lookup(ctx, parent, key(name));
  }

  override async mkdir(ctx: CreateContext, parent: number, name: Name, mode: number): Promise<Entry> {
    await this.hold();
    this.record('mkdir', name);
    return super.mkdir(ctx, parent, key(name), mode);
  }

  override async create(ctx: CreateContext, parent: number, name: Name, mode: number): Promise<CreateReply> {
    await this.hold();
    this.record('create', name);
    return super.create(ctx, parent, key(name), mode);
  }

  async mknod(ctx: CreateContext, parent: number, name: Name, mode: number): Promise<Entry> {
    await this.hold();
    this.record('mknod', name);
    const id = this.addFile(parent, key(name), '', mode & 0o7777);
    this.get(id).mode = S_IFIFO | (mode & 0o7777);
    return super.lookup(ctx, parent, key(name));
  }

  async symlink(ctx: CreateContext, parent: number, name: Name, target: Name): Promise<Entry> {
    await this.hold();
    this.record('symlink', name, target);
    this.addSymlink(parent, key(name), key(target));
    return super.lookup(ctx, parent, key(name));
  }

  async rename(ctx: RequestContext, parent: number, name: Name, newParent: number, newName: Name): Promise<void> {
    await this.hold();
    this.record('rename', name, newName);
    const id = this.get(parent).children.get(key(name));
    if (id === undefined) throw new FuseError('ENOENT');
    this.get(parent).children.delete(key(name));
    this.get(newParent).children.set(key(newName), id);
  }

  override async unlink(ctx: RequestContext, parent: number, name: Name): Promise<void> {
    await this.hold();
    this.record('unlink', name);
    return super.unlink(ctx, parent, key(name));
  }

  override async write(ctx: RequestContext, nodeid: number, fh: number, offset: number, data: Buffer): Promise<number> {
    await this.hold();
    this.record('write', data.toString('latin1'));
    return super.write(ctx, nodeid, fh, offset, data);
  }
}

t.test('a handler reads its names and data after other requests arrived: still its own', async (t) => {
  // Cached names (60 s) keep the path walks of the other requests out of the held ones' way;
  // a held MKDIR holds its directory's lock, so the others look up names in another directory.
  const mem = new HoldingFs({ timeout: 60 });
  const other = mem.mkdirp(1, 'other');
  mem.addFile(1, key(bytes('held-file')), '');
  mem.addFile(1, key(bytes('old-name')), '');
  mem.addFile(1, key(bytes('doomed')), '');
  mem.addFile(other, 'x', '');
  const m = await mountHere(t, mem);
  const p = (name: string | Buffer): Buffer => Buffer.concat([Buffer.from(m.mountpoint + '/'), Buffer.from(name)]);
  await fs.promises.stat(p('other/x')); // 'other' is in the dcache from now on

  /** Runs `op` until its handler holds, sends LOOKUPs of other names, then lets it go. */
  let others = 0;
  const held = async (op: () => Promise<unknown>): Promise<void> => {
    const arrived = mem.arm();
    const done = op();
    await arrived;
    const before = mem.lookups.length;
    for (let i = 0; i < 3; i++) {
      // Longer than any name above and unlike them at every offset a name can start at; new
      // each time, so that no cached negative entry answers it in the kernel.
      const name = String(others++).padStart(3, '0').repeat(40);
      await t.rejects(fs.promises.stat(p(`other/${name}`)), { code: 'ENOENT' });
    }
    t.equal(mem.lookups.length - before, 3, 'the other LOOKUPs reached the server while the handler held');
    mem.letGo();
    await done;
  };

  await held(() => fs.promises.stat(p(bytes('held-file'))));
  await held(() => fs.promises.mkdir(p(bytes('new-directory'))));
  await held(() => fs.promises.writeFile(p(bytes('created-file')), ''));
  // Valid UTF-8 (EF BF BD), though it reads as a decoding error: a string.
  await held(async () => t.equal((await run('mkfifo', [m.mountpoint + '/a-fifo-\ufffd'])).code, 0, 'mkfifo'));
  await held(() => fs.promises.symlink(bytes('target/of/the-link'), p(bytes('a-link'))));
  await held(() => fs.promises.rename(p(bytes('old-name')), p(bytes('new-name'))));
  await held(() => fs.promises.unlink(p(bytes('doomed'))));
  const fh = await fs.promises.open(p(bytes('held-file')), 'r+');
  try {
    await held(() => fh.write(Buffer.from('data written through the mount'), 0, undefined, 0));
  } finally {
    await fh.close();
  }

  t.same(mem.seen, [
    'lookup <held-fileÿ>',
    'mkdir <new-directoryÿ>',
    'create <created-fileÿ>',
    'mknod a-fifo-\ufffd',
    'symlink <a-linkÿ> <target/of/the-linkÿ>',
    'rename <old-nameÿ> <new-nameÿ>',
    'unlink <doomedÿ>',
    'write data written through the mount',
  ]);
  // Listed as MemFs keeps them: the latin1 readings, encoded as UTF-8.
  t.same((await fs.promises.readdir(m.mountpoint)).sort(),
    ['a-fifo-\ufffd', 'a-linkÿ', 'created-fileÿ', 'held-fileÿ', 'new-directoryÿ', 'new-nameÿ', 'other']);
});
