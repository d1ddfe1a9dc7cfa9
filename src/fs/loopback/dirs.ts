import { opendirSync } from 'node:fs';
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
  const entries: DirEntry[] = [DOT, DOTDOT];
  // The /proc path reopens the directory the O_PATH fd holds; no name is
  // walked. opendir keeps the backing filesystem's order (readdirSync would
  // sort), which tar and find then see as they would in the source. latin1
  // maps bytes to characters one to one, so names come back byte for byte.
  const dir = opendirSync(procPath(dirFd), { encoding: 'latin1', bufferSize: 1024 });
  try {
    for (let d = dir.readSync(); d !== null; d = dir.readSync()) entries.push(Buffer.from(d.name, 'latin1'));
  } finally {
    dir.closeSync();
  }
  return entries;
}

export function isDotOrDotdot(name: DirEntry): boolean {
  return name.equals(DOT) || name.equals(DOTDOT);
}
