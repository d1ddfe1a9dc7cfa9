/**
 * Mount control: each FUSE configuration is served by a tsfuse loopback
 * (server.ts, or `tsfuse mount SRC MNT`) in a child process of its own, so that the
 * benchmark's own work never shares an event loop (or a CPU time slice it
 * could have avoided) with the server. Also: the filesystem under a path, and
 * dropping the page cache.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface MountEntry {
  mountPoint: string;
  fstype: string;
  source: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function readMounts(text = fs.readFileSync('/proc/self/mountinfo', 'utf8')): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-', 6);
    if (dash < 0 || fields.length < dash + 3) continue;
    out.push({ mountPoint: unescape(fields[4]), fstype: fields[dash + 1], source: unescape(fields[dash + 2]) });
  }
  return out;
}

/** The filesystem `dir` (an existing path) lives on: the last-mounted longest prefix. */
export function filesystemOf(dir: string, mounts = readMounts()): MountEntry | undefined {
  const real = fs.realpathSync(dir);
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const inside = m.mountPoint === '/' || real === m.mountPoint || real.startsWith(m.mountPoint + '/');
    if (inside && (best === undefined || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

export function isFuseMountAt(dir: string): boolean {
  return readMounts().some((m) => m.mountPoint === dir && (m.fstype === 'fuse' || m.fstype.startsWith('fuse.')));
}

/**
 * sync, then drop the page cache, dentries and inodes (which also makes the
 * kernel FORGET the mounts' inodes). Returns why it could not.
 */
export function dropCaches(): string | undefined {
  spawnSync('sync');
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
    return undefined;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (process.geteuid?.() !== 0) return 'not running as root';
    return `writing /proc/sys/vm/drop_caches failed (${code ?? (err as Error).message})`;
  }
}

/** A file found from bench/ (run by tap from source) or from dist/bench/; the first candidate that exists. */
export function builtFile(from: string, fromDist: string, fromSource: string): string {
  const candidates = [path.join(from, fromDist), path.join(from, fromSource)];
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) throw new Error(`${path.basename(fromDist)} is not built (looked for ${candidates.join(', ')}): run \`npm run build\``);
  return found;
}

/**
 * How a FUSE configuration is served: the benchmark's own server script
 * (default), or with TSFUSE_BENCH_SERVER=cli the `tsfuse mount` command.
 * Both take the same arguments and print the same ready line.
 */
export function serverCommand(env: NodeJS.ProcessEnv = process.env, from = __dirname): string[] {
  const script = env.TSFUSE_BENCH_SERVER === 'cli'
    ? builtFile(from, '../src/cli/main.js', '../dist/src/cli/main.js')
    : builtFile(from, 'server.js', '../dist/bench/server.js');
  return [process.execPath, script];
}

export interface ServerOptions {
  src: string;
  mnt: string;
  passthrough: boolean;
  /** The server writes its per-opcode request counts here when it exits. */
  statsFile: string;
  /** The command that serves the mount, before its arguments (default: serverCommand()). */
  command?: readonly string[];
  /** More `tsfuse mount` flags, as --name=value (server.ts takes the same spelling). */
  args?: readonly string[];
  readyTimeoutMs?: number;
}

export interface PassthroughHpOptions {
  /** libfuse's example/passthrough_hp, built (see bench/README.md). */
  binary: string;
  src: string;
  mnt: string;
  /** More of its options, e.g. --nocache. */
  args?: readonly string[];
  readyTimeoutMs?: number;
}

/** What a server counted over its life: requests per opcode, and other counters apart. */
export interface ServerStats {
  requests: Record<string, number>;
  /** e.g. 'backing ids registered': not requests, so never in a table of opcodes. */
  counters: Record<string, number>;
}

/**
 * A stats file: server.ts writes {requests, counters}; `tsfuse mount --stats-file` the
 * opcode counts alone.
 */
export function readStats(text: string): ServerStats {
  const doc = JSON.parse(text) as Record<string, unknown>;
  const numbers = (o: unknown): Record<string, number> =>
    Object.fromEntries(Object.entries((o ?? {}) as Record<string, unknown>).filter((e): e is [string, number] => typeof e[1] === 'number'));
  if (typeof doc.requests === 'object' && doc.requests !== null) return { requests: numbers(doc.requests), counters: numbers(doc.counters) };
  return { requests: numbers(doc), counters: {} };
}

/** How one server process is started and told apart from the others in messages. */
interface Launch {
  /** e.g. 'tsfuse mount', 'passthrough_hp': the start of every error message. */
  name: string;
  argv: readonly string[];
  mnt: string;
  statsFile?: string;
  /** True once stdout so far says the server is up (the kernel must list the mount too). */
  ready(stdout: string): boolean;
  readyTimeoutMs?: number;
}

/**
 * Why `binary` cannot be run as passthrough_hp, or undefined. Checked before
 * anything is mounted, so a wrong path fails the run at once.
 */
export function passthroughHpProblem(binary: string): string | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(binary);
  } catch (err) {
    return `${binary}: ${(err as { code?: string }).code === 'ENOENT' ? 'no such file' : (err as Error).message}`;
  }
  if (!stat.isFile()) return `${binary}: not a file`;
  try {
    fs.accessSync(binary, fs.constants.X_OK);
  } catch {
    return `${binary}: not executable`;
  }
  return undefined;
}

