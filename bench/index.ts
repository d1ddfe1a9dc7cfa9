/**
 * `tsfuse bench`: the workloads on the native directory and on tsfuse
 * loopback mounts of directories beside it (without and with passthrough),
 * and optionally on libfuse's passthrough_hp, round after round in
 * alternation; then the table, JSON, Markdown, SVG.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { prepareClient, type Client, type ClientKind } from './clients';
import { findFio } from './fio';
import { dropCaches, filesystemOf, passthroughHpProblem, Server } from './mounts';
import { toJson, toMarkdown, toText, type Report } from './report';
import { runRounds, Stopped, type Progress, type Skip } from './runner';
import { summarize } from './stats';
import { toSvg } from './svg';
import { checkTargets } from './targets';
import { buildGroups, CONFIGS, warmOnly, type ConfigName, type GroupName, type Target } from './workloads';

export { CLIENT_KINDS, type ClientKind } from './clients';
export { CONFIGS, GROUP_NAMES, type ConfigName, type GroupName } from './workloads';

/**
 * libfuse's C loopback with passthrough, run beside tsfuse when its binary is
 * given: the issue's small-file target is "no worse than passthrough_hp", best
 * compared on the same machine state. Not in CONFIGS (workloads.ts), which
 * --configs chooses from: it runs exactly when --passthrough-hp is given.
 */
export const PASSTHROUGH_HP = 'passthrough_hp';
type RunConfig = ConfigName | typeof PASSTHROUGH_HP;

/** The run's size: what --scale, --rounds and --clients default to, without and with --quick. */
export interface Profile {
  scale: number;
  rounds: number;
  clients: number[];
}

export const FULL: Readonly<Profile> = { scale: 1, rounds: 3, clients: [1, 4, 8] };
/**
 * --quick: every workload group at 1/50 of the files and bytes, in 2 rounds: 40-50 s on
 * this 2-CPU VM with the three configurations (bench/README.md), against 6 minutes and more
 * for the full run. Two rounds still pair each configuration with native in two
 * separate moments; one would report a single sample as the median.
 */
export const QUICK: Readonly<Profile> = { scale: 0.02, rounds: 2, clients: [1, 4, 8] };

/** The profile's figures where the user gave none. */
export function resolveProfile(quick: boolean, given: Partial<Profile>): Profile {
  const base = quick ? QUICK : FULL;
  return { scale: given.scale ?? base.scale, rounds: given.rounds ?? base.rounds, clients: [...(given.clients ?? base.clients)] };
}

export interface BenchOptions extends Profile {
  /** Where to put the files; default: a fresh directory under os.tmpdir(). */
  dir?: string;
  json: boolean;
  markdown?: string;
  svg?: string;
  /** Run in a directory that already has content (inside a fresh subdirectory of it). */
  force: boolean;
  configs: readonly ConfigName[];
  workloads: readonly GroupName[];
  /** The command line, recorded in the report. */
  command: string;
  /** The command that serves a mount, before its arguments; default: mounts.serverCommand(). */
  serverCommand?: readonly string[];
  /** libfuse's example/passthrough_hp binary: adds the configuration passthrough_hp. */
  passthroughHp?: string;
  /** Drop the machine's caches before cold steps; false: the cold steps are left out. Default true. */
  dropCaches?: boolean;
  /** Check the issue's targets and report them. */
  targets?: boolean;
  /** Which client the concurrent workloads run (default 'auto': C if cc works, else Node). */
  client?: ClientKind;
  /** Entry and attribute timeouts of the tsfuse servers, seconds (default 1 and 1, the CLI's). */
  entryTimeout?: number;
  attrTimeout?: number;
  /** Threads serving each tsfuse mount (default 1, the CLI's). */
  threads?: number;
  /**
   * FUSE over io_uring for every server of the run (default 'off'): the tsfuse servers get
   * --io-uring, passthrough_hp gets -o io_uring. Needs the fuse module's enable_uring on.
   */
  ioUring?: 'off' | 'on' | 'require';
}

/** passthrough_hp's entry and attr timeout: 86400 s, or 0 with --nocache; it offers no other. */
export const HP_TIMEOUT = 86400;

/**
 * `tsfuse mount` flags every tsfuse server of the run gets (server.ts takes the same
 * spelling): one place to pass a server option through.
 */
