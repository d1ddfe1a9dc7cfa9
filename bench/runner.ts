/**
 * Rounds in alternation: for each group, round after round, every
 * configuration runs the group once, in an order rotated each round. A ratio
 * is then taken between runs that were minutes, not the whole benchmark,
 * apart (stats.ts).
 */
import { rotation, type Sample } from './stats';
import type { Group, Target } from './workloads';

export interface Failure {
  workload: string;
  config: string;
  round: number;
  error: string;
}

export interface Skip {
  workload: string;
  config?: string;
  reason: string;
}

export interface Progress {
  done: number;
  total: number;
  round: number;
  rounds: number;
  workload: string;
  config: string;
}

export interface RunnerHooks {
  /** Writes dirty data out, so one step's writeback is not timed in the next. */
  sync(): void;
  /** Drops the page, dentry and inode caches; returns why it cannot, or undefined when done. */
  dropCaches(): string | undefined;
  /** Why this configuration cannot run any more (its server died), or undefined. */
  unavailable(config: string): string | undefined;
  /** True once the user asked to stop. */
  stopping(): boolean;
  progress(p: Progress): void;
  /** Wait after a cache drop: the kernel's FORGETs then reach the servers before, not during, the timed step. */
  settle(): Promise<void>;
  now(): bigint;
}

export class Stopped extends Error {
  constructor() {
    super('stopped');
  }
}

export interface Outcome {
  samples: Sample[];
  failures: Failure[];
  skipped: Skip[];
}

export async function runRounds(groups: readonly Group[], targets: readonly Target[], rounds: number, hooks: RunnerHooks): Promise<Outcome> {
  const samples: Sample[] = [];
  const failures: Failure[] = [];
  const skipped: Skip[] = [];
  let canDrop: string | undefined;
  const total = groups.reduce((n, g) => n + g.steps.length, 0) * targets.length * rounds;
  let done = 0;
  const skip = (s: Skip): void => {
    if (!skipped.some((k) => k.workload === s.workload && k.config === s.config)) skipped.push(s);
  };

  for (const group of groups) {
    for (let round = 0; round < rounds; round++) {
      for (const target of rotation(targets, round)) {
        const gone = hooks.unavailable(target.config);
        if (gone !== undefined) {
          for (const s of group.steps) skip({ workload: s.workload, config: target.config, reason: gone });
          done += group.steps.length;
          continue;
        }
        const run = group.start(target);
        let failed: string | undefined;
        try {
          hooks.sync();
          run.setup();
        } catch (err) {
          failed = `setup: ${message(err)}`;
        }
        for (const step of run.steps) {
          if (hooks.stopping()) throw new Stopped();
          hooks.progress({ done, total, round, rounds, workload: step.workload, config: target.config });
          done++;
          if (failed !== undefined) {
            failures.push({ workload: step.workload, config: target.config, round, error: failed });
            continue;
          }
          hooks.sync();
          if (step.cold) {
            canDrop = hooks.dropCaches();
            if (canDrop !== undefined) {
              skip({ workload: step.workload, reason: `cannot drop caches: ${canDrop}` });
              continue;
            }
            await hooks.settle();
          }
          const t0 = hooks.now();
          try {
            const measured = (await step.run()) ?? {};
            const wall = Number(hooks.now() - t0) / 1e9;
            samples.push({
              workload: step.workload,
              config: target.config,
              round,
              seconds: measured.seconds ?? wall,
              bytes: measured.bytes ?? step.bytes,
              ops: measured.ops ?? step.ops,
            });
          } catch (err) {
            // The steps after it use its files: they cannot run in this round.
            failed = `${step.workload} failed: ${message(err)}`;
            failures.push({ workload: step.workload, config: target.config, round, error: message(err) });
          }
          // Lets signal handlers run between steps (the steps themselves are synchronous).
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        try {
          run.cleanup();
        } catch (err) {
          failures.push({ workload: `${group.name}.cleanup`, config: target.config, round, error: message(err) });
        }
      }
    }
  }
  return { samples, failures, skipped };
}

function message(err: unknown): string {
  return (err as Error)?.message ?? String(err);
}
