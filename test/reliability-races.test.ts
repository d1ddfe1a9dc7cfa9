// Rename and unlink storms in one directory while another process lists it, through a
// passthrough mount: the lister never fails and never sees a name the storm could not have
// made, the storm never gets an error the same storm would not get natively (it is run in SRC
// first), the mount ends listing what SRC holds, and no backing id stays registered.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { mountLoopback } from './fixtures/loopback/harness';

const FILES = 200;
const STEPS = 4000;

// A deterministic storm: renames (also over existing names), unlinks, re-creations and
// writes through an open fd, in one directory. Prints its error codes as JSON.
const STORM = `
const fs = require('fs'), path = require('path');
const dir = process.argv[1];
let x = 12345;
const rnd = (n) => ((x = (x * 1103515245 + 12345) >>> 0) % n);
const name = () => 'f' + rnd(${FILES});
const errors = {};
for (let i = 0; i < ${STEPS}; i++) {
  try {
    switch (rnd(4)) {
      case 0: fs.renameSync(path.join(dir, name()), path.join(dir, name())); break;
      case 1: fs.unlinkSync(path.join(dir, name())); break;
      case 2: fs.writeFileSync(path.join(dir, name()), 'x'.repeat(rnd(5000))); break;
      case 3: { const fd = fs.openSync(path.join(dir, name()), 'a'); fs.writeSync(fd, 'y'); fs.closeSync(fd); break; }
    }
  } catch (e) { errors[e.code] = (errors[e.code] || 0) + 1; }
}
process.stdout.write(JSON.stringify(errors));
`;

function storm(dir: string): Promise<{ code: number | null; errors: Record<string, number> }> {
  return new Promise((resolve) => {
    let out = '';
    const child = spawn(process.execPath, ['-e', STORM, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, errors: out ? JSON.parse(out) : {} }));
  });
}

async function scenario(t: Test, dir: string): Promise<{ errors: Record<string, number>; problems: string[] }> {
  fs.mkdirSync(dir);
  for (let i = 0; i < FILES; i++) fs.writeFileSync(path.join(dir, `f${i}`), 'start');
  const running = storm(dir);
  let done = false;
  void running.then(() => (done = true));
  const problems = new Set<string>();
  let listings = 0;
  while (!done || listings === 0) {
    try {
      const names = fs.readdirSync(dir);
      if (!names.every((n) => /^f\d+$/.test(n))) problems.add('an unknown name');
    } catch (e) {
      problems.add(`readdir failed: ${(e as NodeJS.ErrnoException).code}`);
    }
    listings++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  const { code, errors } = await running;
  if (code !== 0) problems.add(`storm exited ${code}`);
  t.comment(`${path.basename(dir)}: ${listings} listings during ${STEPS} steps`);
  return { errors, problems: [...problems] };
}

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root (mounts FUSE)');
} else {
  t.setTimeout(300_000);
  t.test('rename/unlink storm while another process lists, passthrough rw', async (t) => {
    const m = await mountLoopback(t, { passthrough: 'rw' });
    const native = await scenario(t, path.join(m.src, 'native'));
    const mounted = await scenario(t, path.join(m.mnt, 'mounted'));
    t.same(native.problems, [], 'natively: no problem');
    t.same(mounted.problems, [], 'through the mount: no problem');
    // The storm is deterministic, so the same steps fail the same way (ENOENT only).
    t.same(mounted.errors, native.errors, 'the storm got the same errors through the mount');
    const inSrc = fs.readdirSync(path.join(m.src, 'mounted')).sort();
    const inMnt = fs.readdirSync(path.join(m.mnt, 'mounted')).sort();
    t.same(inMnt, inSrc, 'the mount lists what SRC holds');
    t.same(inSrc, fs.readdirSync(path.join(m.src, 'native')).sort(), 'and the same names as the native run');
    for (const n of inSrc) {
      const a = fs.readFileSync(path.join(m.src, 'native', n));
      const b = fs.readFileSync(path.join(m.mnt, 'mounted', n));
      if (!a.equals(b)) t.fail(`${n} differs`);
    }
    let live = -1;
    for (let i = 0; i < 50 && live !== 0; i++) {
      live = (await m.stats()).backing.live; // RELEASE arrives asynchronously after close(2)
      if (live !== 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    t.equal(live, 0, 'no backing id left registered');
  });
}
