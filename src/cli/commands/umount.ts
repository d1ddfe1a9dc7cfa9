import * as fs from 'node:fs';
import * as path from 'node:path';
import { defineCommand, type RunArgs } from '../command';
import { CliError } from '../errors';
import { option, parseBoolean } from '../options';
import { MountError } from '../../kernel/errors';
import { isDeadMount, unmount } from '../../kernel/mount';
import { mountOf } from '../../kernel/probe-host';

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
    const mounted = mountOf(mnt);
    if (mounted?.mountPoint !== mnt) throw new CliError(`${mnt}: not mounted`);
    if (!/^fuse(\.|blk$|$)/.test(mounted.fsType)) throw new CliError(`${mnt}: not a FUSE mount (${mounted.fsType}); use umount(8)`);
    let lazy = args.options.lazy;
    if (!lazy && (await isDeadMount(mnt))) {
      // Nothing answers requests there any more: only a lazy unmount gets rid of it.
      args.log.info(`tsfuse: ${mnt} is a dead FUSE mount (transport endpoint is not connected); detaching it lazily`);
      lazy = true;
    }
    try {
      await unmount(mnt, { lazy });
    } catch (err) {
      if (err instanceof MountError && err.code === 'EBUSY') {
        throw new CliError(`${mnt}: busy (a file is open or a process works there); retry or use --lazy`);
      }
      if (err instanceof MountError) throw new CliError(err.message);
      throw err;
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
