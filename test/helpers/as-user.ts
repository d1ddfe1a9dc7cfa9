// Running the built CLI as an ordinary user (nobody, 65534), for the fusermount3 route.
//
// fusermount3 opens /dev/fuse with the caller's own permissions (measured with fuse3 3.14: "failed
// to open /dev/fuse: Permission denied" as nobody when the device is 0600, as on some VMs; udev
// makes it 0666 on a normal system). So the user's commands run in a private mount namespace
// where a 0666 node of the same device (10:229) is bound over /dev/fuse: the host's device and
// mount table are left alone, and whatever the user mounts there vanishes with the namespace.
// nobody is used because fusermount3 refuses a uid without a passwd entry.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Test } from 'tap';
import { lineReader } from './child';
import { run } from './mounted';

export const NOBODY = 65534;
export const MAIN = path.resolve(__dirname, '../../dist/src/cli/main.js');

const SETUP = [
  'set -e',
  'd=$(mktemp -d)',
  'mount -t tmpfs tmpfs "$d"',
  'mknod -m 0666 "$d/fuse" c 10 229',
  'mount --bind "$d/fuse" /dev/fuse',
  'umount -l "$d"',
  'rmdir "$d"',
  'echo ready',
  // Lives until the test closes stdin; the namespace lasts while any process is in it.
  'exec cat >/dev/null',
].join('; ');

/** Why the user route cannot be tested here, or undefined when it can. */
export function userRouteUnavailable(): string | undefined {
  if (process.geteuid?.() !== 0) return 'needs root (to make the test user namespace)';
  for (const tool of ['fusermount3', 'setpriv', 'nsenter', 'unshare']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `needs ${tool}`;
  }
  if (!fs.existsSync(MAIN)) return `${MAIN} is missing: run \`npm run build\``;
  // The checkout must be readable by the user that runs the CLI from it.
  if (spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'test', '-r', MAIN]).status !== 0) {
    return `nobody cannot read ${MAIN}`;
  }
  return undefined;
}

export interface UserNamespace {
  /** The holder process: /proc/PID/mountinfo is the namespace's mount table. */
  pid: number;
  /** Runs `cmd` as nobody in the namespace. */
  asUser(cmd: string, args: string[]): ReturnType<typeof run>;
  /** Runs the CLI as nobody in the namespace (without tap's NODE_OPTIONS loaders). */
  tsfuse(args: string[]): ReturnType<typeof run>;
  /** FUSE mounts in the namespace under `dir`. */
  fuseMountsUnder(dir: string): string[];
}

/** A private mount namespace with a 0666 /dev/fuse; ended at teardown. */
export async function userNamespace(t: Test): Promise<UserNamespace> {
  const holder: ChildProcess = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', SETUP], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => {
    holder.stdin?.end();
  });
  const line = await lineReader(holder, 'namespace holder')();
  if (line !== 'ready') throw new Error(`namespace holder: ${line}`);
  const pid = holder.pid!;
  const asUser = (cmd: string, args: string[]) =>
    run('nsenter', [`--target=${pid}`, '--mount', '--', 'setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', cmd, ...args]);
  return {
    pid,
    asUser,
    tsfuse: (args) => asUser('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, MAIN, ...args]),
    fuseMountsUnder: (dir) =>
      fs
        .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
        .split('\n')
        .map((l) => l.split(' '))
        .filter((f) => f[4] !== undefined && (f[4] === dir || f[4].startsWith(dir + '/')) && /^fuse/.test(f[f.indexOf('-', 6) + 1] ?? ''))
        .map((f) => f[4]),
  };
}
