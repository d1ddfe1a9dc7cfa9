import * as fs from 'node:fs';
import * as path from 'node:path';
import { defineCommand, type RunArgs } from '../command';
import { BusyError, unmountPath } from '../engine';
import { CliError, errnoCode } from '../errors';
import { isFuse, mountAt } from '../mounts';
import { option, parseBoolean } from '../options';

export const umountOptions = {
  lazy: option({
    describe: 'Detach now even if busy; the server keeps serving open files until they are closed',
    cli: 'boolean',
    alias: 'l',
    default: false,
    parse: parseBoolean,
  }),
};

export const umountCommand = defineCommand({
  name: 'umount',
  describe: 'Unmount a FUSE mount (a tsfuse daemon then exits)',
  positionals: [{ name: 'mnt', describe: 'Mount point' }],
  options: umountOptions,
  epilogue: 'A dead mount (the server is gone: "transport endpoint is not connected") is always detached lazily.',
  async run(args: RunArgs<typeof umountOptions>): Promise<number> {
    const mnt = canonical(path.resolve(args.cwd, args.positionals.mnt));
    const mounted = mountAt(mnt);
    if (!mounted) throw new CliError(`${mnt}: not mounted`);
    if (!isFuse(mounted)) throw new CliError(`${mnt}: not a FUSE mount (${mounted.fstype}); use umount(8)`);
    let lazy = args.options.lazy;
    if (!lazy && isDead(mnt)) {
      // Nothing answers requests there any more: a plain umount would fail or hang.
      args.log.info(`tsfuse: ${mnt} is a dead FUSE mount (transport endpoint is not connected); detaching it lazily`);
      lazy = true;
    }
    try {
      await unmountPath(mnt, { lazy });
    } catch (err) {
      if (err instanceof BusyError) throw new CliError(`${mnt}: busy (a file is open or a process works there); retry or use --lazy`);
      if (err instanceof CliError) throw err;
      throw new CliError(`cannot unmount ${mnt}: ${(err as Error).message ?? err}`);
    }
    return 0;
  },
});

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

function isDead(mnt: string): boolean {
  try {
    fs.statSync(mnt);
    return false;
  } catch (err) {
    return errnoCode(err) === 'ENOTCONN';
  }
}
