// FUSE_INIT negotiation as a pure function: the kernel's offer + what the filesystem wants ->
// the reply bytes and the feature set both sides will use. Kernel rules it follows
// (fs/fuse/inode.c process_init_reply; each one measured on Linux 6.18):
//  - the kernel reads flags2 from the reply only when FUSE_INIT_EXT is set in flags;
//  - passthrough is enabled only with FUSE_PASSTHROUGH, 1 <= max_stack_depth <= 2, and without
//    FUSE_WRITEBACK_CACHE; otherwise it is silently off (BACKING_OPEN then fails with EPERM);
//  - max_pages is clamped to max_pages_limit (256) and defaults to 32 without FUSE_MAX_PAGES;
//  - max_write below 4096 is raised to 4096 (and ignored for minor < 5);
//  - a kernel with a newer major gets just our major and retries; an older major is refused.
import {
  FILESYSTEM_MAX_STACK_DEPTH, FUSE_DEFAULT_MAX_PAGES_PER_REQ, FUSE_KERNEL_MINOR_VERSION, FUSE_KERNEL_VERSION,
  FUSE_MAX_MAX_PAGES, PAGE_SIZE,
} from './constants';
import { encodeInitFlags, decodeInitFlags, hasInitFlag, INIT_FLAG_BITS, isInitFlagName } from './init-flags';
import type { InitFlagName, InitFlagWords } from './init-flags';
import * as L from './layouts';
import { encodeErrorReply, OUT_HEADER_SIZE, writeOutHeader } from './reply';
import type { DecodeContext } from './requests';
import { viewOf } from './wire';

/** The decoded INIT request (an InitRequest can be passed as is). */
export interface InitOffer {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
  /** Ignored unless FUSE_INIT_EXT is set in flags. */
  flags2: number;
  /** The request's unique, for the reply header; taken from header.unique when absent. */
  unique?: number;
  header?: { unique: number };
}

/** What the filesystem asks for. Everything is optional. */
export interface InitWants {
  /** INIT flags by header name ('FUSE_ASYNC_READ', ...); kept only when the kernel offers them. */
  flags?: readonly InitFlagName[];
  /** Default 1 MiB. Size the /dev/fuse read buffer from negotiated.maxWrite. */
  maxWrite?: number;
  /** Default and upper bound: the kernel's offer. */
  maxReadahead?: number;
  /** 0 keeps the kernel default (12). */
  maxBackground?: number;
  /** 0 keeps the kernel default (3/4 of max_background). */
  congestionThreshold?: number;
  /** Timestamp granularity in ns, 1..1e9 (default 1). */
  timeGran?: number;
  /** Default ceil(maxWrite / 4096); the kernel clamps it to 256. */
  maxPages?: number;
  /** Request FUSE_PASSTHROUGH (needs INIT_EXT, minor >= 40). */
  passthrough?: boolean;
  /** Passthrough stack depth, 1 or 2 (default 1). */
  maxStackDepth?: number;
  /** Request FUSE_WRITEBACK_CACHE (refused when passthrough is negotiated). */
  writebackCache?: boolean;
  /** Seconds after which the kernel aborts a request (FUSE_REQUEST_TIMEOUT), 0 = none. */
  requestTimeout?: number;
  /** log2 of the DAX mapping alignment, only with FUSE_MAP_ALIGNMENT (virtiofs). */
  mapAlignment?: number;
}

/** fuse_init_out as typed values. */
export interface InitOut {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
  flags2: number;
  maxBackground: number;
  congestionThreshold: number;
  maxWrite: number;
  timeGran: number;
  maxPages: number;
  mapAlignment: number;
  maxStackDepth: number;
  requestTimeout: number;
}

