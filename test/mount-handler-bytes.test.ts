// The bytes a handler is given (ctx.nameBytes, ctx.newNameBytes, ctx.targetBytes, WRITE data)
// stay its own across an await, through the real kernel: each handler here waits until other
// requests, with other names, have been read from /dev/fuse after its own, and only then reads
// the bytes it was given. The transport reads every request into the same buffer unless one is
// kept, so a view into it would show the later request's bytes.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CreateContext, CreateReply, Entry, RequestContext } from '../src/fs/api';
import { FuseError } from '../src/fs/errors';
import { MemFs } from './helpers/memfs';
import { mountHere, run } from './helpers/mounted';

const S_IFIFO = 0o010000;

/** A MemFs whose name operations hold at a gate, then record the bytes they were given. */
class HoldingFs extends MemFs {
  /** What each held handler read after the gate: `op name [second]`, from the byte fields. */
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

  private record(op: string, ...bytes: (Buffer | undefined)[]): void {
    this.seen.push([op, ...bytes.map((b) => (b === undefined ? '(none)' : b.toString('latin1')))].join(' '));
  }

  override async lookup(ctx: RequestContext, parent: number, name: string): Promise<Entry> {
    if (name.startsWith('held-')) {
      await this.hold();
      this.record('lookup', ctx.nameBytes);
    }
    return super.lookup(ctx, parent, name);
  }

  override async mkdir(ctx: CreateContext, parent: number, name: string, mode: number): Promise<Entry> {
    await this.hold();
    this.record('mkdir', ctx.nameBytes);
    return super.mkdir(ctx, parent, name, mode);
  }

  override async create(ctx: CreateContext, parent: number, name: string, mode: number): Promise<CreateReply> {
    await this.hold();
    this.record('create', ctx.nameBytes);
    return super.create(ctx, parent, name, mode);
  }

  async mknod(ctx: CreateContext, parent: number, name: string, mode: number): Promise<Entry> {
    await this.hold();
    this.record('mknod', ctx.nameBytes);
    const id = this.addFile(parent, name, '', mode & 0o7777);
    this.get(id).mode = S_IFIFO | (mode & 0o7777);
    return this.lookup(ctx, parent, name);
  }

  async symlink(ctx: CreateContext, parent: number, name: string, target: string): Promise<Entry> {
    await this.hold();
    this.record('symlink', ctx.nameBytes, ctx.targetBytes);
    this.addSymlink(parent, name, target);
    return this.lookup(ctx, parent, name);
  }

  async rename(ctx: RequestContext, parent: number, name: string, newParent: number, newName: string): Promise<void> {
    await this.hold();
    this.record('rename', ctx.nameBytes, ctx.newNameBytes);
    const id = this.get(parent).children.get(name);
    if (id === undefined) throw new FuseError('ENOENT');
    this.get(parent).children.delete(name);
    this.get(newParent).children.set(newName, id);
  }

  override async unlink(ctx: RequestContext, parent: number, name: string): Promise<void> {
    await this.hold();
    this.record('unlink', ctx.nameBytes);
    return super.unlink(ctx, parent, name);
  }

  override async write(ctx: RequestContext, nodeid: number, fh: number, offset: number, data: Buffer): Promise<number> {
    await this.hold();
    this.record('write', data);
    return super.write(ctx, nodeid, fh, offset, data);
  }
}

t.test('a handler reads its names and data after other requests arrived: still its own', async (t) => {
  // Cached names (60 s) keep the path walks of the other requests out of the held ones' way;
  // a held MKDIR holds its directory's lock, so the others look up names in another directory.
  const mem = new HoldingFs({ timeout: 60 });
  const other = mem.mkdirp(1, 'other');
  mem.addFile(1, 'held-file', '');
  mem.addFile(1, 'old-name', '');
  mem.addFile(1, 'doomed', '');
  mem.addFile(other, 'x', '');
  const m = await mountHere(t, mem);
  const p = (name: string): string => path.join(m.mountpoint, name);
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

  await held(() => fs.promises.stat(p('held-file')));
  await held(() => fs.promises.mkdir(p('new-directory')));
  await held(() => fs.promises.writeFile(p('created-file'), ''));
  await held(async () => t.equal((await run('mkfifo', [p('a-fifo')])).code, 0, 'mkfifo'));
  await held(() => fs.promises.symlink('target/of/the-link', p('a-link')));
  await held(() => fs.promises.rename(p('old-name'), p('new-name')));
  await held(() => fs.promises.unlink(p('doomed')));
  const fh = await fs.promises.open(p('held-file'), 'r+');
  try {
    await held(() => fh.write(Buffer.from('data written through the mount'), 0, undefined, 0));
  } finally {
    await fh.close();
  }

  t.same(mem.seen, [
    'lookup held-file',
    'mkdir new-directory',
    'create created-file',
    'mknod a-fifo',
    'symlink a-link target/of/the-link',
    'rename old-name new-name',
    'unlink doomed',
    'write data written through the mount',
  ]);
  t.same((await fs.promises.readdir(m.mountpoint)).sort(), ['a-fifo', 'a-link', 'created-file', 'held-file', 'new-directory', 'new-name', 'other']);
});
