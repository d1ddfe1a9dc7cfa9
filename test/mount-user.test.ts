// The fusermount3 route, as an ordinary user (nobody) running the built CLI: mount on a directory
// the user owns, use it, `tsfuse umount`, nothing left; a directory it does not own is refused;
// a killed server's mount goes away by itself (auto_unmount). See helpers/as-user.ts for why the
// user's commands run in a private mount namespace.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alive } from '../src/cli/commands/umount';
import { NOBODY, userNamespace, userRouteUnavailable } from './helpers/as-user';
import { tempDir } from './helpers/tmp';

const skip = userRouteUnavailable();

/** SRC and MNT owned by nobody, and a directory it does not own, under a fresh temp dir. */
function dirs(t: Parameters<typeof tempDir>[0]) {
  const dir = tempDir(t, 'tsfuse-user-', { mode: 0o755 });
  const [src, mnt, notMine] = ['src', 'mnt', 'root-owned'].map((n) => path.join(dir, n));
  for (const d of [src, mnt, notMine]) fs.mkdirSync(d);
  fs.writeFileSync(path.join(src, 'hello.txt'), 'hello\n');
  for (const p of [src, mnt, path.join(src, 'hello.txt')]) fs.chownSync(p, NOBODY, NOBODY);
  return { dir, src, mnt, notMine };
}

/** The daemon's pid from its ready line; killed at teardown if a failure left it running. */
function daemonPid(t: Parameters<typeof tempDir>[0], stdout: string): number {
  const pid = Number(/\(pid (\d+)/.exec(stdout)?.[1]);
  t.teardown(() => {
    if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL');
  });
  return pid;
}

t.test('as nobody: mount, create/read/write/rename/delete, tsfuse umount, nothing left', { skip }, async (t) => {
  const ns = await userNamespace(t);
  const { dir, src, mnt, notMine } = dirs(t);
  const log = path.join(dir, 'daemon.log');
  fs.writeFileSync(log, '');
  fs.chownSync(log, NOBODY, NOBODY);

  const r = await ns.tsfuse(['mount', src, mnt, '--daemon', '--passthrough', '--log-file', log]);
  t.equal(r.code, 0, `mounted: ${r.stderr}`);
  const pid = daemonPid(t, r.stdout);
  const line = fs.readFileSync(`/proc/${ns.pid}/mountinfo`, 'utf8').split('\n').find((l) => l.split(' ')[4] === mnt) ?? '';
  t.match(line, / fuse\.tsfuse /, 'a tsfuse mount');
  t.match(line, /user_id=65534,group_id=65534/, "the user's own mount");
  t.match(line, /nosuid/, 'nosuid');
  t.match(line, /nodev/, 'nodev');

  const script = [
    `cat ${mnt}/hello.txt`,
    `echo created > ${mnt}/new.txt`,
    `echo more >> ${mnt}/new.txt`,
    `mv ${mnt}/new.txt ${mnt}/renamed.txt`,
    `cat ${mnt}/renamed.txt`,
    `rm ${mnt}/hello.txt`,
    `ls ${mnt}`,
  ].join(' && ');
  const use = await ns.asUser('sh', ['-c', script]);
  t.equal(use.stdout, 'hello\ncreated\nmore\nrenamed.txt\n', `the user works in the mount: ${use.stderr}`);
  t.same(fs.readdirSync(src), ['renamed.txt'], 'the changes reached SRC');
  t.equal(fs.readFileSync(path.join(src, 'renamed.txt'), 'utf8'), 'created\nmore\n');
  t.equal(fs.statSync(path.join(src, 'renamed.txt')).uid, NOBODY, 'created as the user');

  const u = await ns.tsfuse(['umount', mnt]);
  t.equal(u.code, 0, `tsfuse umount: ${u.stderr}`);
  t.same(ns.fuseMountsUnder(dir), [], 'nothing left mounted');
  t.notOk(alive(pid), 'the server exited');
  t.match(fs.readFileSync(log, 'utf8'), /^.*passthrough off: .*$/m, 'passthrough fell back with its warning');

  const refused = await ns.tsfuse(['mount', src, notMine]);
  t.equal(refused.code, 1, 'exit 1');
  t.match(refused.stderr, /^tsfuse: fusermount3 failed to mount .*root-owned: .*no write access/);
  t.equal(refused.stderr.trim().split('\n').length, 1, 'one line');
  t.same(ns.fuseMountsUnder(dir), [], 'nothing mounted there');
});

t.test('as nobody, auto_unmount (the default): SIGKILL of the server → the mount is gone within 2 s', { skip }, async (t) => {
  const ns = await userNamespace(t);
  const { dir, src, mnt } = dirs(t);
  const r = await ns.tsfuse(['mount', src, mnt, '--daemon']);
  t.equal(r.code, 0, `mounted: ${r.stderr}`);
  const pid = daemonPid(t, r.stdout);
  t.same(ns.fuseMountsUnder(dir), [mnt], 'mounted');
  process.kill(pid, 'SIGKILL');
  const deadline = Date.now() + 2000;
  while (ns.fuseMountsUnder(dir).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.same(ns.fuseMountsUnder(dir), [], 'gone within 2 s of the SIGKILL');
});
