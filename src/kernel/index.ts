// src/kernel: the /dev/fuse device, mounting, the request loop and the session. It knows nothing
// of the filesystem API: requests go to a Dispatcher (src/fs/bridge.ts is the one users get).
export { MountError } from './errors';
export { FUSE_DEVICE, FUSECTL_DIR, abortConnection, cloneDevice, connectionId, connectionServers, ioctl, openDevice } from './device';
export { checkMountpoint, fusermountOptions, isDeadMount, mountArgs, mountDevice, mountFuse, requireRoot, resolveMountOptions, unmount } from './mount';
export { checkHandedFd, handedFd } from './handed-fd';
export type { MountOptions } from './mount';
export { DeviceTransport, WorkerTransport, canPollDevice, deviceTransport } from './transport';
export type { ReplyChannel, Transport, TransportSink } from './transport';
export { MemoryTransport } from './memory-transport';
export { RequestContext, Session } from './session';
export type { Dispatcher, Reply, SessionOptions, SessionStats } from './session';
