import { readdirSync } from 'node:fs';
import { procPath } from './names';

/** A directory entry's name, byte for byte (source names need not be UTF-8). */
export type DirEntry = Buffer;

export const DOT = Buffer.from('.');
export const DOTDOT = Buffer.from('..');

/**
 * The names in a directory, read in one go.
 *
 * READDIR continues a listing from an offset the kernel got from us earlier.
 * getdents offsets (seekdir cookies) of the backing filesystem would do, but a
 * snapshot makes offsets plain indexes into this list: they stay valid however
 * the directory changes while it is being listed, and every name present for
 * the whole listing is returned exactly once. The snapshot is taken at the
 * first READDIR and again when the kernel starts over at offset 0 (rewinddir).
 */
export function readEntries(dirFd: number): DirEntry[] {
  // The /proc path reopens the directory the O_PATH fd holds; no name is walked.
  const names = readdirSync(procPath(dirFd), { encoding: 'buffer' });
  return [DOT, DOTDOT, ...names];
}

export function isDotOrDotdot(name: DirEntry): boolean {
  return name.equals(DOT) || name.equals(DOTDOT);
}
