/**
 * The command line mount(8) and fstab use. `mount -t fuse.tsfuse SRC MNT -o OPTS` runs
 * mount.fuse3, which runs `tsfuse SRC MNT -o rw,OPTS,dev,suid` through /bin/sh and waits for it
 * to return once mounted. So a command line that starts with two operands instead of a command
 * is a mount in the background, and an -o item naming an option of the mount command
 * (`passthrough=rw`, `attr_timeout=5`, `debug`) is that option: an fstab line has no other place
 * for them.
 */
import * as fs from 'node:fs';
import { flagName, camelKey, type OptionTable } from './options';

/**
 * `tsfuse SRC MNT …` → `tsfuse mount --daemon SRC MNT …` when SRC is a path (holds a '/', as
 * fstab sources do, or names a directory), so that a mistyped command (`tsfuse mont a b`) is
 * still reported as one. Anything else is left as it is.
 */
export function fromMountHelper(args: readonly string[], commands: readonly string[]): string[] {
  const [src, mnt] = args;
  if (src === undefined || mnt === undefined || src.startsWith('-') || mnt.startsWith('-') || commands.includes(src)) return [...args];
  if (!src.includes('/') && !isDirectory(src)) return [...args];
  return ['mount', '--daemon', ...args];
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Moves -o items that name an option of `table` out of the -o list: `-o ro,passthrough=rw,debug`
 * → `-o ro --passthrough=rw --debug`. Underscores and dashes are alike (`attr_timeout`).
 */
export function expandOptionKeys(args: readonly string[], table: OptionTable): string[] {
  // Operands after '--' are left alone.
  const end = args.includes('--') ? args.indexOf('--') : args.length;
  const out: string[] = [];
  for (let i = 0; i < end; i++) {
    const arg = args[i];
    let list: string | undefined;
    if (arg === '-o' || arg === '--options') list = args[++i];
    else if (/^(-o|--options)=/.test(arg)) list = arg.slice(arg.indexOf('=') + 1);
    else if (/^-o[^=]/.test(arg)) list = arg.slice(2);
    if (list === undefined) {
      out.push(arg);
      continue;
    }
    const kept: string[] = [];
    for (const item of list.split(',')) {
      const eq = item.indexOf('=');
      const key = camelKey((eq < 0 ? item : item.slice(0, eq)).replace(/_/g, '-'));
      const spec = key === 'options' ? undefined : table[key];
      if (spec === undefined || spec.internal) kept.push(item);
      else out.push(eq < 0 ? `--${flagName(key)}` : `--${flagName(key)}=${item.slice(eq + 1)}`);
    }
    if (kept.length > 0) out.push('-o', kept.join(','));
  }
  return [...out, ...args.slice(end)];
}
