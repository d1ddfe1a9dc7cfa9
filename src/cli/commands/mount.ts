import * as fs from 'node:fs';
import * as path from 'node:path';
import { defineCommand, type RunArgs } from '../command';
import { daemonize, ReadinessPipe } from '../daemon';
import { CliError } from '../errors';
import { checkParentDirectory, statDirectory } from '../paths';
import { Logger } from '../log';
import type { Filesystem, ThreadedFilesystem } from '../../fs/api';
import { Loopback, threadedLoopback, type LoopbackOptions } from '../../fs/loopback';
import { mount, type MountHandle, type MountOptions } from '../../fs/mount';
import { MAX_THREADS } from '../../fs/threads';
import { connectionId } from '../../kernel/device';
import { PassthroughUnavailableError } from '../../kernel/backing';
import { MountError } from '../../kernel/errors';
import type { SessionStats } from '../../kernel/session';
import { REQUEST_TIMEOUT_MAX } from '../../protocol/init';
import { handedFd } from '../../kernel/handed-fd';
import {
  MOUNT_NAME,
  MOUNT_OPTION_NAMES,
  IO_URING_MODES,
  PASSTHROUGH_MODES,
  option,
  parseBoolean,
  parseFd,
  parseIoUring,
  parseMountOptions,
  parsePassthrough,
  parsePath,
  parsePosixLocks,
  parseSeconds,
  parseStackDepth,
  parseThreads,
  parseWholeNumber,
  type FuseMountOptions,
  type IoUringOption,
  type PassthroughMode,
} from '../options';