/** What both sides will use after this reply. */
export interface NegotiatedInit {
  major: number;
  /** min(kernel minor, 45): the protocol spoken from now on. */
  minor: number;
  kernelMinor: number;
  /** Every flag in the reply, both words, by name. */
  flags: InitFlagName[];
  flagWords: InitFlagWords;
  /** Every flag the kernel offered, by name ('bit N' for unnamed bits). */
  offered: string[];
  passthrough: boolean;
  maxStackDepth: number;
  writebackCache: boolean;
  /** The kernel's max_write: the largest WRITE payload. Read buffers need maxWrite + 4 KiB. */
  maxWrite: number;
  /** Pages per request the kernel will use (after its clamp). */
  maxPages: number;
  maxReadahead: number;
  maxBackground: number;
  congestionThreshold: number;
  timeGran: number;
  requestTimeout: number;
  /** Pass to decodeRequest for the rest of the session. */
  decodeContext: DecodeContext;
}

export interface InitResult {
  /** ok: connection established. retry: kernel major > 7, expect another INIT. error: refused. */
  status: 'ok' | 'retry' | 'error';
  /** The complete reply (out_header + init_out of the size the kernel's minor expects). */
  reply: Buffer;
  initOut: InitOut | null;
  negotiated: NegotiatedInit | null;
  warnings: string[];
}

const IO = L.fuse_init_out.off;

/** fuse_init_out size a kernel of `kernelMinor` expects (FUSE_COMPAT_INIT_OUT_SIZE / FUSE_COMPAT_22_INIT_OUT_SIZE). */
export function initOutSize(kernelMinor: number): number {
  if (kernelMinor < 5) return 8;
  if (kernelMinor < 23) return 24;
  return L.fuse_init_out.size;
}

/** out_header + fuse_init_out, cut to the size a kernel of `kernelMinor` expects. */
export function encodeInitReply(unique: number, out: InitOut, kernelMinor: number = FUSE_KERNEL_MINOR_VERSION): Buffer {
  const full = Buffer.alloc(L.fuse_init_out.size);
  full.writeUInt32LE(out.major, IO.major);
  full.writeUInt32LE(out.minor, IO.minor);
  full.writeUInt32LE(out.maxReadahead, IO.max_readahead);
  full.writeUInt32LE(out.flags >>> 0, IO.flags);
  full.writeUInt16LE(out.maxBackground, IO.max_background);
  full.writeUInt16LE(out.congestionThreshold, IO.congestion_threshold);
  full.writeUInt32LE(out.maxWrite, IO.max_write);
  full.writeUInt32LE(out.timeGran, IO.time_gran);
  full.writeUInt16LE(out.maxPages, IO.max_pages);
  full.writeUInt16LE(out.mapAlignment, IO.map_alignment);
  full.writeUInt32LE(out.flags2 >>> 0, IO.flags2);
  full.writeUInt32LE(out.maxStackDepth, IO.max_stack_depth);
  full.writeUInt16LE(out.requestTimeout, IO.request_timeout);
  const size = initOutSize(kernelMinor);
  const buf = Buffer.alloc(OUT_HEADER_SIZE + size);
  writeOutHeader(viewOf(buf), 0, buf.length, 0, unique);
  full.copy(buf, OUT_HEADER_SIZE, 0, size);
  return buf;
}

/** fuse_init_out.request_timeout is a u16 of seconds (include/uapi/linux/fuse.h, Linux 6.18). */
export const REQUEST_TIMEOUT_MAX = 0xffff;

const u16 = (n: number): number => Math.max(0, Math.min(0xffff, Math.floor(n)));

