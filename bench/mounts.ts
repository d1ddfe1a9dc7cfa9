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

/** A built file, found from bench/ (run by tap from source) or from dist/bench/. */
function built(from: string, fromDist: string, fromSource: string): string {
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
    ? built(from, '../src/cli/main.js', '../dist/src/cli/main.js')
    : built(from, 'server.js', '../dist/bench/server.js');
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
  readyTimeoutMs?: number;
}

export class Server {
  private exitReason: string | undefined;
  private readonly exited: Promise<void>;

  private constructor(
    readonly options: ServerOptions,
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

  /** Why the server is gone, while it is gone. */
  get gone(): string | undefined {
    return this.exitReason;
  }

  private lastError(): string {
    const lines = this.stderr().trim().split('\n').filter(Boolean);
    return lines.length ? `: ${lines[lines.length - 1]}` : '';
  }

  /**
   * Starts the server and resolves once it printed its ready line
   * and the kernel lists the mount.
   */
  static async start(options: ServerOptions): Promise<Server> {
    const command = options.command ?? serverCommand();
    const args = [
      ...command.slice(1),
      'mount',
      options.src,
      options.mnt,
      // require: fail rather than quietly measure a mount the kernel refused passthrough to.
      `--passthrough=${options.passthrough ? 'require' : 'off'}`,
      `--stats-file=${options.statsFile}`,
    ];
    const child = spawn(command[0], args, {
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
    const server = new Server(options, child, () => err);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`tsfuse mount ${options.mnt}: not ready after ${options.readyTimeoutMs ?? 20_000} ms`));
      }, options.readyTimeoutMs ?? 20_000);
      const onData = (d: Buffer): void => {
        out += d.toString();
        // "tsfuse: SRC mounted on MNT (pid …)" comes once the kernel answered INIT.
        if (/ mounted on /.test(out) && isFuseMountAt(options.mnt)) {
          cleanup();
          resolve();
        }
      };
      const onExit = (): void => {
        cleanup();
        reject(new Error(`tsfuse mount ${options.mnt} failed: ${err.trim() || out.trim() || `exit ${child.exitCode ?? child.signalCode}`}`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.off('exit', onExit);
      };
      child.stdout?.on('data', onData);
      child.once('exit', onExit);
    }).catch(async (e: unknown) => {
      await server.stop();
      throw e;
    });
    // Keep draining stdout so the server never blocks on a full pipe.
    child.stdout?.on('data', () => undefined);
    return server;
  }

  /**
   * SIGTERM: the server unmounts (lazily if busy), writes its stats file and
   * exits. After 15 s: lazy umount and SIGKILL. Resolves to the request counts.
   */
  async stop(): Promise<Record<string, number> | undefined> {
    const { mnt, statsFile } = this.options;
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
    try {
      return JSON.parse(fs.readFileSync(statsFile, 'utf8')) as Record<string, number>;
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
    if (isFuseMountAt(this.options.mnt)) spawnSync('umount', ['-l', this.options.mnt]);
  }
}
