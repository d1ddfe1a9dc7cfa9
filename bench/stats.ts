/**
 * Medians and ratios. A ratio is taken round by round (fuse round 2 over
 * native round 2) and then the median of those is reported: the rounds of one
 * configuration run next to the other configurations' rounds, so a slow
 * moment of the machine (writeback, another process) lands on both sides of
 * one ratio instead of on one configuration's median.
 */

/** The configuration every ratio is taken against. */
export const BASELINE = 'native';

export interface Sample {
  /** e.g. '10m.read_cold'. */
  workload: string;
  /** 'native' | 'fuse' | 'passthrough'. */
  config: string;
  /** 0-based. */
  round: number;
  seconds: number;
  /** Bytes moved, for MiB/s (0: not a throughput workload). */
  bytes: number;
  /** Operations done (files, reads, entries), for µs per operation (0: none counted). */
  ops: number;
}

export interface Result {
  workload: string;
  config: string;
  /** Median over the rounds. */
  seconds: number;
  /** Median over the rounds of this round's seconds / native's seconds in the same round; null without native. */
  ratioToNative: number | null;
  /** From the median seconds; absent when the workload moves no counted bytes. */
  mibPerSec?: number;
  /** Median seconds per operation, in µs; absent when no operations are counted. */
  usPerOp?: number;
  /** Rounds that produced a sample. */
  rounds: number;
  /** Seconds in each round (null where the round failed), to judge the spread behind the median. */
  perRound: (number | null)[];
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Median over the rounds both configurations completed of a's seconds / b's
 * seconds for one workload; null when no round has both.
 */
export function pairedRatio(samples: readonly Sample[], workload: string, a: string, b: string): number | null {
  const byRound = (config: string): Map<number, number> =>
    new Map(samples.filter((s) => s.workload === workload && s.config === config).map((s) => [s.round, s.seconds]));
  const num = byRound(a);
  const den = byRound(b);
  const ratios: number[] = [];
  for (const [round, seconds] of num) {
    const base = den.get(round);
    if (base !== undefined && base > 0) ratios.push(seconds / base);
  }
  return ratios.length === 0 ? null : median(ratios);
}

/**
 * One result per (workload, config) that has samples: workloads in the order
 * they were first measured, configurations in `configs` order.
 */
export function summarize(samples: readonly Sample[], configs: readonly string[]): Result[] {
  const workloads = [...new Set(samples.map((s) => s.workload))];
  const results: Result[] = [];
  for (const workload of workloads) {
    for (const config of configs) {
      const mine = samples.filter((s) => s.workload === workload && s.config === config);
      if (mine.length === 0) continue;
      const seconds = median(mine.map((s) => s.seconds));
      const bytes = median(mine.map((s) => s.bytes));
      const ops = median(mine.map((s) => s.ops));
      const result: Result = {
        workload,
        config,
        seconds,
        ratioToNative: config === BASELINE ? 1 : pairedRatio(samples, workload, config, BASELINE),
        rounds: mine.length,
        perRound: Array.from({ length: Math.max(...samples.map((s) => s.round)) + 1 }, (_, round) =>
          mine.find((s) => s.round === round)?.seconds ?? null),
      };
      if (bytes > 0 && seconds > 0) result.mibPerSec = bytes / 2 ** 20 / seconds;
      if (ops > 0) result.usPerOp = (seconds / ops) * 1e6;
      results.push(result);
    }
  }
  return results;
}

/** The order configurations run in round `round`: rotated, so none is always first after a cache drop or a cleanup. */
export function rotation<T>(items: readonly T[], round: number): T[] {
  if (items.length === 0) return [];
  const k = ((round % items.length) + items.length) % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/**
 * How many times faster `r` ran than `base` (base's seconds over r's): the median over
 * the rounds both completed, from their perRound seconds; null when no round has both.
 * For equal work per round this is r's ops/s over base's.
 */
export function speedup(r: Result, base: Result): number | null {
  const ratios: number[] = [];
  r.perRound.forEach((seconds, round) => {
    const b = base.perRound[round];
    if (seconds !== null && seconds > 0 && b !== null && b !== undefined) ratios.push(b / seconds);
  });
  return ratios.length === 0 ? null : median(ratios);
}