export const mountOptions = {
  options: option({
    describe: `FUSE mount options, comma-separated: ${MOUNT_OPTION_NAMES.join(', ')}`,
    cli: 'string',
    alias: 'o',
    placeholder: 'OPT[,OPT…]',
    repeatable: true,
    default: { allowOther: false, defaultPermissions: false, readOnly: false } as FuseMountOptions,
    defaultDescription: 'rw,fsname=SRC,subtype=tsfuse',
    parse: parseMountOptions,
  }),
  attrTimeout: option({
    describe: 'Seconds the kernel may cache attributes',
    cli: 'number',
    placeholder: 'SECONDS',
    default: 1,
    parse: parseSeconds,
  }),
  entryTimeout: option({
    describe: 'Seconds the kernel may cache name lookups',
    cli: 'number',
    placeholder: 'SECONDS',
    default: 1,
    parse: parseSeconds,
  }),
  negativeTimeout: option({
    describe: 'Seconds the kernel may cache that a name does not exist (0: not cached)',
    cli: 'number',
    placeholder: 'SECONDS',
    default: 0,
    parse: parseSeconds,
  }),
  requestTimeout: option({
    describe:
      'Seconds a request may go unanswered before the kernel aborts the connection, so that a hung server fails ' +
      'its callers (ECONNABORTED) instead of blocking them; checked about every 15 s. 0: never. Linux 6.14+',
    cli: 'number',
    placeholder: 'SECONDS',
    default: 0,
    parse: (value: unknown) => parseWholeNumber(value, 0, REQUEST_TIMEOUT_MAX),
  }),
  ioUring: option({
    describe:
      'Take requests through io_uring rings, one queue per CPU (Linux 6.14+, with the fuse module\'s enable_uring on): ' +
      `${IO_URING_MODES.join('|')}; on: where the kernel does not offer it, serve over /dev/fuse and say why; ` +
      'require: fail instead. Alone: on',
    cli: 'string',
    placeholder: 'MODE',
    bareValue: 'on',
    default: 'off',
    parse: parseIoUring,
  }),
  passthrough: option({
    describe:
      `FUSE passthrough (the kernel reads and writes SRC's files itself): ${PASSTHROUGH_MODES.join('|')}; ` +
      'ro/wo: only read-only/write-only opens; require: rw, and fail if the kernel refuses it. Alone: rw',
    cli: 'string',
    placeholder: 'MODE',
    bareValue: 'rw',
    default: 'off',
    parse: parsePassthrough,
  }),
  maxStackDepth: option({
    describe: 'With passthrough: 1, or 2 to let SRC be on overlayfs or another FUSE mount (nothing can then stack on this one)',
    cli: 'number',
    placeholder: '1|2',
    default: 1,
    parse: parseStackDepth,
  }),
  posixLocks: option({
    describe:
      'Who keeps fcntl (POSIX) locks: server (on SRC\'s files, seen by processes using SRC too; each close(2) ' +
      'then waits for a FLUSH round trip) or kernel (for this mount only, as libfuse\'s passthrough_hp; no FLUSH)',
    cli: 'string',
    placeholder: 'server|kernel',
    default: undefined,
    defaultDescription: 'kernel with --passthrough or --threads above 1, else server',
    parse: parsePosixLocks,
  }),
  autoUnmount: option({
    describe:
      'When this server dies, even by SIGKILL, the mount goes away instead of failing with "transport endpoint is not ' +
      'connected" until unmounted (a watchdog process per mount; also -o auto_unmount). --auto-unmount=false: off',
    cli: 'boolean',
    default: undefined as boolean | undefined,
    defaultDescription: 'true',
    parse: parseBoolean,
  }),
  threads: option({
    describe:
      'Threads serving requests, each reading its own clone of the FUSE connection. Above 1: POSIX locks are ' +
      'kept by the kernel, and the open-file limit bounds the files the kernel may know at once (each holds an fd)',
    cli: 'number',
    placeholder: 'N',
    // One, although on a quiet 2-core machine two served one client 1.2-1.5x faster (bench/README,
    // "Concurrent clients against passthrough_hp"): the threaded loopback holds an fd per known
    // inode and leaves POSIX locks to the kernel, and on a loaded machine two threads cost more
    // CPU per request (src/fs/threads.ts). Those are for the operator to choose.
    default: 1,
    parse: (value: unknown) => parseThreads(value, MAX_THREADS),
  }),
  debug: option({
    describe: 'Log one decoded line per request and per reply',
    cli: 'boolean',
    default: false,
    parse: parseBoolean,
  }),
  statsFile: option({
    describe: 'On exit, write the request count per opcode here as JSON',
    cli: 'string',
    placeholder: 'PATH',
    default: undefined,
    parse: parsePath,
  }),
  daemon: option({
    describe: 'Run in the background; return once the mount is ready',
    cli: 'boolean',
    default: false,
    parse: parseBoolean,
  }),
  logFile: option({
    describe: 'Append log lines here instead of stdout/stderr (the daemon otherwise discards them)',
    cli: 'string',
    placeholder: 'PATH',
    default: undefined,
    parse: parsePath,
  }),
  /** Set by --daemon on the process it starts: the pipe to report readiness on. */
  readyFd: option({
    describe: 'internal: report readiness on this fd',
    cli: 'string',
    internal: true,
    default: undefined,
    parse: parseFd,
  }),
};

type MountArgs = RunArgs<typeof mountOptions>;

export const mountCommand = defineCommand({
  name: 'mount',
  describe: 'Mirror the directory SRC at MNT (as root with mount(8), otherwise through fusermount3)',
  positionals: [
    { name: 'src', describe: 'Directory to mirror' },
    { name: 'mnt', describe: 'Empty directory to mount on' },
  ],
  options: mountOptions,
  epilogue:
    'Runs in the foreground until SIGINT, SIGTERM or SIGHUP, then unmounts (lazily if the mount is busy) and exits 0; ' +
    'a second signal detaches at once. SIGHUP is a stop signal like the others (a closed terminal unmounts): it reloads ' +
    'nothing. The ready line says whether passthrough is on. ' +
    'With --daemon, returns once the mount is ready; stop it with `tsfuse umount MNT`.\n' +
    'MNT /dev/fd/N: serve the /dev/fuse fd N that the parent process already mounted.\n' +
    '`tsfuse SRC MNT -o OPTS` (what mount -t fuse.tsfuse and fstab run) is `tsfuse mount --daemon SRC MNT -o OPTS`; ' +
    'there, every option of this command is also an -o key: -o passthrough=rw,attr_timeout=5,allow_other.',
  async run(args: MountArgs): Promise<number> {
    const { options } = args;
    if (options.daemon && handedFd(args.positionals.mnt) !== undefined) {
      throw new CliError(`--daemon with MNT ${args.positionals.mnt}: a handed fd is served in the foreground by the process it was handed to`);
    }
    if (options.daemon && options.readyFd === undefined) {
      return daemonize({ args: args.args, logFile: options.logFile, log: args.log });
    }
    if (options.readyFd === undefined) return runMount(args, undefined);
    const pipe = new ReadinessPipe(options.readyFd);
    try {
      // A daemon keeps no directory busy: everything was resolved to absolute paths already.
      process.chdir('/');
      return await runMount(args, pipe);
    } catch (err) {
      pipe.failed(err);
      throw err;
    }
  },
});