/** Decide the INIT reply. Pure: no I/O, same input -> same output. */
export function negotiateInit(offer: InitOffer, want: InitWants = {}): InitResult {
  const unique = offer.unique ?? offer.header?.unique ?? 0;
  const warnings: string[] = [];

  if (offer.major > FUSE_KERNEL_VERSION) {
    // Header rule: reply with our major only and expect an INIT with a matching major.
    const buf = Buffer.alloc(OUT_HEADER_SIZE + 8);
    writeOutHeader(viewOf(buf), 0, buf.length, 0, unique);
    buf.writeUInt32LE(FUSE_KERNEL_VERSION, OUT_HEADER_SIZE + IO.major);
    buf.writeUInt32LE(FUSE_KERNEL_MINOR_VERSION, OUT_HEADER_SIZE + IO.minor);
    warnings.push(`kernel protocol ${offer.major}.${offer.minor} is newer than ours; replied with major ${FUSE_KERNEL_VERSION} and expect a new INIT`);
    return { status: 'retry', reply: buf, initOut: null, negotiated: null, warnings };
  }
  if (offer.major < FUSE_KERNEL_VERSION) {
    warnings.push(`kernel protocol ${offer.major}.${offer.minor} is older than major ${FUSE_KERNEL_VERSION}; refused with EPROTO`);
    return { status: 'error', reply: encodeErrorReply(unique, 71 /* EPROTO */), initOut: null, negotiated: null, warnings };
  }

  const kernelMinor = offer.minor;
  const minor = Math.min(kernelMinor, FUSE_KERNEL_MINOR_VERSION);
  if (kernelMinor < 9) warnings.push(`kernel minor ${kernelMinor} < 9: reply encoders emit 7.9+ struct sizes`);

  // What the kernel offers. flags is only sent from 7.6, flags2 only with INIT_EXT (7.36+).
  const offFlags = kernelMinor >= 6 ? offer.flags >>> 0 : 0;
  const initExt = (offFlags & (1 << INIT_FLAG_BITS.FUSE_INIT_EXT)) !== 0;
  const offered: InitFlagWords = { flags: offFlags, flags2: initExt ? offer.flags2 >>> 0 : 0 };
  const isOffered = (name: InitFlagName): boolean => hasInitFlag(offered, name);

  const wanted = new Set<InitFlagName>();
  for (const name of want.flags ?? []) {
    if (!isInitFlagName(name)) throw new TypeError(`unknown FUSE INIT flag: ${name}`);
    wanted.add(name);
  }
  if (want.writebackCache) wanted.add('FUSE_WRITEBACK_CACHE');
  const wantPassthrough = want.passthrough === true || wanted.has('FUSE_PASSTHROUGH');
  wanted.delete('FUSE_PASSTHROUGH'); // decided below
  if (wanted.delete('FUSE_INIT_RESERVED')) warnings.push('FUSE_INIT_RESERVED must not be set; dropped');

  const maxWriteWanted = want.maxWrite ?? 1024 * 1024;
  let maxPagesSent = u16(want.maxPages ?? Math.ceil(maxWriteWanted / PAGE_SIZE));
  if (maxPagesSent < 1) maxPagesSent = 1;
  if (maxPagesSent > FUSE_DEFAULT_MAX_PAGES_PER_REQ || want.maxPages !== undefined) wanted.add('FUSE_MAX_PAGES');
  if (maxWriteWanted > PAGE_SIZE) wanted.add('FUSE_BIG_WRITES');

  let maxStackDepth = 0;
  let passthrough = false;
  if (wantPassthrough) {
    const depth = want.maxStackDepth ?? 1;
    if (!isOffered('FUSE_PASSTHROUGH')) {
      warnings.push(
        initExt
          ? 'passthrough requested but the kernel does not offer FUSE_PASSTHROUGH'
          : `passthrough requested but the kernel offers no FUSE_INIT_EXT (protocol 7.${kernelMinor}); passthrough needs 7.40+`,
      );
    } else if (!(Number.isInteger(depth) && depth >= 1 && depth <= FILESYSTEM_MAX_STACK_DEPTH)) {
      warnings.push(`passthrough requested with max_stack_depth ${depth}; the kernel only accepts 1..${FILESYSTEM_MAX_STACK_DEPTH}, passthrough not enabled`);
    } else {
      passthrough = true;
      maxStackDepth = depth;
      wanted.add('FUSE_PASSTHROUGH');
      if (wanted.delete('FUSE_WRITEBACK_CACHE')) {
        warnings.push('FUSE_WRITEBACK_CACHE refused: the kernel disables passthrough when both are set, and passthrough wins');
      }
    }
  }

  let requestTimeout = 0;
  if (want.requestTimeout !== undefined && want.requestTimeout > 0) {
    if (isOffered('FUSE_REQUEST_TIMEOUT')) {
      requestTimeout = u16(want.requestTimeout);
      wanted.add('FUSE_REQUEST_TIMEOUT');
    } else {
      warnings.push('request timeout requested but the kernel does not offer FUSE_REQUEST_TIMEOUT');
    }
  }

  // Keep only what is offered; flags2 needs INIT_EXT echoed back.
  const granted: InitFlagName[] = [];
  for (const name of wanted) {
    if (isOffered(name)) granted.push(name);
    else if (name !== 'FUSE_BIG_WRITES' && name !== 'FUSE_MAX_PAGES') {
      warnings.push(`${name} not offered by the kernel; dropped`);
    }
  }
  if (initExt && !granted.includes('FUSE_INIT_EXT')) granted.push('FUSE_INIT_EXT');
  const words = encodeInitFlags(granted);
  const grantedSet = new Set(granted);

  const maxReadahead = Math.min(want.maxReadahead ?? offer.maxReadahead, offer.maxReadahead) >>> 0;
  const timeGran = want.timeGran ?? 1;
  if (!(Number.isInteger(timeGran) && timeGran >= 1 && timeGran <= 1e9)) {
    warnings.push(`time_gran ${timeGran} outside 1..1e9; the kernel ignores it`);
  }
  const maxPages = grantedSet.has('FUSE_MAX_PAGES') ? Math.min(FUSE_MAX_MAX_PAGES, maxPagesSent) : FUSE_DEFAULT_MAX_PAGES_PER_REQ;
  if (grantedSet.has('FUSE_MAX_PAGES') && maxPagesSent > FUSE_MAX_MAX_PAGES) {
    warnings.push(`max_pages ${maxPagesSent} will be clamped by the kernel to ${FUSE_MAX_MAX_PAGES}`);
  }
  const maxWrite = kernelMinor < 5 ? PAGE_SIZE : Math.max(PAGE_SIZE, maxWriteWanted >>> 0);
  if (maxWrite > maxPages * PAGE_SIZE) {
    warnings.push(`max_write ${maxWrite} exceeds max_pages ${maxPages} x 4 KiB; WRITEs will carry at most ${maxPages * PAGE_SIZE} bytes`);
  }

  const initOut: InitOut = {
    major: FUSE_KERNEL_VERSION,
    minor,
    maxReadahead,
    flags: words.flags,
    flags2: words.flags2,
    maxBackground: u16(want.maxBackground ?? 0),
    congestionThreshold: u16(want.congestionThreshold ?? 0),
    maxWrite: maxWriteWanted >>> 0,
    timeGran: timeGran >>> 0,
    maxPages: grantedSet.has('FUSE_MAX_PAGES') ? maxPagesSent : 0,
    mapAlignment: grantedSet.has('FUSE_MAP_ALIGNMENT') ? u16(want.mapAlignment ?? 0) : 0,
    maxStackDepth,
    requestTimeout,
  };
  const flagNames = decodeInitFlags(words.flags, words.flags2) as InitFlagName[];
  return {
    status: 'ok',
    reply: encodeInitReply(unique, initOut, kernelMinor),
    initOut,
    negotiated: {
      major: FUSE_KERNEL_VERSION,
      minor,
      kernelMinor,
      flags: flagNames,
      flagWords: words,
      offered: decodeInitFlags(offered.flags, offered.flags2),
      passthrough,
      maxStackDepth,
      writebackCache: grantedSet.has('FUSE_WRITEBACK_CACHE'),
      maxWrite,
      maxPages,
      maxReadahead,
      maxBackground: initOut.maxBackground,
      congestionThreshold: initOut.congestionThreshold,
      timeGran: initOut.timeGran,
      requestTimeout,
      decodeContext: { minor, setxattrExt: grantedSet.has('FUSE_SETXATTR_EXT') },
    },
    warnings,
  };
}
