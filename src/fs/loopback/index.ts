/**
 * The built-in loopback: mounts a source directory as it is. Its files, one
 * job each:
 * - loopback.ts — the operations (the Filesystem the session calls);
 * - inodes.ts   — the inode table: (st_dev, st_ino) → nodeid, an O_PATH fd per inode, lookup counts;
 * - handles.ts  — open files and directories by fh;
 * - dirs.ts     — directory snapshots, whose indexes are READDIR offsets;
 * - threaded.ts — the loopback on several threads, over shared-inodes.ts, shared-files.ts and
 *                 shared-dirs.ts (the same tables in shared memory);
 * - locks.ts    — POSIX record locks per lock owner, and flock;
 * - names.ts    — what a name may be, and /proc/self/fd paths;
 * - attr.ts     — struct stat → fuse_attr, mode bits.
 */
export { Loopback, type LoopbackOptions, type PassthroughPolicy, type PosixLockKeeper } from './loopback';
export { threadedLoopback, type ThreadedLoopback } from './threaded';
