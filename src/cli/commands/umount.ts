import * as fs from 'node:fs';
import * as path from 'node:path';
import { defineCommand, type RunArgs } from '../command';
import { CliError, UsageError } from '../errors';
import { option, parseBoolean, parseSeconds } from '../options';
import { statDirectory } from '../paths';
import { connectionId, connectionServers } from '../../kernel/device';
import { MountError } from '../../kernel/errors';
import { isDeadMount, unmount } from '../../kernel/mount';
import { mountOf } from '../../kernel/probe-host';

const DEFAULT_WAIT_S = 10;

export const umountOptions = {
  lazy: option({
    describe: 'Detach now even if busy; the server keeps serving open files until they are closed',
    cli: 'boolean',
    alias: 'l',
    default: false,
    parse: parseBoolean,
  }),
  wait: option({
    describe: 'Then wait up to this long for the server process to exit (a tsfuse daemon writes --stats-file on its way out); 0: do not wait. Not with --lazy',
    cli: 'number',
    placeholder: 'SECONDS',
    // Unset unless given, so that --lazy can refuse a --wait it would ignore.
    default: undefined,
    defaultDescription: String(DEFAULT_WAIT_S),
    parse: parseSeconds,
  }),
};

export const umountCommand = defineCommand({
  name: 'umount',
  describe: 'Unmount a FUSE mount and wait for its server to exit',
  positionals: [{ name: 'mnt', describe: 'Mount point' }],
  options: umountOptions,
  epilogue: 'A dead mount (the server is gone: "transport endpoint is not connected") is always detached lazily.',
  async run(args: RunArgs<typeof umountOptions>): Promise<number> {
    const { wait = DEFAULT_WAIT_S } = args.options;
    if (args.options.lazy && wait > 0 && args.options.wait !== undefined) {
      // A lazy unmount returns while open files still keep the server running: nothing to wait for.
      throw new UsageError('--lazy and --wait exclude each other: a lazy unmount does not wait for the server (use one of them)');
    }
    const mnt = canonical(path.resolve(args.cwd, args.positionals.mnt));
    const mounted = mountOf(mnt);
    if (mounted?.mountPoint !== mnt) {
      // A dead mount answers stat with ENOTCONN, but it is listed as mounted: only a path that is not there is ENOENT.
      statDirectory('MNT', mnt);
      throw new CliError(`${mnt}: not mounted`);
    }
    if (!/^fuse(\.|blk$|$)/.test(mounted.fsType)) throw new CliError(`${mnt}: not a FUSE mount (${mounted.fsType}); use umount(8)`);
    let lazy = args.options.lazy;
    if (!lazy && (await isDeadMount(mnt))) {
      // Nothing answers requests there any more: only a lazy unmount gets rid of it.
      args.log.info(`tsfuse: ${mnt} is a dead FUSE mount (transport endpoint is not connected); detaching it lazily`);
      lazy = true;
    }
    // Found before the unmount ends the connection: the processes that will exit with it.
    const connection = connectionId(mnt);
    const servers = connection === undefined ? [] : connectionServers(connection).filter((pid) => pid !== process.pid);
    try {
      await unmount(mnt, { lazy });
    } catch (err) {
      if (err instanceof MountError && err.code === 'EBUSY') {
        throw new CliError(`${mnt}: busy (a file is open or a process works there); retry or use --lazy`);
      }
      if (err instanceof MountError) throw new CliError(err.message);
      throw err;
    }
    if (!lazy && wait > 0) {
      const left = await waitForExit(servers, wait * 1000);
      if (left.length > 0) args.log.error(`tsfuse: ${mnt} unmounted, but its server (pid ${left.join(', ')}) still runs after ${wait} s`);
    }
    return 0;
  },
});

/** Running: a zombie has exited (its parent, often init for a daemon, reaps it when it gets to it). */
export function alive(pid: number): boolean {
  try {
    // "pid (comm) S ...": the state follows the last ')', since comm may hold one.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

/** Polls until every pid has exited or `ms` have passed; returns those still running. */
async function waitForExit(pids: readonly number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  let left = pids.filter(alive);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    left = left.filter(alive);
  }
  return left;
}

/** Resolves symlinks in the parent only: the mount root itself may answer ENOTCONN. */
function canonical(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    try {
      return path.join(fs.realpathSync(path.dirname(p)), path.basename(p));
    } catch {
      return p;
    }
  }
}
