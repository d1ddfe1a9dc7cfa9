// Resources, CI-sized: the kernel's FORGETs are honoured — after 5,000 distinct files are looked
// up through the mount and `drop_caches` makes the kernel forget them, the loopback holds only
// the root again and its fds are back at their baseline. `npm run stress` does 100,000 files and
// prints the server's memory.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mountLoopback } from './fixtures/loopback/harness';

const FILES = 5000;

function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

for (const passthrough of ['off', 'rw'] as const) {
  t.test(`passthrough ${passthrough}: ${FILES} files looked up, opened, and forgotten`, async (t) => {
    const m = await mountLoopback(t, { passthrough });
    const pid = m.server.pid!;
    for (let d = 0; d < FILES / 500; d++) {
      fs.mkdirSync(path.join(m.src, `d${d}`));
      for (let i = 0; i < 500; i++) fs.writeFileSync(path.join(m.src, `d${d}`, `f${i}`), `${d}/${i}`);
    }
    const fds0 = fdCount(pid);
    const s0 = await m.stats();
    const wrong: string[] = [];
    for (let d = 0; d < FILES / 500; d++) {
      for (let i = 0; i < 500; i++) {
        const p = path.join(m.mnt, `d${d}`, `f${i}`);
        // Every tenth file is opened and read as well: opens (and backing ids) must go away too.
        if (i % 10 === 0) {
          if (fs.readFileSync(p, 'utf8') !== `${d}/${i}`) wrong.push(p);
        } else fs.statSync(p);
      }
    }
    t.same(wrong, [], 'every file read back what it holds');
    const held = await m.stats();
    t.ok(held.loopback.inodes > FILES, `${held.loopback.inodes} inodes held while the kernel knows the files`);
    fs.writeFileSync('/proc/sys/vm/drop_caches', '2');
    let s = await m.stats();
    for (let i = 0; i < 50 && (s.loopback.inodes > s0.loopback.inodes || fdCount(pid) > fds0); i++) {
      await new Promise((r) => setTimeout(r, 100));
      fs.writeFileSync('/proc/sys/vm/drop_caches', '2');
      s = await m.stats();
    }
    t.equal(s.loopback.inodes, s0.loopback.inodes, `inodes back to ${s0.loopback.inodes} after ${s.requests.FORGET + s.requests.BATCH_FORGET} FORGET/BATCH_FORGET`);
    t.equal(fdCount(pid), fds0, `server fds back to ${fds0}`);
    t.equal(s.backing.live, s0.backing.live, `backing ids back to ${s0.backing.live} (${s.backing.registered} registered)`);
  });
}
