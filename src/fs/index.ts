// src/fs: the lowlevel filesystem API users implement, the bridge to the kernel session, mount().
export * from './api';
export { FuseError, errnoOf } from './errors';
export { Bridge } from './bridge';
export { mount } from './mount';
export { MAX_THREADS } from './threads';
export type { MountHandle, MountOptions } from './mount';
