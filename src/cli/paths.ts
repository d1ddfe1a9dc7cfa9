// Paths the user names (SRC, MNT, --backing, --stats-file, --log-file): what is wrong with one,
// said the same way by every command, in one line.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errnoCodeOf } from '../kernel/errors';
import { CliError } from './errors';

/** Stats directory `p`, which `what` names ("SRC", "--backing"); a mistake is a one-line CliError. */
export function statDirectory(what: string, p: string, exitCode = 1): fs.Stats {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (err) {
    throw new CliError(`${what} ${p}: ${whyNot(err, p)}`, exitCode);
  }
  if (!st.isDirectory()) throw new CliError(`${what} ${p}: not a directory`, exitCode);
  return st;
}

/** Why a path cannot be used, from the errno of stat(2) or open(2). */
function whyNot(err: unknown, p: string): string {
  switch (errnoCodeOf(err)) {
    case 'ENOENT':
      return 'no such directory';
    case 'ENOTDIR':
      return 'a component of the path is not a directory';
    case 'ENOTCONN':
      return `a dead FUSE mount (transport endpoint is not connected); clear it with \`tsfuse umount ${p}\``;
    case 'EACCES':
      return 'permission denied';
    default:
      return (err as Error).message;
  }
}

/** A file written later (at exit, or by a daemon): a directory that is not there is found now. */
export function checkParentDirectory(what: string, file: string): void {
  let dir: fs.Stats | undefined;
  try {
    dir = fs.statSync(path.dirname(file));
  } catch {
    // said below
  }
  if (!dir?.isDirectory()) throw new CliError(`${what} ${file}: ${path.dirname(file)} is not a directory`);
}

/** Opens `file` (--log-file) for appending; a path the user got wrong is a one-line error. */
export function openForAppend(what: string, file: string): number {
  checkParentDirectory(what, file);
  try {
    return fs.openSync(file, 'a');
  } catch (err) {
    const code = errnoCodeOf(err);
    const why = code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new CliError(`${what} ${file}: ${why}`);
  }
}
