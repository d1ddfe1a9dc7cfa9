// Safety: nothing outside the source directory is reachable through the
// mount, even while a directory inside it is swapped for a symlink to / over
// and over. The reader opens the directory through the mount without
// following symlinks and then resolves names relative to that fd, so every
// name it reaches was resolved by the server; a server that joined path
// strings would resolve them through the symlink and show / (measured on Linux 6.18:
// thousands of such reads with bindfs).
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { mountLoopback } from './fixtures/loopback/harness';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;
const SWAPPER = path.join(__dirname, 'fixtures', 'loopback', 'swapper.ts');
const ITERATIONS = 10_000;

function errCode(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root (mounts FUSE)');
} else {
  t.test('a directory swapped for a symlink to / never leads outside', async (t) => {
    // No caching: every open goes to the server and resolves the name again.
    const { src, mnt } = await mountLoopback(t, { entryTimeout: 0, attrTimeout: 0 });
    const token = `tsfuse-escape-${process.pid}-${Date.now()}`;
    t.teardown(() => {
      // Files an escaping create would have left in /.
      for (const name of fs.readdirSync('/')) if (name.startsWith(token)) fs.rmSync(path.join('/', name), { force: true });
    });
    fs.mkdirSync(path.join(src, 'd'));
    fs.writeFileSync(path.join(src, 'd', 'inside.txt'), 'inside');
    fs.mkdirSync(path.join(src, 'd', 'sub'));
    fs.symlinkSync('/', path.join(src, 'lnk'));
    const rootNames = new Set(fs.readdirSync('/'));
    const allowed = new Set(['inside.txt', 'sub']);

    const swapper = spawn(process.execPath, [...process.execArgv, SWAPPER, src], { stdio: ['pipe', 'pipe', 'inherit'] });
    t.teardown(() => {
      if (swapper.exitCode === null && swapper.pid !== undefined) process.kill(swapper.pid, 'SIGKILL');
    });

    const seen: Record<string, number> = {};
    const count = (what: string): void => void (seen[what] = (seen[what] ?? 0) + 1);
    const escapes: string[] = [];
    const made: string[] = [];
    let joinedEscapes = 0;
    for (let i = 0; i < ITERATIONS || !(seen.dir && seen.symlink); i++) {
      if (i > 3 * ITERATIONS) break;
      // What a server joining "SRC" + "/d/etc" would reach at this moment.
      if (errCode(() => fs.statSync(path.join(src, 'd', 'etc'))) === 'ok') joinedEscapes++;
      let dfd: number;
      try {
        dfd = fs.openSync(path.join(mnt, 'd'), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // O_DIRECTORY|O_NOFOLLOW on a symlink: ENOTDIR (ELOOP without O_DIRECTORY).
        count(code === 'ENOTDIR' || code === 'ELOOP' ? 'symlink' : code ?? 'error');
        continue;
      }
      count('dir');
      const at = `/proc/self/fd/${dfd}`;
      try {
        const content = errCode(() => {
          const text = fs.readFileSync(`${at}/inside.txt`, 'utf8');
          if (text !== 'inside') escapes.push(`read ${JSON.stringify(text)}`);
        });
        if (content !== 'ok') escapes.push(`inside.txt: ${content}`);
        const etc = errCode(() => fs.statSync(`${at}/etc`));
        if (etc !== 'ENOENT') escapes.push(`etc: ${etc}`);
        if (i % 10 === 0) {
          for (const name of fs.readdirSync(at)) {
            if (!allowed.has(name)) escapes.push(`listed ${name}${rootNames.has(name) ? ' (from /)' : ''}`);
          }
          const sub = errCode(() => fs.readdirSync(`${at}/sub`));
          if (sub !== 'ok') escapes.push(`sub: ${sub}`);
        }
        if (i % 50 === 0) {
          const name = `${token}-${i}`;
          fs.writeFileSync(`${at}/${name}`, 'made');
          made.push(name);
          allowed.add(name);
        }
      } finally {
        fs.closeSync(dfd);
      }
      if (escapes.length > 20) break;
    }
    swapper.stdin!.end();
    const swaps = await new Promise<string>((resolve) => {
      let out = '';
      swapper.stdout!.on('data', (d) => (out += d));
      swapper.on('exit', () => resolve(out.trim()));
    });
    t.comment(`opens: ${JSON.stringify(seen)}, swaps: ${swaps}, files made: ${made.length}`);
    t.ok(seen.dir > 0 && seen.symlink > 0, 'the reader met both the directory and the symlink');
    t.ok(joinedEscapes > 0, 'a server joining path strings would have reached / meanwhile');
    t.same(escapes, [], 'nothing outside the source was seen');
    t.same(fs.readdirSync('/').filter((n) => n.startsWith(token)), [], 'nothing was created in /');
    t.same(fs.readdirSync(path.join(src, 'd')).filter((n) => n.startsWith(token)).sort(), made.sort(), 'every file made is in the source');
    t.equal(fs.readlinkSync(path.join(mnt, 'lnk')), '/', 'the symlink is shown as a symlink');
  });
}