async function runMount(args: MountArgs, pipe: ReadinessPipe | undefined): Promise<number> {
  const { options } = args;
  const src = path.resolve(args.cwd, args.positionals.src);
  const mnt = path.resolve(args.cwd, args.positionals.mnt);
  checkSource(src);
  // /dev/fd/N: already mounted by the parent; mount() checks the fd.
  const handed = handedFd(args.positionals.mnt) !== undefined;
  if (!handed) checkMountpoint(mnt, src);
  // The stats are written at exit: a wrong directory is better found before mounting.
  if (options.statsFile !== undefined) checkParentDirectory('--stats-file', options.statsFile);

  // The daemon's stdout/stderr already are the log file.
  const log = options.logFile && pipe === undefined ? Logger.file(options.logFile) : args.log;
  if (options.threads > 1 && options.posixLocks === 'server') {
    throw new CliError('--posix-locks server needs --threads 1: on several threads the kernel keeps POSIX locks');
  }
  try {
    const loopbackOptions: LoopbackOptions = {
      // 'require' is rw that must be granted: requirePassthrough below makes a refusal fatal.
      passthrough: options.passthrough === 'require' ? 'rw' : options.passthrough,
      maxStackDepth: options.maxStackDepth,
      attrTimeout: options.attrTimeout,
      entryTimeout: options.entryTimeout,
      negativeTimeout: options.negativeTimeout,
      posixLocks: options.posixLocks,
    };
    const filesystem = options.threads > 1 ? threadedLoopback(src, loopbackOptions).filesystem : new Loopback(src, loopbackOptions);
    const handle = await mountOrExplain(filesystem, handed ? args.positionals.mnt : mnt, {
      ...options.options,
      threads: options.threads,
      requestTimeout: options.requestTimeout,
      ioUring: ioUringOf(options.ioUring),
      // Free per request (measured: the same kernel connection either way); one idle shell per mount.
      autoUnmount: options.autoUnmount ?? options.options.autoUnmount ?? true,
      // SRC names the mount in /proc/mounts, unless its path is not a valid name.
      fsname: options.options.fsname ?? (MOUNT_NAME.test(src) ? src : 'tsfuse'),
      subtype: options.options.subtype ?? 'tsfuse',
      requirePassthrough: options.passthrough === 'require',
      log: (line) => log.error(line),
      debug: options.debug ? (line) => log.info(line) : undefined,
    });
    const rings = options.ioUring === 'off' ? '' : ioUringState((await handle.stats()).ioUring);
    const ready = `tsfuse: ${src} mounted on ${mnt} (pid ${process.pid}${passthroughState(options.passthrough, handle)}${options.threads > 1 ? `, ${options.threads} threads` : ''}${rings})`;
    return await serveUntilStopped(handle, options.statsFile, log, () => {
      log.info(ready);
      pipe?.ready(ready);
    });
  } finally {
    if (log !== args.log) log.close();
  }
}

function ioUringOf(mode: IoUringOption): MountOptions['ioUring'] {
  return mode === 'require' ? 'require' : mode === 'on';
}

async function mountOrExplain(filesystem: Filesystem | ThreadedFilesystem, mnt: string, options: MountOptions): Promise<MountHandle> {
  try {
    return await mount(filesystem, mnt, options);
  } catch (err) {
    // Nothing is mounted: the refusal itself is the whole story (why, and what to do).
    if (err instanceof MountError && err.cause instanceof PassthroughUnavailableError) throw new CliError(err.cause.message);
    // MountError messages are written for users: what failed and what to do.
    if (err instanceof MountError) throw new CliError(err.message);
    throw err;
  }
}

