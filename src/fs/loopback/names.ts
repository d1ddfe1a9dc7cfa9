import { FuseError } from '../errors';

/** NAME_MAX (<linux/limits.h>): the longest name a directory entry can have, in bytes. */
export const NAME_MAX = 255;

/**
 * Every name is resolved against a directory fd, so a name must be exactly one
 * path component: '.', '..' or a '/' would walk out of that directory, and a
 * NUL would cut the name short on its way into the syscall. The kernel never
 * sends such names; refusing them here keeps a protocol bug from becoming an
 * escape from the source directory.
 */
export function checkName(name: string | Buffer): void {
  if (typeof name !== 'string') {
    // The exact bytes (Linux names need not be UTF-8): 0x2f is '/', 0x2e '.'.
    const n = name.length;
    if (n === 0 || (n <= 2 && name[0] === 0x2e && name[n - 1] === 0x2e) || name.includes(0x2f) || name.includes(0)) {
      throw new FuseError('EINVAL', `invalid name ${JSON.stringify(name.toString('latin1'))}`);
    }
    if (n > NAME_MAX) throw new FuseError('ENAMETOOLONG');
    return;
  }
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new FuseError('EINVAL', `invalid name ${JSON.stringify(name)}`);
  }
  // A UTF-16 unit is at most 3 UTF-8 bytes: short names need no byte count.
  if (name.length * 3 > NAME_MAX && Buffer.byteLength(name) > NAME_MAX) {
    throw new FuseError('ENAMETOOLONG');
  }
}

/** The path through which the file behind `fd` (an O_PATH fd too) is reached without a path walk. */
export function procPath(fd: number): string {
  return '/proc/self/fd/' + fd;
}
