// What this kernel and this process allow a FUSE server: protocol, INIT flags, and above all
// whether passthrough works. Host files (/proc/config.gz, module parameters, capabilities) are
// read for context and advice, but every verdict comes from the live check in probe-live.ts: a
// throw-away mount whose INIT offer is read and answered, and a real BACKING_OPEN/CLOSE.
// The JSON form is documented in docs/probe.md; change it only compatibly.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { decodeInitFlags, hasInitFlag } from '../protocol/init-flags';
import {
  atLeast,
  codeOf,
  devFuse,
  fuseModuleParameter,
  fusermount3,
  guessStackDepth,
  kernelConfig,
  kernelRelease,
  mountOf,
  privilege,
  type ConfigValue,
  type DevFuse,
  type Found,
  type Fusermount3,
  type KernelConfig,
  type MountOf,
  type Privilege,
} from './probe-host';
import { KERNEL_MAX_STACK_DEPTH, liveProbe, type BackingAttempt, type InitOffer, type LiveReport } from './probe-live';

export interface ProbeOptions {
  /** A backing directory whose stack depth to measure (`tsfuse probe --backing DIR`). */
  backing?: string;
  /** Where the throw-away mount point is created; default os.tmpdir(). */
  tmpDir?: string;
  /** Called while the first throw-away mount exists, in this process only (tests interrupt here). */
  onMounted?: (mountpoint: string) => void;
}

export interface PassthroughReport {
  /** FUSE_PASSTHROUGH was in the kernel's INIT offer. */
  offered: boolean;
  /** BACKING_OPEN on a temporary file (and on one in --backing DIR, if given) returned an id. */
  usable: boolean;
  /** Errno name BACKING_OPEN failed with, or null (success, or no attempt was possible). */
  errno: string | null;
  reason: string;
  /** What to do about it; null when usable. */
  advice: string | null;
  /** The max_stack_depth a server must declare in its INIT reply; null when unusable. */
  maxStackDepth: number | null;
  /** Every BACKING_OPEN attempt on the temporary file, in order. */
  attempts: BackingAttempt[];
}

export interface BackingDirDepth {
  path: string;
  /** Filesystem type and mount point of the directory, from /proc/self/mountinfo. */
  fsType: string | null;
  mountPoint: string | null;
  /** The backing filesystem's own stack depth (0 plain, 1 overlayfs …); null if unknown. */
  depth: number | null;
  /** Depth measured by BACKING_OPEN ('live') or guessed from fsType ('fsType'). */
  source: 'live' | 'fsType' | null;
  /** The max_stack_depth a server passing through to files here must declare; null: impossible/unknown. */
  maxStackDepth: number | null;
  /** How the test file was obtained ('O_TMPFILE', 'existing file NAME (O_PATH)'), or null. */
  file: string | null;
  attempts: BackingAttempt[];
}

export interface ProbeResult {
  /** Bumped only on incompatible changes of this format. */
  schema: 1;
  kernel: string;
  devFuse: DevFuse;
  /** This process mounted the throw-away filesystem (root / CAP_SYS_ADMIN). */
  canMount: boolean;
  /** fusermount3 is installed (the non-root mount route). */
  fusermount3: boolean;
  fusermount3Path: string | null;
  capSysAdmin: boolean;
  initialUserNs: boolean;
  /** Where the INIT offer was read: our own mount, a mount in a new user namespace, or nowhere. */
  liveRoute: 'mount' | 'userns' | null;
  /** "7.45" as offered by the kernel; null when no INIT offer could be read. */
  protocol: string | null;
  /** Every flag of the INIT offer by name, both words (FUSE_ASYNC_READ … FUSE_REQUEST_TIMEOUT). */
  flags: string[];
  /** The two raw words, hex. */
  flagWords: { flags: string; flags2: string } | null;
  maxReadahead: number | null;
  passthrough: PassthroughReport;
  /**
   * FUSE over io_uring: offered in INIT; usable: the kernel took a ring entry on every queue of a
   * throw-away mount (null: not offered, or no mount could be made); errno: why not.
   */
  ioUring: { offered: boolean; enableUring: boolean; configured: ConfigValue; usable: boolean | null; errno: string | null };
  stackDepth: { kernelMax: number; backing: BackingDirDepth | null };
  config: KernelConfig;
  /** How each fact was found, keyed like the fields above. */
  how: Record<string, string>;
  /** Why the probe could not reach a verdict (exit 2), else null. */
  error: string | null;
  durationMs: number;
}

