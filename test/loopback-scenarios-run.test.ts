// The behaviour suite's command runner (fixtures/loopback/scenarios.ts run/asUser): a command
// that cannot start is a failure that says why, never a TypeError on its missing output, and a
// command that could not start for a moment (a busy machine: fork EAGAIN) is started again.
import t from 'tap';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SpawnSyncReturns } from 'node:child_process';
import { asUser, run, type SpawnSync } from './fixtures/loopback/scenarios';

/** What spawnSync returns when the child never reached exec: an error and no output at all. */
function notStarted(code: string): SpawnSyncReturns<string> {
  const error = Object.assign(new Error(`spawnSync sh ${code}`), { code, syscall: 'spawnSync sh' });
  return { pid: 0, output: null as unknown as string[], stdout: null as unknown as string, stderr: null as unknown as string, status: null, signal: null, error };
}

t.test('a command that cannot start says why (here: its working directory is gone)', async (t) => {
  const gone = path.join(os.tmpdir(), `tsfuse-no-such-dir-${process.pid}`);
  // The child's chdir fails before exec, as any spawn failure would: the output is null.
  t.throws(() => asUser('true', gone), { message: new RegExp(`^setpriv could not start in ${gone}: ENOENT`) });
});

t.test('a command stopped by its timeout says so, with its output so far', async (t) => {
  t.throws(() => run('sh', ['-c', 'echo started; sleep 10'], { timeout: 200 }), { message: /^sh was stopped: ETIMEDOUT .*output so far: "started\\n"/ });
});

t.test('a command that could not start for a moment is started again; a lasting cause is not', async (t) => {
  const calls: string[] = [];
  const busy = (failures: number, code: string): SpawnSync => (cmd, args, options) => {
    calls.push(cmd);
    if (calls.length <= failures) return notStarted(code);
    return { pid: 1, output: [null as unknown as string, 'ok\n', ''], stdout: 'ok\n', stderr: '', status: 0, signal: null };
  };
  const r = run('sh', ['-c', 'echo ok'], {}, busy(2, 'EAGAIN'));
  t.equal(r.stdout, 'ok\n', 'the third attempt ran');
  t.equal(calls.length, 3);

  calls.length = 0;
  t.throws(() => run('sh', [], {}, busy(99, 'EAGAIN')), { message: /^sh could not start: EAGAIN .* after 5 attempts$/ }, 'bounded');
  t.equal(calls.length, 5);

  calls.length = 0;
  t.throws(() => run('sh', [], { cwd: '/x' }, busy(99, 'ENOENT')), { message: /^sh could not start in \/x: ENOENT/ });
  t.equal(calls.length, 1, 'ENOENT will not pass by itself: not retried');
});
