// A directory of 10,000 entries, listed through the mount while another
// process adds and removes entries: no name twice, every name that stays is
// listed, and the listing ends as the directory does. Run in the source
// directory and through the mount, with the same results required.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { mountLoopback } from './fixtures/loopback/harness';

const N = 10_000;
const CHURN = 2_000;
const name = (prefix: string, i: number): string => `${prefix}${String(i).padStart(5, '0')}`;

/** One listing through readdir(3), in small batches so the kernel asks the server many times. */
function list(dir: string): string[] {
  const d = fs.opendirSync(dir, { bufferSize: 32 });
  const names: string[] = [];
  try {
    for (let e = d.readSync(); e !== null; e = d.readSync()) names.push(e.name);
  } finally {
    d.closeSync();
  }
  return names;
}

async function scenario(t: Test, dir: string): Promise<unknown> {
  const big = path.join(dir, 'big');
  fs.mkdirSync(big);
  for (let i = 0; i < N; i++) fs.writeFileSync(path.join(big, name('f', i)), '');
  const o: Record<string, unknown> = {};
  const first = list(big).sort();
  o.first = first.length === N && first.every((n, i) => n === name('f', i));
  // `ls -l` asks for every entry's attributes (READDIRPLUS through the mount).
  o.lsLines = await new Promise((resolve) => {
    let lines = 0;
    const ls = spawn('ls', ['-l', big], { stdio: ['ignore', 'pipe', 'inherit'] });
    ls.stdout.on('data', (d: Buffer) => (lines += d.toString().split('\n').length - 1));
    ls.on('exit', () => resolve(lines));
  });
  // Another process removes f00000..f01999 and adds n00000..n01999 meanwhile.
  const churn = spawn(process.execPath, ['-e', `
    const fs = require('fs'), path = require('path');
    const name = (p, i) => p + String(i).padStart(5, '0');
    for (let i = 0; i < ${CHURN}; i++) {
      fs.writeFileSync(path.join(${JSON.stringify(big)}, name('n', i)), '');
      fs.unlinkSync(path.join(${JSON.stringify(big)}, name('f', i)));
    }`], { stdio: 'inherit' });
  const done = new Promise((resolve) => churn.on('exit', resolve));
  let running = true;
  void done.then(() => (running = false));
  const stays = Array.from({ length: N - CHURN }, (_, i) => name('f', CHURN + i));
  const problems = new Set<string>();
  let listings = 0;
  while (running || listings === 0) {
    const names = list(big);
    listings++;
    const set = new Set(names);
    if (set.size !== names.length) problems.add('a name listed twice');
    if (!stays.every((n) => set.has(n))) problems.add('a name that stayed was not listed');
    if (!names.every((n) => /^[fn]\d{5}$/.test(n))) problems.add('an unknown name');
    await new Promise((resolve) => setImmediate(resolve));
  }
  o.churnExit = await done;
  o.problems = [...problems];
  const final = list(big).sort();
  const expected = [...stays, ...Array.from({ length: CHURN }, (_, i) => name('n', i))].sort();
  o.final = final.length === expected.length && final.every((n, i) => n === expected[i]);
  o.removeAll = (fs.rmSync(big, { recursive: true }), fs.existsSync(big));
  t.comment(`${path.basename(dir)}: ${listings} listings during the churn`);
  return o;
}

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root (mounts FUSE)');
} else {
  // 20,000 files created twice and listed over and over (~35 s here); room for a slower machine.
  t.setTimeout(300_000);
  t.test('10,000 entries, listed while entries come and go', async (t) => {
    const { src, mnt } = await mountLoopback(t);
    fs.mkdirSync(path.join(src, 'native'));
    fs.mkdirSync(path.join(mnt, 'mounted'));
    const expected = await scenario(t, path.join(src, 'native'));
    t.same(expected, { first: true, lsLines: N + 1, churnExit: 0, problems: [], final: true, removeAll: false });
    t.same(await scenario(t, path.join(mnt, 'mounted')), expected, 'the mount lists as the source does');
  });
}
