/**
 * The targets, checked against one run's results, so that a report
 * says by itself which are met and which are missed.
 */
import { fmtRatio } from './report';
import { pairedRatio, type Result, type Sample } from './stats';

export interface TargetCheck {
  /** What is compared, in words. */
  what: string;
  /** The measured figure (a ratio), or null when the run did not measure it. */
  value: number | null;
  /** e.g. '≤ 1.05', '≥ 2'. */
  goal: string;
  met: boolean | null;
  /** Why the comparison may not hold (a reference measured elsewhere), or the direct ratio behind it. */
  note?: string;
}

/** passthrough_hp (libfuse's C loopback, with passthrough) on this VM, tmpfs backing: 4 KiB files. */
export const LIBFUSE_4K = { write: 16, read: 12 };

const ratio = (results: readonly Result[], workload: string, config: string): number | null =>
  results.find((r) => r.workload === workload && r.config === config)?.ratioToNative ?? null;

function check(what: string, value: number | null, goal: string, ok: (v: number) => boolean): TargetCheck {
  return { what, value, goal, met: value === null ? null : ok(value) };
}

/**
 * `fstype`: where this run's files were; the fixed libfuse reference is a tmpfs
 * figure, used only when passthrough_hp did not run in this run.
 */
export function checkTargets(samples: readonly Sample[], results: readonly Result[], fstype = 'tmpfs'): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const w of ['10m.write', '10m.read_warm', '10m.read_cold', 'dd.write', 'dd.read']) {
    checks.push(check(`passthrough ${w} within 5% of native (× native)`, ratio(results, w, 'passthrough'), '≤ 1.05', (v) => v <= 1.05));
  }
  for (const w of ['1m.write', '1m.read_warm', '1m.read_cold', '10m.write', '10m.read_warm', '10m.read_cold']) {
    checks.push(check(`passthrough ${w} ≥ 2x faster than without (fuse s / passthrough s)`, pairedRatio(samples, w, 'fuse', 'passthrough'), '≥ 2', (v) => v >= 2));
  }
  for (const config of ['passthrough', 'fuse']) {
    for (const w of ['4k.write', '4k.read_warm', '4k.read_cold']) {
      // passthrough_hp measured in this run, in alternation with tsfuse: the comparison the
      // issue means, with no other machine state or filesystem in between.
      const hp = ratio(results, w, 'passthrough_hp');
      if (hp !== null) {
        const c = check(`${config} ${w} no worse than passthrough_hp in this run (× native)`, ratio(results, w, config), `≤ ${fmtRatio(hp)}`, (v) => v <= hp);
        const direct = pairedRatio(samples, w, config, 'passthrough_hp');
        if (direct !== null) c.note = `${config} s / passthrough_hp s: ${fmtRatio(direct)} (median of rounds)`;
        checks.push(c);
        continue;
      }
      const limit = w === '4k.write' ? LIBFUSE_4K.write : LIBFUSE_4K.read;
      const c = check(`${config} ${w} no worse than passthrough_hp's ~${limit}x (× native)`, ratio(results, w, config), `≤ ${limit}`, (v) => v <= limit);
      // A slower native filesystem divides the same per-file overhead by a larger time.
      if (fstype !== 'tmpfs') c.note = `reference measured on tmpfs, this run on ${fstype}: compare the µs per file`;
      checks.push(c);
    }
  }
  return checks.filter((c) => c.value !== null);
}