export class Server {
  private exitReason: string | undefined;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly launch: Launch,
    private readonly child: ChildProcess,
    private readonly stderr: () => string,
  ) {
    this.exited = new Promise((resolve) => {
      const done = (why: string): void => {
        this.exitReason ??= why;
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) done(`server exited (${child.exitCode ?? child.signalCode})`);
      child.once('exit', (code, signal) => done(`server exited (${code ?? signal})${this.lastError()}`));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get mnt(): string {
    return this.launch.mnt;
  }

  /** Why the server is gone, while it is gone. */
  get gone(): string | undefined {
    return this.exitReason;
  }

  /** The last 4 KiB the server wrote to stderr. */
  get errorOutput(): string {
    return this.stderr();
  }

  private lastError(): string {
    const lines = this.stderr().trim().split('\n').filter(Boolean);
    return lines.length ? `: ${lines[lines.length - 1]}` : '';
  }

  /**
   * Starts the server and resolves once it printed its ready line
   * and the kernel lists the mount.
   */
  static start(options: ServerOptions): Promise<Server> {
    const command = options.command ?? serverCommand();
    return Server.spawn({
      name: 'tsfuse mount',
      argv: [
        ...command,
        'mount',
        options.src,
        options.mnt,
        // require: fail rather than quietly measure a mount the kernel refused passthrough to.
        `--passthrough=${options.passthrough ? 'require' : 'off'}`,
        `--stats-file=${options.statsFile}`,
        ...(options.args ?? []),
      ],
      mnt: options.mnt,
      statsFile: options.statsFile,
      // "tsfuse: SRC mounted on MNT (pid …)" comes once the kernel answered INIT.
      ready: (out) => / mounted on /.test(out),
      readyTimeoutMs: options.readyTimeoutMs,
    });
  }

  /**
   * libfuse's passthrough_hp with its defaults, in the foreground (it then
   * neither daemonizes nor logs to syslog). It prints no ready line: it is up
   * once the kernel lists the mount; a first request before its INIT reply
   * waits for it in the kernel. Absolute paths: it resolves SRC itself but
   * mounts MNT as given after changing to /.
   */
  static startPassthroughHp(options: PassthroughHpOptions): Promise<Server> {
    const problem = passthroughHpProblem(options.binary);
    if (problem !== undefined) return Promise.reject(new Error(`passthrough_hp: ${problem}`));
    const mnt = path.resolve(options.mnt);
    return Server.spawn({
      name: 'passthrough_hp',
      argv: [options.binary, '--foreground', ...(options.args ?? []), path.resolve(options.src), mnt],
      mnt,
      ready: () => true,
      readyTimeoutMs: options.readyTimeoutMs,
    });
  }

  private static async spawn(launch: Launch): Promise<Server> {
    const { name, argv, mnt } = launch;
    const readyTimeoutMs = launch.readyTimeoutMs ?? 20_000;
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: a Ctrl-C reaches the benchmark, which then unmounts in
      // order, instead of reaching the servers in the middle of a step.
      detached: true,
    });
    let out = '';
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4096);
    });
    // spawn() reports a binary it cannot run as an 'error' event, not an exit.
    let spawnError: Error | undefined;
    child.once('error', (e) => (spawnError = e));
    const server = new Server(launch, child, () => err);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${name} ${mnt}: not ready after ${readyTimeoutMs} ms`));
      }, readyTimeoutMs);
      const check = (): void => {
        if (launch.ready(out) && isFuseMountAt(mnt)) {
          cleanup();
          resolve();
        }
      };
      const onData = (d: Buffer): void => {
        out += d.toString();
        check();
      };
      // A server without a ready line: the mount is looked for every 50 ms.
      const poll = setInterval(check, 50);
      const onExit = (): void => {
        cleanup();
        reject(new Error(`${name} ${mnt} failed: ${err.trim() || out.trim() || spawnError?.message || `exit ${child.exitCode ?? child.signalCode}`}`));
      };
      const onError = (e: Error): void => {
        cleanup();
        reject(new Error(`${name} ${mnt} failed: ${e.message}`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        clearInterval(poll);
        child.stdout?.off('data', onData);
        child.off('exit', onExit);
        child.off('error', onError);
      };
      child.stdout?.on('data', onData);
      child.once('exit', onExit);
      child.once('error', onError);
    }).catch(async (e: unknown) => {
      await server.stop();
      throw e;
    });
    // Keep draining stdout so the server never blocks on a full pipe.
    child.stdout?.on('data', () => undefined);
    return server;
  }

  /**
   * SIGTERM: the server unmounts (lazily if busy), writes its stats file (tsfuse's) and
   * exits. After 15 s: lazy umount and SIGKILL. Resolves to the request counts, if any.
   */
  async stop(): Promise<ServerStats | undefined> {
    const { mnt, statsFile } = this.launch;
    if (this.exitReason === undefined && this.child.pid !== undefined) {
      try {
        process.kill(this.child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        spawnSync('umount', ['-l', mnt]);
        if (this.child.pid !== undefined && this.exitReason === undefined) process.kill(this.child.pid, 'SIGKILL');
      }, 15_000);
      await this.exited;
      clearTimeout(timer);
    }
    // A server that died leaves a dead mount ("transport endpoint is not connected").
    if (isFuseMountAt(mnt)) spawnSync('umount', ['-l', mnt]);
    if (statsFile === undefined) return undefined;
    try {
      return readStats(fs.readFileSync(statsFile, 'utf8'));
    } catch {
      return undefined;
    }
  }

  /** For process exit: no waiting possible, so SIGKILL and a lazy unmount. */
  killNow(): void {
    if (this.exitReason === undefined && this.child.pid !== undefined) {
      try {
        process.kill(this.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (isFuseMountAt(this.launch.mnt)) spawnSync('umount', ['-l', this.launch.mnt]);
  }
}
