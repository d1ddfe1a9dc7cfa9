// 50 processes opening, reading and writing one file at the same time, with mixed access modes.
// The kernel fails (EIO) any open of an inode that does not agree with the inode's other opens:
// the session must give every open of the file the same backing id while any passthrough open
// lives, also the ones the policy would serve plain. Afterwards no backing id may be left.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { mountPassthrough, openRace, run } from './fixtures/passthrough/harness';

const PROCESSES = 50;
const BLOCK = 4096;

if (process.geteuid?.() !== 0) {
  t.plan(0, 'mounting needs root');
} else if (spawnable('python3') === false) {
  t.plan(0, 'needs python3');
}

function spawnable(cmd: string): boolean {
  return require('node:child_process').spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

for (const policy of ['rw', 'ro', 'wo'] as const) {
  t.test(`${PROCESSES} processes on one file, policy ${policy}: no EIO, correct data, no backing id left`, async (t) => {
    const m = await mountPassthrough(t, { loopback: { passthrough: policy } }, (src) => {
      fs.writeFileSync(path.join(src, 'shared'), Buffer.alloc(PROCESSES * BLOCK));
    });
    const file = path.join(m.mnt, 'shared');
    await openRace(t, file, path.join(m.src, 'shared'), PROCESSES, BLOCK);
    const through = await run('cmp', [file, path.join(m.src, 'shared')]);
    t.equal(through.code, 0, 'the mount reads the same bytes');

    const s = await m.settled();
    t.equal(s.openFiles, 0, 'every open released');
    t.equal(s.backing.live, 0, 'no backing id left registered');
    t.equal(s.backing.closed, s.backing.registered);
    t.ok(s.backing.registered >= 1, `${s.backing.registered} backing ids used`);
    t.notMatch(m.stderr(), /passthrough off|BACKING_CLOSE/, 'no warnings');
    t.comment(`policy ${policy}: OPEN=${s.requests.OPEN} READ=${s.requests.READ} WRITE=${s.requests.WRITE} backing ids ${s.backing.registered}`);
  });
}
