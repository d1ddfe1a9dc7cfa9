// /dev/fuse ioctl request numbers and argument layouts (include/uapi/linux/fuse.h, "Device
// ioctls"). Numbers only: src/kernel makes the calls. Pass numbers to ioctl-napi as they are
// here (already unsigned 32-bit).
import * as L from './layouts';

/** _IOC encoding of asm-generic/ioctl.h (x86_64): dir(2) | size(14) | type(8) | nr(8). */
const IOC_NONE = 0;
const IOC_WRITE = 1;
const IOC_READ = 2;
function ioc(dir: number, type: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}
export const _IO = (type: number, nr: number): number => ioc(IOC_NONE, type, nr, 0);
export const _IOR = (type: number, nr: number, size: number): number => ioc(IOC_READ, type, nr, size);
export const _IOW = (type: number, nr: number, size: number): number => ioc(IOC_WRITE, type, nr, size);

export const FUSE_DEV_IOC_MAGIC = 229;
/** Attach a freshly opened /dev/fuse fd to the session whose fd is in the uint32 argument. */
export const FUSE_DEV_IOC_CLONE = _IOR(FUSE_DEV_IOC_MAGIC, 0, 4); // 0x8004E500
/** Register a backing file (struct fuse_backing_map) for passthrough; returns the backing id. */
export const FUSE_DEV_IOC_BACKING_OPEN = _IOW(FUSE_DEV_IOC_MAGIC, 1, L.fuse_backing_map.size); // 0x4010E501
/** Unregister a backing id (uint32 argument). */
export const FUSE_DEV_IOC_BACKING_CLOSE = _IOW(FUSE_DEV_IOC_MAGIC, 2, 4); // 0x4004E502
/** Synchronous INIT (newer kernels). */
export const FUSE_DEV_IOC_SYNC_INIT = _IO(FUSE_DEV_IOC_MAGIC, 3); // 0xE503

/**
 * The struct fuse_backing_map argument of BACKING_OPEN. The kernel wants flags and padding 0
 * (else EINVAL). `into`: a buffer of that size to reuse, whose padding is still 0.
 */
export function encodeBackingMap(fd: number, flags = 0, into: Buffer = Buffer.alloc(L.fuse_backing_map.size)): Buffer {
  into.writeInt32LE(fd, L.fuse_backing_map.off.fd);
  into.writeUInt32LE(flags, L.fuse_backing_map.off.flags);
  return into;
}

/** The 4-byte argument of CLONE (session fd) and BACKING_CLOSE (backing id); `into`: one to reuse. */
export function encodeU32Arg(value: number, into: Buffer = Buffer.alloc(4)): Buffer {
  into.writeUInt32LE(value >>> 0, 0);
  return into;
}
