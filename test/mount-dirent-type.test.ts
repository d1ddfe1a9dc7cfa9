// Dirent.type is the S_IFMT bits of st_mode (api.ts): the kernel's d_type is derived from them,
// and a value in any other form (a DT_* number, a whole st_mode) is refused, not guessed at.
import t from 'tap';
import * as fs from 'node:fs';
import type { DirentSink, RequestContext } from '../src/fs/api';
import { MemFs, sampleFs } from './helpers/memfs';
import { mountHere } from './helpers/mounted';

const { S_IFMT } = fs.constants;

/** sampleFs() whose readdir gives each entry's type as `typeOf(st_mode)`. */
function listing(typeOf: (mode: number) => number): MemFs {
  const mem = sampleFs();
  mem.readdir = async (_ctx: RequestContext, nodeid: number, _fh: number, offset: number, out: DirentSink): Promise<void> => {
    const dir = mem.get(nodeid);
    const entries: [string, number][] = [['.', nodeid], ['..', 1], ...dir.children];
    for (let i = offset; i < entries.length; i++) {
      const [name, id] = entries[i];
      if (!out.add({ ino: id, nextOffset: i + 1, type: typeOf(mem.get(id).mode), name })) break;
    }
  };
  return mem;
}

t.test('S_IFMT bits become the d_type readdir shows', async (t) => {
  const m = await mountHere(t, listing((mode) => mode & S_IFMT));
  const kinds = (await fs.promises.readdir(m.mountpoint, { withFileTypes: true }))
    .map((d) => `${d.name} ${d.isDirectory() ? 'dir' : d.isSymbolicLink() ? 'link' : d.isFile() ? 'file' : '?'}`)
    .sort();
  t.same(kinds, ['dir dir', 'hello.txt file', 'link link']);
});

t.test('0 is an unknown type: the caller has to stat', async (t) => {
  const m = await mountHere(t, listing(() => 0));
  const ds = await fs.promises.readdir(m.mountpoint, { withFileTypes: true });
  t.same(ds.map((d) => d.name).sort(), ['dir', 'hello.txt', 'link']);
});

for (const [what, typeOf] of [
  ['a DT_* value', (mode: number) => (mode & S_IFMT) >>> 12],
  ['a whole st_mode', (mode: number) => mode],
] as const) {
  t.test(`${what} is refused: the listing fails with EIO`, async (t) => {
    const logged: string[] = [];
    const m = await mountHere(t, listing(typeOf), { log: (line: string) => logged.push(line) });
    await t.rejects(fs.promises.readdir(m.mountpoint), { code: 'EIO' });
    t.match(logged.join('\n'), /Dirent\.type \d+ is not a file type/);
  });
}
