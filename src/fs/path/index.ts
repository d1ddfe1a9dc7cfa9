// src/fs/path: the path API (libfuse's high-level fuse_operations, promise-based) over the lowlevel one.
export { pathFilesystem } from './adapter';
export type { PathFilesystem } from './adapter';
export type {
  PathDirent, PathOpenReply, PathOpenResult, PathOperations, PathOptions, StatfsInput, TimeUpdate,
} from './api';
export { toAttr, toTimespec } from './attr';
export type { FileType, StatInput, TimeInput, Timespec } from './attr';
export * from './constants';