/** The ready line's word on passthrough: what the kernel granted, not only what was asked. */
function passthroughState(asked: PassthroughMode, handle: MountHandle): string {
  if (asked === 'off') return '';
  // Refused at start (EPERM in a user namespace, an old kernel): said above, and again here, for
  // a daemon's ready line is all its user sees.
  const off = handle.passthroughOff;
  if (off !== null) return `, passthrough off: ${off}`;
  return `, passthrough ${asked}`;
}

/** The ready line's word on io_uring, when asked for: why it is off was logged just before. */
function ioUringState(stats: SessionStats['ioUring']): string {
  return stats?.active ? `, io_uring ${stats.queues} queues` : ', io_uring off (see above)';
}

const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Serves until a signal or an outside unmount. Unmounting is asynchronous on
 * purpose: umount(8) sends GETATTR/STATFS to this very process, so a
 * synchronous one would deadlock. `announce` says the mount is ready only once
 * the stop signals are caught: a SIGTERM sent on reading the ready line would
 * otherwise kill the process with the mount still up.
 */
async function serveUntilStopped(handle: MountHandle, statsFile: string | undefined, log: Logger, announce: () => void): Promise<number> {
  const mnt = handle.mountpoint;
  let signals = 0;
  let unmounting: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      log.info(`tsfuse: ${signal}: unmounting ${mnt}`);
      unmounting = unmountPolitely(handle, log);
    } else if (signals === 2) {
      log.info(`tsfuse: ${signal} again: detaching ${mnt} lazily`);
      handle.unmount({ lazy: true }).catch(() => undefined);
    }
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  try {
    announce();
    await handle.closed;
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
  }
  await unmounting;
  const endError = handle.endError;
  if (!endError) log.info(`tsfuse: ${mnt} unmounted`);
  // handle.stats(): summed over the serving threads, whose counters outlive them.
  if (statsFile !== undefined) writeStats(statsFile, (await handle.stats()).requests);
  if (endError) throw new CliError(`the FUSE connection on ${mnt} ended: ${endError.message}`);
  return 0;
}

async function unmountPolitely(handle: MountHandle, log: Logger): Promise<void> {
  const mnt = handle.mountpoint;
  let why: string;
  try {
    await handle.unmount({ lazy: false });
    return;
  } catch (err) {
    why = err instanceof MountError && err.code === 'EBUSY' ? 'was busy' : `could not be unmounted (${(err as Error).message})`;
  }
  try {
    await handle.unmount({ lazy: true });
    // Open files keep the connection (and this server) alive until they are closed.
    log.info(`tsfuse: ${mnt} ${why}; detached it lazily, serving open files until they are closed`);
  } catch (err) {
    log.error(`tsfuse: lazy unmount of ${mnt} failed: ${(err as Error).message}`);
  }
}

function writeStats(file: string, counts: Record<string, number>): void {
  try {
    fs.writeFileSync(file, JSON.stringify(counts, null, 2) + '\n');
  } catch (err) {
    throw new CliError(`--stats-file ${file}: ${(err as Error).message}`);
  }
}

// ---- checks for the mistakes a user can make -------------------------------

function checkSource(src: string): void {
  statDirectory('SRC', src);
}

function checkMountpoint(mnt: string, src: string): void {
  statDirectory('MNT', mnt);
  const real = fs.realpathSync(mnt);
  if (connectionId(real) !== undefined) {
    throw new CliError(`MNT ${mnt}: already a FUSE mount; unmount it first: tsfuse umount ${mnt}`);
  }
  const realSrc = fs.realpathSync(src);
  if (real === realSrc || real.startsWith(realSrc.endsWith('/') ? realSrc : realSrc + '/')) {
    // Looking up MNT through SRC would enter this mount again and wait on this server.
    throw new CliError(`MNT ${mnt}: inside SRC ${src}; the mount would loop back into itself`);
  }
  if (fs.readdirSync(mnt).length > 0) throw new CliError(`MNT ${mnt}: not empty`);
}
