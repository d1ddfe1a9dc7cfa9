/**
 * fio jobs (Debian package `fio`), run as a child process; the figures
 * reported are fio's own: its runtime and the bytes it moved.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Measured } from './workloads';

export interface FioJob {
  workload: string;
  rw: 'read' | 'write' | 'randread' | 'randwrite';
  bs: string;
  /** The file's size. */
  sizeMiB: number;
  /** How much the job reads or writes (less than the file for random jobs). */
  ioMiB: number;
  cold: boolean;
}

/** fio on PATH, or null. */
export function findFio(env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of (env.PATH ?? '/usr/bin:/bin').split(':')) {
    if (dir === '') continue;
    const candidate = path.join(dir, 'fio');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

export function fioArgs(job: FioJob, file: string): string[] {
  const writes = job.rw === 'write' || job.rw === 'randwrite';
  return [
    `--name=${job.workload}`,
    `--filename=${file}`,
    `--rw=${job.rw}`,
    `--bs=${job.bs}`,
    `--size=${job.sizeMiB}M`,
    `--io_size=${job.ioMiB}M`,
    '--ioengine=psync',
    // fio's default drops the file's pages before a job (fadvise DONTNEED). Through a
    // FUSE mount that empties only the mount's cache, not the backing file's, so a
    // "cold" fio read would be cold natively and warm through FUSE. Caches are
    // dropped for the whole machine by the runner instead.
    '--invalidate=0',
    '--randrepeat=1',
    ...(writes ? ['--end_fsync=1'] : []),
    '--output-format=json',
  ];
}

interface FioSide {
  io_bytes: number;
  bw_bytes: number;
  runtime: number;
}

/** Seconds and bytes from fio's JSON for its only job. */
export function parseFioOutput(stdout: string, rw: FioJob['rw']): Measured {
  // fio may print notes before the JSON document.
  const start = stdout.indexOf('{');
  if (start < 0) throw new Error('fio printed no JSON');
  const doc = JSON.parse(stdout.slice(start)) as { jobs?: { error?: number; read: FioSide; write: FioSide }[] };
  const job = doc.jobs?.[0];
  if (!job) throw new Error('fio reported no job');
  if (job.error) throw new Error(`fio job failed with error ${job.error}`);
  const side = rw === 'read' || rw === 'randread' ? job.read : job.write;
  if (!(side.io_bytes > 0) || !(side.runtime > 0)) throw new Error('fio moved no data');
  return { seconds: side.runtime / 1000, bytes: side.io_bytes };
}

export function fioStep(fio: string, job: FioJob, file: string): Measured {
  const r = spawnSync(fio, fioArgs(job, file), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`fio ${job.workload}: ${r.stderr.trim() || `exit ${r.status ?? r.signal}`}`);
  return parseFioOutput(r.stdout, job.rw);
}
