/**
 * What a run produced, and its forms: the JSON document, the text table, the
 * Markdown table. (The chart is svg.ts.)
 */
import { PHASES, phaseText } from './clients';
import type { Failure, Skip } from './runner';
import { speedup, type Result } from './stats';
import type { TargetCheck } from './targets';
import type { StepInfo } from './workloads';

export interface Environment {
  /** The directory the run used. */
  dir: string;
  /** Filesystem type and device under `dir` (all configurations' files live there). */
  fstype: string;
  source: string;
  kernel: string;
  node: string;
  cpus: number;
  memoryGiB: number;
  scale: number;
  rounds: number;
  /** 'yes', or why caches were not dropped (then cold reads are left out). */
  dropCaches: string;
  /** Entry and attribute timeouts of the tsfuse servers, in seconds. */
  entryTimeout?: number;
  attrTimeout?: number;
  /** Threads serving each tsfuse mount (reports before it have none: 1). */
  threads?: number;
  /** FUSE over io_uring for the servers: off, on, require. */
  ioUring?: string;
  /** The client processes of the concurrent workloads, when they ran. */
  client?: string;
  /** fio's version, or null when it is not installed or not selected. */
  fio: string | null;
  /**
   * The cpuidle governor and, for a VM guest's haltpoll, how long an idle CPU polls before it
   * halts. Every FUSE request wakes one process on another CPU, and waking a halted virtual CPU
   * is slow: with guest_halt_poll_ns 0 (no polling), 5,000 4 KiB reads through a passthrough
   * mount took 210 µs per file, with 200000 63–72 µs. Absent where sysfs does not say.
   */
  cpuidle?: string;
  date: string;
  /** The command line that produced this run. */
  command: string;
  /** Wall time of the whole run. */
  seconds?: number;
  /** The passthrough_hp binary, when the run included libfuse's passthrough_hp. */
  passthroughHp?: string;
  /** Its entry and attribute timeout: 86400 s, or 0 with --nocache (it has no other). */
  passthroughHpTimeout?: number;
}

export interface Report {
  configs: string[];
  results: Result[];
  environment: Environment;
  steps: StepInfo[];
  /** Conditions that may spoil part of the run, said before it starts. */
  warnings: string[];
  skipped: Skip[];
  failures: Failure[];
  /** The issue's targets, checked: only when asked for (--targets). */
  targets?: TargetCheck[];
  /** Requests each FUSE server saw over the whole run, per opcode (from `tsfuse mount --stats-file`). */
  requests: Record<string, Record<string, number>>;
  /** Each server's counters that are not requests (backing ids), apart from `requests`. */
  counters: Record<string, Record<string, number>>;
}

/** The --json document: configs and results first, as the issue specifies; the rest is context. */
export function toJson(r: Report): string {
  const doc = {
    configs: r.configs,
    results: r.results,
    warnings: r.warnings,
    skipped: r.skipped,
    failures: r.failures,
    ...(r.targets ? { targets: r.targets } : {}),
    requests: r.requests,
    counters: r.counters,
    environment: r.environment,
  };
  return JSON.stringify(doc, null, 2);
}

// ---- number formats ---------------------------------------------------------

export function fmtSeconds(s: number): string {
  if (s >= 100) return s.toFixed(0);
  if (s >= 10) return s.toFixed(1);
  if (s >= 1) return s.toFixed(2);
  return s.toFixed(3);
}

