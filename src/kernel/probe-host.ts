// Facts the probe reads from the host without touching FUSE: kernel release, /dev/fuse,
// capabilities, fusermount3, kernel config and fuse module parameters, and the filesystem under a
// backing directory. Everything here is a hint or context; the verdicts come from the live check
// (probe-live.ts).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { openDevice } from './device';
import { errnoCodeOf } from './errors';

/** A value and the way it was found, as the probe reports every fact. */
export interface Found<T> {
  value: T;
  how: string;
}

const CAP_SYS_ADMIN = 21; // include/uapi/linux/capability.h

export function kernelRelease(): Found<string> {
  return { value: os.release(), how: 'uname(2) release' };
}

/** [major, minor] of a release string such as "6.18.44-fc-v669". */
export function kernelVersion(release: string): [number, number] | null {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

export function atLeast(release: string, major: number, minor: number): boolean {
  const v = kernelVersion(release);
  return v !== null && (v[0] > major || (v[0] === major && v[1] >= minor));
}

export interface DevFuse {
  exists: boolean;
  openable: boolean;
  /** Errno name of the failed stat or open, else null. */
  errno: string | null;
}

export function devFuse(devicePath = '/dev/fuse'): Found<DevFuse> {
  let st: fs.Stats;
  try {
    st = fs.statSync(devicePath);
  } catch (err) {
    const errno = codeOf(err);
    return { value: { exists: false, openable: false, errno }, how: `stat ${devicePath}: ${errno}` };
  }
  const kind = st.isCharacterDevice() ? 'character device' : 'not a character device';
  try {
    fs.closeSync(openDevice(devicePath));
    return { value: { exists: true, openable: true, errno: null }, how: `stat (${kind}), open(O_RDWR) succeeded` };
  } catch (err) {
    const errno = codeOf(err);
    return { value: { exists: true, openable: false, errno }, how: `stat (${kind}), open(O_RDWR): ${errno}` };
  }
}

export interface Privilege {
  euid: number;
  capSysAdmin: boolean;
  /** uid_map covers all ids: this process is in the initial user namespace. */
  initialUserNs: boolean;
}

export function privilege(): Found<Privilege> {
  const status = readText('/proc/self/status') ?? '';
  const capEff = /^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1];
  const capSysAdmin = capEff !== undefined && ((BigInt('0x' + capEff) >> BigInt(CAP_SYS_ADMIN)) & 1n) === 1n;
  // The initial namespace maps the whole 32-bit id range onto itself; a child namespace cannot.
  const uidMap = (readText('/proc/self/uid_map') ?? '').trim().split(/\s+/);
  const initialUserNs = uidMap.length === 3 && uidMap[0] === '0' && uidMap[1] === '0' && uidMap[2] === '4294967295';
  const euid = process.geteuid?.() ?? -1;
  return {
    value: { euid, capSysAdmin, initialUserNs },
    how: `/proc/self/status CapEff=${capEff ?? '?'} (bit ${CAP_SYS_ADMIN} CAP_SYS_ADMIN), /proc/self/uid_map "${uidMap.join(' ')}"`,
  };
}

export interface Fusermount3 {
  path: string | null;
  /** Installed setuid root, as it must be for a non-root user to mount through it. */
  setuidRoot: boolean;
}

export function fusermount3(): Found<Fusermount3> {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/bin', '/bin', '/usr/local/bin'];
  for (const dir of new Set(dirs)) {
    const candidate = path.join(dir, 'fusermount3');
    try {
      const st = fs.statSync(candidate);
      if (!st.isFile()) continue;
      const setuidRoot = st.uid === 0 && (st.mode & 0o4000) !== 0 // S_ISUID;
      return { value: { path: candidate, setuidRoot }, how: `found ${candidate}${setuidRoot ? ' (setuid root)' : ' (not setuid root)'}` };
    } catch {
      // not in this directory
    }
  }
  return { value: { path: null, setuidRoot: false }, how: 'not found in PATH, /usr/bin, /bin, /usr/local/bin' };
}

/** 'y', 'm', 'n' (is not set), or null when the option is absent from the config. */
export type ConfigValue = 'y' | 'm' | 'n' | null;

export interface KernelConfig {
  source: string | null;
  FUSE_FS: ConfigValue;
  FUSE_PASSTHROUGH: ConfigValue;
  FUSE_IO_URING: ConfigValue;
}

export function kernelConfig(release: string): Found<KernelConfig> {
  const candidates = ['/proc/config.gz', `/boot/config-${release}`];
  for (const source of candidates) {
    let text: string;
    try {
      const raw = fs.readFileSync(source);
      text = source.endsWith('.gz') ? zlib.gunzipSync(raw).toString('latin1') : raw.toString('latin1');
    } catch {
      continue;
    }
    const option = (name: string): ConfigValue => {
      const m = new RegExp(`^(?:CONFIG_${name}=([ym])|# CONFIG_${name} is not set)$`, 'm').exec(text);
      return m === null ? null : ((m[1] as 'y' | 'm' | undefined) ?? 'n');
    };
    return {
      value: { source, FUSE_FS: option('FUSE_FS'), FUSE_PASSTHROUGH: option('FUSE_PASSTHROUGH'), FUSE_IO_URING: option('FUSE_IO_URING') },
      how: `read ${source}`,
    };
  }
  return {
    value: { source: null, FUSE_FS: null, FUSE_PASSTHROUGH: null, FUSE_IO_URING: null },
    how: `no kernel config at ${candidates.join(' or ')}`,
  };
}

/** A boolean fuse module parameter ('Y'/'N'), or null when the kernel has no such parameter. */
export function fuseModuleParameter(name: string): Found<boolean | null> {
  const file = `/sys/module/fuse/parameters/${name}`;
  const text = readText(file)?.trim();
  if (text === undefined) return { value: null, how: `${file} absent` };
  return { value: text === 'Y' || text === '1', how: `${file} = ${text}` };
}

export interface MountOf {
  mountPoint: string;
  fsType: string;
}

/** The mount that holds `dir`, from /proc/self/mountinfo (longest mount point that prefixes it). */
export function mountOf(dir: string): MountOf | null {
  const info = readText('/proc/self/mountinfo');
  if (info === undefined) return null;
  let best: MountOf | null = null;
  for (const line of info.split('\n')) {
    const [left, right] = line.split(' - ');
    if (right === undefined) continue;
    const mountPoint = unescapeMountinfo(left.split(' ')[4] ?? '');
    const fsType = right.split(' ')[0];
    const within = dir === mountPoint || mountPoint === '/' || dir.startsWith(mountPoint + '/');
    // Later lines win on equal length: a mount stacked on the same point hides the earlier one.
    if (within && (best === null || mountPoint.length >= best.mountPoint.length)) best = { mountPoint, fsType };
  }
  return best;
}

/**
 * The stack depth the kernel most likely gives a filesystem type: overlayfs and ecryptfs sit on
 * another filesystem (depth ≥ 1); a FUSE mount has depth 0 unless its server negotiated
 * passthrough, when it takes its max_stack_depth; anything else is 0. Null when it cannot be told.
 */
export function guessStackDepth(fsType: string): number | null {
  if (fsType === 'overlay' || fsType === 'ecryptfs') return 1;
  if (fsType === 'fuse' || fsType.startsWith('fuse.')) return null;
  return 0;
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The errno name of a thrown error, else its text. */
export function codeOf(err: unknown): string {
  return errnoCodeOf(err) ?? String((err as Error)?.message ?? err);
}