export function serverArgs(o: Pick<BenchOptions, 'entryTimeout' | 'attrTimeout' | 'threads' | 'ioUring'>): string[] {
  return [
    `--entry-timeout=${o.entryTimeout ?? 1}`, `--attr-timeout=${o.attrTimeout ?? 1}`, `--threads=${o.threads ?? 1}`,
    ...((o.ioUring ?? 'off') !== 'off' ? [`--io-uring=${o.ioUring}`] : []),
  ];
}

/** passthrough_hp's own options: --nocache when the tsfuse servers run with timeouts 0, its only other setting. */
export function passthroughHpArgs(o: Pick<BenchOptions, 'entryTimeout' | 'attrTimeout' | 'ioUring'>): { args: string[]; timeout: number } {
  const uring = (o.ioUring ?? 'off') !== 'off' ? ['-o', 'io_uring'] : [];
  return (o.entryTimeout ?? 1) === 0 && (o.attrTimeout ?? 1) === 0
    ? { args: ['--nocache', ...uring], timeout: 0 }
    : { args: uring, timeout: HP_TIMEOUT };
}

export interface BenchIo {
  out(text: string): void;
  err(text: string): void;
  /** stderr is a terminal: one progress line rewritten in place. */
  errIsTTY: boolean;
}

/** A mistake in how the benchmark was asked to run (the CLI exits 1 with the message). */
export class BenchError extends Error {
  override name = 'BenchError';
}

export interface Workspace {
  /** The directory everything goes into; it is empty. */
  root: string;
  /** Removes what the benchmark made, nothing else. */
  remove(): void;
}

/**
 * Where the run puts its files. A directory with content is refused unless
 * `force`, and even then the run works in a fresh subdirectory of it.
 */
export function prepareWorkspace(dir: string | undefined, force: boolean): Workspace {
  if (dir === undefined) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsfuse-bench-'));
    return { root, remove: () => fs.rmSync(root, { recursive: true, force: true }) };
  }
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(dir);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw new BenchError(`--dir ${dir}: ${(err as Error).message}`);
  }
  if (stat === undefined) {
    fs.mkdirSync(dir, { recursive: true });
    return { root: dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
  }
  if (!stat.isDirectory()) throw new BenchError(`--dir ${dir}: not a directory`);
  const entries = fs.readdirSync(dir);
  if (entries.length === 0) {
    return {
      root: dir,
      remove: () => {
        for (const name of fs.readdirSync(dir)) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
      },
    };
  }
  if (!force) {
    throw new BenchError(
      `--dir ${dir}: not empty (${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}, e.g. ${entries[0]}); ` +
        'the benchmark writes and deletes many files there: use an empty directory, or --force to work in a new subdirectory of it',
    );
  }
  const root = fs.mkdtempSync(path.join(dir, 'tsfuse-bench-'));
  return { root, remove: () => fs.rmSync(root, { recursive: true, force: true }) };
}

