import * as fs from 'node:fs';

/** One line of /proc/self/mountinfo, the fields the CLI needs. */
export interface MountEntry {
  mountPoint: string;
  /** e.g. 'fuse.tsfuse', 'tmpfs'. */
  fstype: string;
  source: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo (fs/proc_namespace.c, mangle()). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    // id parent major:minor root mountpoint options [optional fields…] - fstype source superoptions
    const dash = fields.indexOf('-', 6);
    if (dash < 0 || fields.length < dash + 3) continue;
    out.push({ mountPoint: unescape(fields[4]), fstype: fields[dash + 1], source: unescape(fields[dash + 2]) });
  }
  return out;
}

/** The mount on top at exactly `dir` (an absolute, symlink-free path), if any. */
export function mountAt(dir: string, mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8')): MountEntry | undefined {
  // Later lines are mounted later: the last match is the one a path walk reaches.
  return parseMountinfo(mountinfo).filter((m) => m.mountPoint === dir).pop();
}

export function isFuse(entry: MountEntry): boolean {
  return entry.fstype === 'fuse' || entry.fstype.startsWith('fuse.') || entry.fstype === 'fuseblk';
}
