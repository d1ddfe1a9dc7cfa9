// tsfuse: a FUSE server for Linux in TypeScript that speaks /dev/fuse directly.
export * from './fs/index';
export { Loopback, threadedLoopback } from './fs/loopback';
export type { LoopbackOptions, PassthroughPolicy, PosixLockKeeper, ThreadedLoopback } from './fs/loopback';
export { MountError, Session, isDeadMount, unmount } from './kernel/index';
export type { SessionStats } from './kernel/index';
export * from './fs/path/index';
