/**
 * What a run produced, and its forms: the JSON document, the text table, the
 * Markdown table. (The chart is svg.ts.)
 */
import type { Failure, Skip } from './runner';
import type { Result } from './stats';
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
  /** 'yes', or why caches could not be dropped (then cold reads are skipped). */
  dropCaches: string;
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
  targets: TargetCheck[];
  /** Requests each FUSE server saw over the whole run, per opcode (from `tsfuse mount --stats-file`). */
  requests: Record<string, Record<string, number>>;
}

/** The --json document: configs and results first, as the issue specifies; the rest is context. */
export function toJson(r: Report): string {
  const doc = {
    configs: r.configs,
    results: r.results,
    warnings: r.warnings,
    skipped: r.skipped,
    failures: r.failures,
    targets: r.targets,
    requests: r.requests,
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

function workloadsOf(r: Report): string[] {
  return [...new Set(r.results.map((x) => x.workload))];
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
      return i === 0 ? cell : `${group} ${cell}`;
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
    `cold reads: ${e.dropCaches === 'yes' ? 'after sync and echo 3 > /proc/sys/vm/drop_caches' : `skipped (${e.dropCaches})`}`,
    e.fio
      ? `fio: ${e.fio}`
      : r.skipped.some((s) => s.workload === 'fio.*')
        ? 'fio: not installed (Debian package fio): fio jobs skipped'
        : 'fio: not selected',
    ...(e.cpuidle !== undefined ? [`cpuidle: ${e.cpuidle}`] : []),
    ...(e.passthroughHp
      ? [`passthrough_hp: ${e.passthroughHp} (libfuse's C loopback, its defaults: passthrough, entry/attr timeout 86400 s)`]
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

function targetLines(r: Report): string[] {
  return r.targets.map((t) => `${t.met ? 'met   ' : 'MISSED'} ${t.what}: ${fmtRatio(t.value)} (goal ${t.goal})${t.note ? ` [${t.note}]` : ''}`);
}

function requestLines(r: Report): string[] {
  const out: string[] = [];
  for (const [config, counts] of Object.entries(r.requests)) {
    const top = Object.entries(counts)
      .filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([op, n]) => `${op} ${n}`);
    out.push(`${config}: ${top.join(', ') || 'none'}`);
  }
  return out;
}

export function toText(r: Report): string {
  const parts = [header(r).join('\n'), renderText(mainTable(r))];
  const perOp = perOpTable(r);
  if (perOp.rows.length) parts.push(renderText(perOp));
  if (r.targets.length) parts.push(['targets:', ...targetLines(r).map((l) => `  ${l}`)].join('\n'));
  const req = requestLines(r);
  if (req.length) parts.push(['requests the servers saw (whole run):', ...req.map((l) => `  ${l}`)].join('\n'));
  const n = notes(r);
  if (n.length) parts.push(n.join('\n'));
  return parts.join('\n\n') + '\n';
}

export function toMarkdown(r: Report): string {
  const parts = [header(r).map((l) => `${l}  `).join('\n'), `Command: \`${r.environment.command}\``, renderMarkdown(mainTable(r))];
  const perOp = perOpTable(r);
  if (perOp.rows.length) parts.push('Per operation (µs; "+µs" is the extra over native):\n\n' + renderMarkdown(perOp));
  if (r.targets.length) parts.push(['Targets:', '', ...targetLines(r).map((l) => `- ${l}`)].join('\n'));
  const req = requestLines(r);
  if (req.length) parts.push(['Requests the servers saw (whole run):', '', ...req.map((l) => `- ${l}`)].join('\n'));
  const n = notes(r);
  if (n.length) parts.push(n.map((l) => `- ${l}`).join('\n'));
  const steps = r.steps.filter((s) => r.results.some((x) => x.workload === s.workload));
  parts.push(['Workloads:', '', ...steps.map((s) => `- \`${s.workload}\`: ${s.describe}`)].join('\n'));
  return parts.join('\n\n') + '\n';
}