export interface PassthroughVerdict {
  usable: boolean;
  reason: string;
  advice: string | null;
  /** Declare this max_stack_depth in INIT when usable. */
  maxStackDepth: number | null;
}

/** The passthrough decision `tsfuse mount` and the session fallback share. */
export function passthroughVerdict(probe: ProbeResult): PassthroughVerdict {
  const { usable, reason, advice, maxStackDepth } = probe.passthrough;
  return { usable, reason, advice, maxStackDepth };
}

/** 0 passthrough usable, 1 not usable, 2 the probe could not decide. */
export function probeExitCode(probe: ProbeResult): 0 | 1 | 2 {
  if (probe.passthrough.usable) return 0;
  return probe.error === null ? 1 : 2;
}

/** One line: "passthrough: available" or "passthrough: unavailable — reason, advice". */
export function verdictLine(probe: ProbeResult): string {
  const p = probe.passthrough;
  if (p.usable) return `passthrough: available${p.maxStackDepth !== null && p.maxStackDepth > 1 ? ` with max_stack_depth ${p.maxStackDepth}` : ''}`;
  if (probe.error !== null) return `passthrough: unknown — the probe could not run: ${probe.error}`;
  return `passthrough: unavailable — ${p.reason}${p.advice === null ? '' : `, ${p.advice}`}`;
}

/**
 * Why BACKING_OPEN failed, in words, with what to do. Shared with the session, which meets the
 * same errnos when it registers a backing file at run time.
 */