export function fmtRate(x: number | undefined): string {
  if (x === undefined) return '';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

export function fmtRatio(x: number | null): string {
  if (x === null) return 'n/a';
  return x >= 10 ? `${x.toFixed(1)}x` : `${x.toFixed(2)}x`;
}

function fmtMicros(x: number): string {
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

// ---- tables -----------------------------------------------------------------

type Row = string[];
interface Table {
  head: Row[];
  rows: Row[];
  /** Columns aligned left (the rest right). */
  left: number[];
}

/** The workloads one process runs; the concurrent ones have a table of their own (clientsTable). */
function workloadsOf(r: Report): string[] {
  return [...new Set(r.results.map((x) => x.workload))].filter((w) => clientsOf(r, w) === undefined);
}

function clientsOf(r: Report, workload: string): number | undefined {
  return r.steps.find((s) => s.workload === workload)?.clients;
}

function find(r: Report, workload: string, config: string): Result | undefined {
  return r.results.find((x) => x.workload === workload && x.config === config);
}

/** workload × configuration: seconds, MiB/s, ratio to native. */
export function mainTable(r: Report): Table {
  const top: Row = [''];
  const head: Row = ['workload'];
  for (const c of r.configs) {
    const cols = c === 'native' ? ['s', 'MiB/s'] : ['s', 'MiB/s', 'x native'];
    top.push(c, ...cols.slice(1).map(() => ''));
    head.push(...cols);
  }
  const rows = workloadsOf(r).map((w) => {
    const row: Row = [w];
    for (const c of r.configs) {
      const x = find(r, w, c);
      row.push(x ? fmtSeconds(x.seconds) : '-', x ? fmtRate(x.mibPerSec) : '');
      if (c !== 'native') row.push(x ? fmtRatio(x.ratioToNative) : '');
    }
    return row;
  });
  return { head: [top, head], rows, left: [0] };
}

/** µs per operation where a workload counts operations (files, entries, 4 KiB reads), and the extra over native. */
export function perOpTable(r: Report): Table {
  const head: Row = ['workload', 'per'];
  for (const c of r.configs) head.push(`${c} µs`, ...(c === 'native' ? [] : [`${c} +µs`]));
  const rows: Row[] = [];
  for (const w of workloadsOf(r)) {
    const step = r.steps.find((s) => s.workload === w);
    const native = find(r, w, 'native')?.usPerOp;
    if (!step?.op || !r.configs.some((c) => find(r, w, c)?.usPerOp !== undefined)) continue;
    const row: Row = [w, step.op];
    for (const c of r.configs) {
      const us = find(r, w, c)?.usPerOp;
      row.push(us === undefined ? '-' : fmtMicros(us));
      if (c !== 'native') row.push(us === undefined || native === undefined ? '' : `${us >= native ? '+' : ''}${fmtMicros(us - native)}`);
    }
    rows.push(row);
  }
  return { head: [head], rows, left: [0, 1] };
}

const HP = 'passthrough_hp';

/**
 * The concurrent workloads, a row per phase and P: ops/s per configuration, and each
 * FUSE configuration's ops/s over native's and over passthrough_hp's (medians of the
 * per-round ratios; above 1 is faster).
 */
export function clientsTable(r: Report): Table {
  const hp = r.configs.includes(HP);
  const top: Row = ['', ''];
  const head: Row = ['workload', 'P'];
  const columns = (c: string): string[] => ['ops/s', ...(c === 'native' ? [] : ['/ native']), ...(hp && c !== HP && c !== 'native' ? ['/ hp'] : [])];
  for (const c of r.configs) {
    const cols = columns(c);
    top.push(c, ...cols.slice(1).map(() => ''));
    head.push(...cols);
  }
  const workloads = [...new Set(r.results.map((x) => x.workload))].filter((w) => clientsOf(r, w) !== undefined);
  const phaseIndex = (w: string): number => PHASES.findIndex((p) => w.endsWith(`.${p}`));
  workloads.sort((a, b) => phaseIndex(a) - phaseIndex(b) || (clientsOf(r, a) ?? 0) - (clientsOf(r, b) ?? 0));
  const rows = workloads.map((w) => {
    const row: Row = [phaseText(w), String(clientsOf(r, w))];
    const native = find(r, w, 'native');
    const base = find(r, w, HP);
    for (const c of r.configs) {
      const x = find(r, w, c);
      row.push(x?.usPerOp ? fmtCount(1e6 / x.usPerOp) : '-');
      const over = (b: Result | undefined): string => {
        const v = x && b ? speedup(x, b) : null;
        return v === null ? '' : v.toFixed(2);
      };
      if (c !== 'native') row.push(over(native));
      if (hp && c !== HP && c !== 'native') row.push(over(base));
    }
    return row;
  });
  return { head: [top, head], rows, left: [0] };
}

function fmtCount(x: number): string {
  return Math.round(x).toLocaleString('en');
}

const CLIENTS_TITLE =
  'concurrent clients, P processes at once (ops/s, higher is faster; "/ native", "/ hp": ops/s over native\'s, ' +
  'over passthrough_hp\'s, medians of per-round ratios)';

function renderText(t: Table): string {
  const all = [...t.head, ...t.rows];
  const widths = all[0].map((_, i) => Math.max(...all.map((row) => row[i]?.length ?? 0)));
  const line = (row: Row): string =>
    row.map((cell, i) => (t.left.includes(i) ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ').trimEnd();
  return [...t.head.map(line), ...t.rows.map(line)].join('\n');
}

function renderMarkdown(t: Table): string {
  // Markdown has one header row: a two-row text header becomes "config s" etc.
  let head = t.head[t.head.length - 1];
  if (t.head.length === 2) {
    let group = '';
    head = head.map((cell, i) => {
      if (t.head[0][i]) group = t.head[0][i];
      return i === 0 ? cell : `${group} ${cell}`.trim();
    });
  }
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const align = head.map((_, i) => (t.left.includes(i) ? ':--' : '--:'));
  return [head, align, ...t.rows].map((row) => `| ${row.map(esc).join(' | ')} |`).join('\n');
}

function header(r: Report): string[] {
  const e = r.environment;
  return [
    `${e.dir} on ${e.fstype} (${e.source}); kernel ${e.kernel}, Node ${e.node}, ${e.cpus} CPUs, ${e.memoryGiB} GiB`,
    `scale ${e.scale}, ${e.rounds} rounds in alternation, medians; ratios are medians of per-round ratios`,
    `cold reads: ${e.dropCaches === 'yes' ? 'after sync and echo 3 > /proc/sys/vm/drop_caches' : `left out (${e.dropCaches})`}`,
    ...(e.entryTimeout !== undefined ? [`tsfuse servers: entry timeout ${e.entryTimeout} s, attr timeout ${e.attrTimeout} s, negative 0, ${e.threads ?? 1} thread(s), io_uring ${e.ioUring ?? 'off'}`] : []),
    ...(e.client !== undefined ? [`concurrent clients: ${e.client}`] : []),
    e.fio
      ? `fio: ${e.fio}`
      : r.skipped.some((s) => s.workload === 'fio.*')
        ? 'fio: not installed (Debian package fio): fio jobs skipped'
        : 'fio: not selected',
    ...(e.cpuidle !== undefined ? [`cpuidle: ${e.cpuidle}`] : []),
    ...(e.passthroughHp
      ? [
          `passthrough_hp: ${e.passthroughHp} (libfuse's C loopback, its defaults: passthrough, ` +
            `entry/attr timeout ${e.passthroughHpTimeout === 0 ? '0 s (--nocache)' : '86400 s'})`,
        ]
      : []),
  ];
}

function notes(r: Report): string[] {
  const out: string[] = r.warnings.map((w) => `warning: ${w}`);
  for (const s of r.skipped) out.push(`skipped ${s.workload}${s.config ? ` on ${s.config}` : ''}: ${s.reason}`);
  const seen = new Set<string>();
  for (const f of r.failures) {
    const key = `${f.workload} ${f.config} ${f.error}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const rounds = r.failures.filter((g) => `${g.workload} ${g.config} ${g.error}` === key).map((g) => g.round + 1);
    out.push(`FAILED ${f.workload} on ${f.config} (round ${rounds.join(', ')}): ${f.error}`);
  }
  return out;
}

const NO_TARGETS = 'none measured in this run (they compare fuse and passthrough with native, on 4k, 1m, 10m and dd)';

function targetLines(r: Report): string[] {
  return (r.targets ?? []).map((t) => `${t.met ? 'met   ' : 'MISSED'} ${t.what}: ${fmtRatio(t.value)} (goal ${t.goal})${t.note ? ` [${t.note}]` : ''}`);
}

function countLines(table: Record<string, Record<string, number>>): string[] {
  const out: string[] = [];
  for (const [config, counts] of Object.entries(table)) {
    const top = Object.entries(counts)
      .filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([op, n]) => `${op} ${n}`);
    out.push(`${config}: ${top.join(', ') || 'none'}`);
  }
  return out;
}

const COUNTERS_TITLE = 'other counters of the servers (not requests)';

export function toText(r: Report): string {
  const parts = [header(r).join('\n')];
  const main = mainTable(r);
  if (main.rows.length) parts.push(renderText(main));
  const perOp = perOpTable(r);
  if (perOp.rows.length) parts.push(renderText(perOp));
  const clients = clientsTable(r);
  if (clients.rows.length) parts.push(`${CLIENTS_TITLE}:\n${renderText(clients)}`);
  if (r.targets) parts.push(['targets:', ...(r.targets.length ? targetLines(r) : [NO_TARGETS]).map((l) => `  ${l}`)].join('\n'));
  const req = countLines(r.requests);
  if (req.length) parts.push(['requests the servers saw (whole run):', ...req.map((l) => `  ${l}`)].join('\n'));
  const counters = countLines(r.counters);
  if (counters.length) parts.push([`${COUNTERS_TITLE}:`, ...counters.map((l) => `  ${l}`)].join('\n'));
  const n = notes(r);
  if (n.length) parts.push(n.join('\n'));
  return parts.join('\n\n') + '\n';
}

export function toMarkdown(r: Report): string {
  const parts = [header(r).map((l) => `${l}  `).join('\n'), `Command: \`${r.environment.command}\``];
  const main = mainTable(r);
  if (main.rows.length) parts.push(renderMarkdown(main));
  const perOp = perOpTable(r);
  if (perOp.rows.length) parts.push('Per operation (µs; "+µs" is the extra over native):\n\n' + renderMarkdown(perOp));
  const clients = clientsTable(r);
  if (clients.rows.length) parts.push(`${CLIENTS_TITLE[0].toUpperCase()}${CLIENTS_TITLE.slice(1)}:\n\n${renderMarkdown(clients)}`);
  if (r.targets) parts.push(['Targets:', '', ...(r.targets.length ? targetLines(r) : [NO_TARGETS]).map((l) => `- ${l}`)].join('\n'));
  const req = countLines(r.requests);
  if (req.length) parts.push(['Requests the servers saw (whole run):', '', ...req.map((l) => `- ${l}`)].join('\n'));
  const counters = countLines(r.counters);
  if (counters.length) parts.push([`${COUNTERS_TITLE[0].toUpperCase()}${COUNTERS_TITLE.slice(1)}:`, '', ...counters.map((l) => `- ${l}`)].join('\n'));
  const n = notes(r);
  if (n.length) parts.push(n.map((l) => `- ${l}`).join('\n'));
  const steps = r.steps.filter((s) => r.results.some((x) => x.workload === s.workload));
  parts.push(['Workloads:', '', ...steps.map((s) => `- \`${s.workload}\`: ${s.describe}`)].join('\n'));
  return parts.join('\n\n') + '\n';
}
