// What a session asks for in INIT beyond its dispatcher's wishes (the mount's options), and what
// it says when the kernel did not grant them. Pure: the session does the answering.
import type { InitWants, NegotiatedInit } from '../protocol/init';

/** The mount options that become INIT flags or fields (SessionOptions has their meaning). */
export interface InitAsks {
  requestTimeout: number;
  allowIdmap: boolean;
  overIoUring: boolean;
}

/** The dispatcher's wants with the mount's asks added. */
export function initWants(dispatcherWants: InitWants, asks: InitAsks): InitWants {
  const flags = [...(dispatcherWants.flags ?? [])];
  if (asks.allowIdmap) flags.push('FUSE_ALLOW_IDMAP');
  if (asks.overIoUring) flags.push('FUSE_OVER_IO_URING');
  return {
    ...dispatcherWants,
    ...(flags.length > 0 ? { flags } : {}),
    ...(asks.requestTimeout > 0 ? { requestTimeout: asks.requestTimeout } : {}),
  };
}

/**
 * One log line per ask the kernel did not grant, saying what follows. FUSE_OVER_IO_URING is not
 * among them: the io_uring transport says why it serves over /dev/fuse instead (uring.ts).
 */
export function ungranted(negotiated: NegotiatedInit, asks: InitAsks): string[] {
  const lines: string[] = [];
  if (asks.requestTimeout > 0 && negotiated.requestTimeout === 0) {
    lines.push('tsfuse: request timeout not set: this kernel does not offer FUSE_REQUEST_TIMEOUT (Linux 6.14+); a server that stops answering leaves callers waiting');
  }
  if (asks.allowIdmap && !negotiated.flags.includes('FUSE_ALLOW_IDMAP')) {
    lines.push('tsfuse: allow_idmap not set: this kernel does not offer FUSE_ALLOW_IDMAP (Linux 6.12+); idmapped mounts of this mount will be refused');
  }
  return lines;
}