export function explainBackingErrno(
  errno: string,
  context: { release?: string; capSysAdmin?: boolean; initialUserNs?: boolean } = {},
): { reason: string; advice: string } {
  switch (errno) {
    case 'EPERM':
      if (context.capSysAdmin === false || context.initialUserNs === false) {
        return {
          reason: 'EPERM: BACKING_OPEN needs CAP_SYS_ADMIN in the initial user namespace',
          // No "meanwhile" here: with --passthrough require nothing goes through the server.
          advice: 'run the server as root outside user namespaces',
        };
      }
      return {
        reason: 'EPERM: passthrough was not negotiated on this connection',
        advice: 'reply to INIT with FUSE_INIT_EXT|FUSE_PASSTHROUGH, max_stack_depth 1 or 2 and without FUSE_WRITEBACK_CACHE',
      };
    case 'ENOTTY':
      return {
        reason: `ENOTTY: kernel${context.release ? ` ${context.release}` : ''} is older than 6.9 and has no FUSE_DEV_IOC_BACKING_OPEN`,
        advice: 'use Linux 6.9 or later',
      };
    case 'EOPNOTSUPP':
      return {
        reason: 'EOPNOTSUPP: the kernel was built without CONFIG_FUSE_PASSTHROUGH',
        advice: 'use a kernel with CONFIG_FUSE_PASSTHROUGH=y',
      };
    case 'ELOOP':
      return {
        reason: `ELOOP: the backing filesystem is stacked too deep (FUSE allows max_stack_depth ${KERNEL_MAX_STACK_DEPTH})`,
        advice: 'keep the backing directory on a plain filesystem or a single overlayfs',
      };
    default:
      return { reason: `BACKING_OPEN failed with ${errno}`, advice: 'report this with the output of tsfuse probe --json' };
  }
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs `fn` with SIGINT/SIGTERM/SIGHUP held back, then re-raises the first one that came: the
 * throw-away mount and its directory are gone before the signal's default action (or the
 * program's own handler) runs.
 */
async function withSignalsDeferred<T>(fn: () => T): Promise<T> {
  let caught: NodeJS.Signals | null = null;
  const hold = (signal: NodeJS.Signals): void => {
    caught ??= signal;
  };
  for (const s of SIGNALS) process.on(s, hold);
  try {
    return fn();
  } finally {
    // fn is synchronous, so a signal that came meanwhile still waits in libuv's signal pipe.
    await signalDeliveryTurns();
    for (const s of SIGNALS) process.off(s, hold);
    if (caught !== null) {
      process.kill(process.pid, caught);
      // Without listeners that was fatal at once; with some, let them run before we go on.
      await signalDeliveryTurns();
    }
  }
}

/**
 * libuv reads its signal pipe in the poll phase: two setImmediate turns always straddle a poll
 * phase, whichever phase we are in now (one was not enough when run under an --import loader).
 */
async function signalDeliveryTurns(): Promise<void> {
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
}

export async function probeKernel(options: ProbeOptions = {}): Promise<ProbeResult> {
  const started = performance.now();
  const result = await withSignalsDeferred(() => interpretProbe(gatherFacts(options)));
  result.durationMs = Math.round(performance.now() - started);
  return result;
}

/** Everything the probe found, before it is interpreted. */
export interface ProbeFacts {
  release: Found<string>;
  devFuse: Found<DevFuse>;
  privilege: Found<Privilege>;
  fusermount3: Found<Fusermount3>;
  config: Found<KernelConfig>;
  enableUring: Found<boolean | null>;
  /** --backing, absolute, and the mount that holds it. */
  backing: { path: string; mount: MountOf | null } | null;
  /** The live check that got furthest, and where it ran. */
  live: LiveReport | null;
  liveRoute: 'mount' | 'userns' | null;
  /** Why this process could not mount, and why the user-namespace route failed, when they did. */
  mountError: string | null;
  usernsError: string | null;
}

/** The I/O half of the probe: host files, then the live check in this process or a user namespace. */
export function gatherFacts(options: ProbeOptions = {}): ProbeFacts {
  const release = kernelRelease();
  const backingPath = options.backing === undefined ? undefined : path.resolve(options.backing);
  const facts: ProbeFacts = {
    release,
    devFuse: devFuse(),
    privilege: privilege(),
    fusermount3: fusermount3(),
    config: kernelConfig(release.value),
    enableUring: fuseModuleParameter('enable_uring'),
    backing: backingPath === undefined ? null : { path: backingPath, mount: mountOf(realpathOr(backingPath)) },
    live: null,
    liveRoute: null,
    mountError: null,
    usernsError: null,
  };
  if (!facts.devFuse.value.openable) return facts;

  const mountpoint = fs.mkdtempSync(path.join(options.tmpDir ?? os.tmpdir(), 'tsfuse-probe-'));
  try {
    const live = liveProbe({ mountpoint, backingDir: backingPath, onMounted: options.onMounted });
    facts.live = live;
    if (live.mounted) {
      facts.liveRoute = 'mount';
      return facts;
    }
    facts.mountError = live.mountError;
    const inNs = liveProbeInUserNamespace(mountpoint, backingPath);
    if ('error' in inNs) facts.usernsError = inNs.error;
    else if (!inNs.report.mounted) facts.usernsError = `in a new user namespace: ${inNs.report.mountError}`;
    else {
      facts.live = inNs.report;
      facts.liveRoute = 'userns';
    }
    return facts;
  } finally {
    removeMountpoint(mountpoint);
  }
}

/** The pure half: facts -> the reported result and verdicts. Tests feed it made-up kernels. */
export function interpretProbe(facts: ProbeFacts): ProbeResult {
  const { live, liveRoute } = facts;
  const priv = facts.privilege.value;
  const offer = live?.mounted ? live.offer : null;
  const how: Record<string, string> = {
    kernel: facts.release.how,
    devFuse: facts.devFuse.how,
    privilege: facts.privilege.how,
    fusermount3: facts.fusermount3.how,
    config: facts.config.how,
  };
  how.canMount = liveRoute === 'mount'
    ? 'mounted fuse.tsfuse-probe on a temporary directory with mount(8) -i'
    : facts.devFuse.value.openable ? facts.mountError ?? 'mount failed' : 'not attempted: /dev/fuse cannot be opened';
  if (facts.usernsError !== null) how.userns = facts.usernsError;

  const source = liveRoute === 'userns'
    ? 'the INIT request of a throw-away mount in a new user and mount namespace (unshare -Urm), as this process may not mount'
    : 'the INIT request of a throw-away mount';
  const noOffer = 'unknown: no throw-away mount could be made';
  how.protocol = offer ? `major.minor of ${source}` : noOffer;
  how.flags = offer ? 'flags and flags2 of the same INIT request' : noOffer;
  how.maxReadahead = offer ? 'max_readahead of the same INIT request' : noOffer;
  const ring = live?.mounted ? live.ring : null;
  how.ioUring = `${offer ? 'FUSE_OVER_IO_URING in the INIT offer' : noOffer}; ${facts.enableUring.how}` +
    (ring === null ? '' : `; ${ring.step} of one ring entry per queue ${ring.errno === null ? 'accepted' : `failed: ${ring.errno}`}`);

  const passthrough = decidePassthrough(facts, offer);
  how.passthrough = passthrough.how;
  const backing = facts.backing === null ? null : backingDirDepth(facts.backing, live);
  how.stackDepth = `kernel limit FILESYSTEM_MAX_STACK_DEPTH = ${KERNEL_MAX_STACK_DEPTH}` + (backing === null ? '' : `; ${backingHow(backing)}`);

  let error = live?.error ?? null;
  if (passthrough.undecided && error === null) error = passthrough.report.reason;

  return {
    schema: 1,
    kernel: facts.release.value,
    devFuse: facts.devFuse.value,
    canMount: liveRoute === 'mount',
    fusermount3: facts.fusermount3.value.path !== null,
    fusermount3Path: facts.fusermount3.value.path,
    capSysAdmin: priv.capSysAdmin,
    initialUserNs: priv.initialUserNs,
    liveRoute,
    protocol: offer ? `${offer.major}.${offer.minor}` : null,
    flags: offer ? decodeInitFlags(offer.flags, offer.flags2) : [],
    flagWords: offer ? { flags: hex(offer.flags), flags2: hex(offer.flags2) } : null,
    maxReadahead: offer ? offer.maxReadahead : null,
    passthrough: passthrough.report,
    ioUring: {
      offered: offer !== null && hasInitFlag(offer, 'FUSE_OVER_IO_URING'),
      enableUring: facts.enableUring.value === true,
      configured: facts.config.value.FUSE_IO_URING,
      usable: ring === null ? null : ring.errno === null,
      errno: ring?.errno ?? null,
    },
    stackDepth: { kernelMax: KERNEL_MAX_STACK_DEPTH, backing },
    config: facts.config.value,
    how,
    error,
    durationMs: 0,
  };
}

function hex(n: number): string {
  return '0x' + n.toString(16);
}

function describeAttempts(attempts: BackingAttempt[]): string {
  return attempts
    .map((a) => `max_stack_depth ${a.maxStackDepth}: ${a.errno ?? `id ${a.id}, BACKING_CLOSE ${a.closeErrno ?? '0'}`}`)
    .join(', then ');
}

function decidePassthrough(facts: ProbeFacts, offer: InitOffer | null): { report: PassthroughReport; how: string; undecided: boolean } {
  const { live, liveRoute } = facts;
  const release = facts.release.value;
  const dev = facts.devFuse.value;
  const priv = facts.privilege.value;
  const attempts = live?.backing ?? [];
  const offered = offer !== null && hasInitFlag(offer, 'FUSE_PASSTHROUGH');
  // What BACKING_OPEN's capability check saw: a child in a new user namespace has no
  // capability in the initial one, whatever this process has.
  const context = { release, capSysAdmin: priv.capSysAdmin, initialUserNs: priv.initialUserNs && liveRoute !== 'userns' };
  const verdict = (usable: boolean, reason: string, advice: string | null, how: string, extra: Partial<PassthroughReport> = {}, undecided = false) => ({
    report: { offered, usable, errno: null, reason, advice, maxStackDepth: null, attempts, ...extra },
    how,
    undecided,
  });

  if (!dev.exists) {
    return verdict(false, '/dev/fuse does not exist', 'load the fuse module (modprobe fuse) or pass /dev/fuse into the container', facts.devFuse.how);
  }
  if (!dev.openable) return verdict(false, `/dev/fuse cannot be opened (${dev.errno})`, 'run as root', facts.devFuse.how);
  if (offer === null) {
    if (!priv.capSysAdmin || !priv.initialUserNs) {
      const e = explainBackingErrno('EPERM', context);
      return verdict(false, e.reason, e.advice, `inferred from ${facts.privilege.how}: no live check was possible (${facts.usernsError ?? 'mount refused'})`);
    }
    return verdict(false, `no throw-away mount could be made: ${facts.mountError ?? 'mount failed'}`, null, 'live check', {}, true);
  }
  if (liveRoute === 'userns' && priv.capSysAdmin && priv.initialUserNs) {
    // Only the user-namespace route worked although this process is privileged: its EPERM
    // would say nothing about what this process can do.
    return verdict(false, `this process has CAP_SYS_ADMIN but could not mount: ${facts.mountError}`, null, 'live check', {}, true);
  }
  if (!offered) {
    const how = `FUSE_PASSTHROUGH absent from ${offerSource(liveRoute)}`;
    if (!atLeast(release, 6, 9)) return verdict(false, `kernel ${release} predates FUSE passthrough (6.9)`, 'use Linux 6.9 or later', how);
    const e = explainBackingErrno('EOPNOTSUPP', context);
    const reason = facts.config.value.FUSE_PASSTHROUGH === 'n' ? e.reason.replace(/^EOPNOTSUPP: /, '') : 'the kernel does not offer FUSE_PASSTHROUGH in INIT';
    return verdict(false, reason, e.advice, how);
  }
  const last = attempts.at(-1);
  if (last === undefined) return verdict(false, 'no temporary file to try BACKING_OPEN on', null, 'live check', {}, true);

  const how = `BACKING_OPEN on a temporary file at ${describeAttempts(attempts)}`;
  if (last.errno !== null) {
    const e = explainBackingErrno(last.errno, context);
    const known = ['EPERM', 'ENOTTY', 'EOPNOTSUPP', 'ELOOP'].includes(last.errno);
    return verdict(false, e.reason, e.advice, how, { errno: last.errno }, !known);
  }

  // Usable on a temporary file; the files under --backing may need depth 2, or rule it out.
  let maxStackDepth = last.maxStackDepth;
  const dir = live?.backingDir;
  const dirLast = dir?.attempts.at(-1);
  if (dir && dirLast) {
    const dirHow = `${how}; on a file in ${dir.path} at ${describeAttempts(dir.attempts)}`;
    if (dirLast.errno !== null) {
      const e = explainBackingErrno(dirLast.errno, context);
      return verdict(false, `${e.reason} (${dir.path})`, e.advice, dirHow, { errno: dirLast.errno });
    }
    maxStackDepth = Math.max(maxStackDepth, dirLast.maxStackDepth);
    const reason = maxStackDepth > 1 ? `BACKING_OPEN works with max_stack_depth ${maxStackDepth}` : 'BACKING_OPEN works';
    return verdict(true, reason, null, dirHow, { maxStackDepth });
  }
  return verdict(true, 'BACKING_OPEN works', null, how, { maxStackDepth });
}

function offerSource(route: ProbeFacts['liveRoute']): string {
  return route === 'userns' ? 'the INIT offer (read in a new user namespace)' : 'the INIT offer';
}

function backingDirDepth(backing: { path: string; mount: MountOf | null }, live: LiveReport | null): BackingDirDepth {
  const report = live?.backingDir ?? null;
  const attempts = report?.attempts ?? [];
  const ok = attempts.find((a) => a.errno === null);
  const last = attempts.at(-1);
  let depth: number | null = null;
  let source: BackingDirDepth['source'] = null;
  if (ok !== undefined) {
    // BACKING_OPEN refuses (ELOOP) a file whose filesystem depth is >= the declared max_stack_depth.
    depth = ok.maxStackDepth - 1;
    source = 'live';
  } else if (last?.errno === 'ELOOP' && last.maxStackDepth === KERNEL_MAX_STACK_DEPTH) {
    depth = KERNEL_MAX_STACK_DEPTH;
    source = 'live';
  } else if (backing.mount !== null) {
    depth = guessStackDepth(backing.mount.fsType);
    source = depth === null ? null : 'fsType';
  }
  return {
    path: backing.path,
    fsType: backing.mount?.fsType ?? null,
    mountPoint: backing.mount?.mountPoint ?? null,
    depth,
    source,
    maxStackDepth: depth === null || depth >= KERNEL_MAX_STACK_DEPTH ? null : depth + 1,
    file: report?.file ?? null,
    attempts,
  };
}

function backingHow(b: BackingDirDepth): string {
  const where = b.mountPoint === null ? '' : ` (${b.fsType} on ${b.mountPoint}, /proc/self/mountinfo)`;
  if (b.source === 'live') return `BACKING_OPEN on ${b.file} in ${b.path} at ${describeAttempts(b.attempts)}${where}`;
  if (b.source === 'fsType') return `guessed from the filesystem type${where}: no live BACKING_OPEN${b.attempts.length ? ` (${b.attempts.at(-1)!.errno})` : ''}`;
  return `unknown${where}`;
}

function realpathOr(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

/**
 * Runs the live check in a child inside new user and mount namespaces, where an unprivileged
 * process may mount FUSE. The mount lives and dies with that namespace, so even a killed child
 * leaves nothing mounted. /dev/fuse must be opened inside the namespace: the kernel refuses a
 * device fd opened in another user namespace (fuse_fill_super).
 */
function liveProbeInUserNamespace(mountpoint: string, backing: string | undefined): { report: LiveReport } | { error: string } {
  const child = path.join(__dirname, `probe-child${path.extname(__filename)}`);
  // Keep loaders (tests run TypeScript through one), not a debugger port the child would fight over.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--inspect'));
  const r = spawnSync(
    'unshare',
    ['--user', '--map-root-user', '--mount', '--', process.execPath, ...execArgv, child, mountpoint, ...(backing === undefined ? [] : [backing])],
    { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 10_000 },
  );
  if (r.error !== undefined) return { error: `unshare: ${codeOf(r.error)}` };
  if (r.status !== 0) return { error: `unshare -Urm: ${r.stderr.trim().split('\n')[0] || `exit ${r.status ?? r.signal}`}` };
  try {
    return { report: JSON.parse(r.stdout) as LiveReport };
  } catch {
    return { error: `probe child printed no report: ${r.stderr.trim().split('\n')[0] ?? ''}` };
  }
}

function removeMountpoint(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch (err) {
    // A lazily detached mount is gone from the namespace at once, so EBUSY means the mount was
    // never detached: detach it now rather than leave the directory behind.
    if (codeOf(err) !== 'EBUSY') throw err;
    spawnSync('umount', ['-l', dir], { stdio: 'ignore', timeout: 5000 });
    fs.rmdirSync(dir);
  }
}