function fioVersion(fio: string | null): string | null {
  if (fio === null) return null;
  const r = spawnSync(fio, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : fio;
}

function clock(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export async function runBench(o: BenchOptions, io: BenchIo): Promise<number> {
  const started = process.hrtime.bigint();
  const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e9;
  if (o.passthroughHp !== undefined) {
    const problem = passthroughHpProblem(o.passthroughHp);
    if (problem !== undefined) throw new BenchError(`--passthrough-hp ${problem} (build it as bench/README.md says)`);
  }
  const ws = prepareWorkspace(o.dir, o.force);
  const dropping = o.dropCaches !== false;
  const hp = passthroughHpArgs(o);
  const servers = new Map<RunConfig, Server>();
  const skipped: Skip[] = [];
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!stopping) io.err(`\ntsfuse bench: ${signal}: stopping after the current step, then unmounting and cleaning up\n`);
    stopping = true;
  };
  // Last resort if the process dies some other way: nothing may stay mounted.
  const onExit = (): void => {
    for (const s of servers.values()) s.killNow();
    try {
      ws.remove();
    } catch {
      // a dead mount still in the way: nothing more can be done at exit
    }
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  process.on('exit', onExit);

  try {
    const fs0 = filesystemOf(ws.root);
    const fio = o.workloads.includes('fio') ? findFio() : null;
    if (o.workloads.includes('fio') && fio === null) {
      skipped.push({ workload: 'fio.*', reason: 'fio is not installed (Debian package fio)' });
    }
    const warnings: string[] = [];
    let client: Client | undefined;
    if (o.workloads.includes('clients') && o.clients.length > 0) {
      try {
        const prepared = prepareClient(o.client ?? 'auto', ws.root);
        if (prepared.fallback) warnings.push(prepared.fallback);
        client = prepared;
      } catch (err) {
        throw new BenchError((err as Error).message);
      }
    }
    const all = buildGroups({ scale: o.scale, only: o.workloads, fio, clients: o.clients, client });
    // Without dropping, a "cold" step would be warm under its cold name: it is left out.
    const groups = dropping ? all : all.map(warmOnly).filter((g) => g.steps.length > 0);
    const cannotDrop = dropping ? dropCaches() : '--no-drop-caches: the machine\'s caches were not dropped';
    if (o.passthroughHp !== undefined && hp.timeout !== 0 && (o.entryTimeout !== HP_TIMEOUT || o.attrTimeout !== HP_TIMEOUT)) {
      warnings.push(
        `timeouts differ: tsfuse entry ${o.entryTimeout ?? 1} s / attr ${o.attrTimeout ?? 1} s, passthrough_hp ${HP_TIMEOUT} s ` +
          `(for a like-for-like comparison: --entry-timeout ${HP_TIMEOUT} --attr-timeout ${HP_TIMEOUT}, or 0 and 0 for its --nocache)`,
      );
    }

    const targets: Target[] = [];
    const runConfigs: RunConfig[] = CONFIGS.filter((c) => o.configs.includes(c));
    if (o.passthroughHp !== undefined) runConfigs.push(PASSTHROUGH_HP);
    for (const config of runConfigs) {
      if (config === 'native') {
        const dir = path.join(ws.root, 'native');
        fs.mkdirSync(dir);
        targets.push({ config, dir, backing: dir });
        continue;
      }
      // Beside the native directory: the same filesystem under every configuration.
      const short = config === PASSTHROUGH_HP ? 'hp' : config;
      const src = path.join(ws.root, `${short}-src`);
      const mnt = path.join(ws.root, `${short}-mnt`);
      fs.mkdirSync(src);
      fs.mkdirSync(mnt);
      io.err(
        `tsfuse bench: mounting ${src} on ${mnt}` +
          `${config === 'passthrough' ? ' with passthrough' : config === PASSTHROUGH_HP ? ` with ${o.passthroughHp}` : ''}\n`,
      );
      try {
        const server =
          config === PASSTHROUGH_HP
            ? await Server.startPassthroughHp({ binary: o.passthroughHp as string, src, mnt, args: hp.args })
            : await Server.start({
                src,
                mnt,
                passthrough: config === 'passthrough',
                statsFile: path.join(ws.root, `${config}-requests.json`),
                command: o.serverCommand,
                args: serverArgs(o),
              });
        servers.set(config, server);
        // Target.config is typed ConfigName (workloads.ts), where it is only a label.
        targets.push({ config: config as ConfigName, dir: mnt, backing: src });
      } catch (err) {
        skipped.push({ workload: '*', config, reason: (err as Error).message });
      }
      if (stopping) throw new Stopped();
    }

    let lastLine = '';
    const progress = (p: Progress): void => {
      const pct = Math.floor((100 * p.done) / Math.max(1, p.total));
      const line = `[${clock(elapsed())}] ${pct}% round ${p.round + 1}/${p.rounds}: ${p.workload} on ${p.config}`;
      if (io.errIsTTY) io.err(`\r\x1b[K${line}`);
      else if (line !== lastLine) io.err(line + '\n');
      lastLine = line;
    };
    const outcome = await runRounds(groups, targets, o.rounds, {
      sync: () => void spawnSync('sync'),
      dropCaches: () => (dropping ? dropCaches() : cannotDrop),
      unavailable: (config) => servers.get(config as RunConfig)?.gone,
      stopping: () => stopping,
      progress,
      settle: () => new Promise((resolve) => setTimeout(resolve, 300)),
      now: () => process.hrtime.bigint(),
    });
    if (io.errIsTTY) io.err('\r\x1b[K');

    const requests: Record<string, Record<string, number>> = {};
    const counters: Record<string, Record<string, number>> = {};
    for (const [config, server] of servers) {
      const stats = await server.stop();
      // passthrough_hp falls back to plain FUSE reads and writes, for good, after one failed backing open.
      if (config === PASSTHROUGH_HP && /disabling rw passthrough/.test(server.errorOutput)) {
        warnings.push(
          'passthrough_hp turned passthrough off during the run (its stderr: "disabling rw passthrough"): ' +
            'its figures are partly those of a plain FUSE mount',
        );
      }
      if (stats) requests[config] = stats.requests;
      if (stats && Object.keys(stats.counters).length > 0) counters[config] = stats.counters;
    }
    servers.clear();
    const pt = requests.passthrough;
    if (pt && (pt.READ ?? 0) + (pt.WRITE ?? 0) > 0) {
      // With passthrough in effect the kernel does all reads and writes itself: the
      // server sees no READ or WRITE (test/passthrough.test.ts checks it on a real mount).
      warnings.push(
        `the passthrough server answered ${pt.READ ?? 0} READ and ${pt.WRITE ?? 0} WRITE requests: ` +
          'some opens were served without passthrough, so its figures are partly those of a plain FUSE mount',
      );
    }

    const configs = targets.map((t) => t.config as string);
    const results = summarize(outcome.samples, configs);
    const report: Report = {
      configs,
      results,
      environment: {
        dir: ws.root,
        fstype: fs0?.fstype ?? 'unknown',
        source: fs0?.source ?? 'unknown',
        kernel: os.release(),
        node: process.version,
        cpus: os.cpus().length,
        memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        scale: o.scale,
        rounds: o.rounds,
        dropCaches: cannotDrop === undefined ? 'yes' : cannotDrop,
        ...(o.configs.some((c) => c !== 'native') ? { entryTimeout: o.entryTimeout ?? 1, attrTimeout: o.attrTimeout ?? 1, threads: o.threads ?? 1, ioUring: o.ioUring ?? 'off' } : {}),
        ...(client !== undefined ? { client: client.describe } : {}),
        fio: fioVersion(fio),
        ...cpuidleOf(),
        date: new Date().toISOString(),
        command: o.command,
        seconds: Math.round(elapsed()),
        ...(o.passthroughHp !== undefined ? { passthroughHp: o.passthroughHp, passthroughHpTimeout: hp.timeout } : {}),
      },
      steps: groups.flatMap((g) => g.steps),
      warnings,
      skipped: [...skipped, ...outcome.skipped],
      failures: outcome.failures,
      ...(o.targets ? { targets: checkTargets(outcome.samples, results, fs0?.fstype) } : {}),
      requests,
      counters,
    };
    io.out(o.json ? toJson(report) + '\n' : toText(report));
    if (o.markdown) fs.writeFileSync(o.markdown, toMarkdown(report));
    if (o.svg) fs.writeFileSync(o.svg, toSvg(report));
    const incomplete = report.failures.length > 0 || report.skipped.some((s) => s.config !== undefined && s.workload === '*');
    return incomplete ? 1 : 0;
  } catch (err) {
    if (err instanceof Stopped) {
      io.err('tsfuse bench: stopped; nothing reported\n');
      return 130;
    }
    throw err;
  } finally {
    for (const s of servers.values()) await s.stop();
    servers.clear();
    try {
      ws.remove();
    } catch (err) {
      io.err(`tsfuse bench: could not remove ${ws.root}: ${(err as Error).message}\n`);
    }
    for (const s of signals) process.off(s, onSignal);
    process.off('exit', onExit);
  }
}

/** The cpuidle governor, and haltpoll's polling limit when that is the governor (see Environment). */
function cpuidleOf(): { cpuidle?: string } {
  const read = (p: string): string | undefined => {
    try {
      return fs.readFileSync(p, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  const governor = read('/sys/devices/system/cpu/cpuidle/current_governor') ?? read('/sys/devices/system/cpu/cpuidle/current_governor_ro');
  if (governor === undefined) return {};
  const pollNs = governor === 'haltpoll' ? read('/sys/module/haltpoll/parameters/guest_halt_poll_ns') : undefined;
  return { cpuidle: pollNs === undefined ? governor : `${governor}, guest_halt_poll_ns ${pollNs}` };
}
