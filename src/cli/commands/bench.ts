// The one CLI module that reaches into bench/: the benchmark is a command users run,
// but its code (workloads, timing, reports) lives with the other benchmarks.
import { defineCommand, type RunArgs } from '../command';
import { CliError } from '../errors';
import { MAX_THREADS } from '../../fs/threads';
import { option, parseBoolean, parseIoUring, parsePath, parseSeconds, parseThreads, ValueError } from '../options';
import {
  BenchError,
  CLIENT_KINDS,
  CONFIGS,
  FULL,
  GROUP_NAMES,
  QUICK,
  resolveProfile,
  runBench,
  type ClientKind,
  type ConfigName,
  type GroupName,
} from '../../../bench/index';

// The parsers throw ValueError: the resolver and normalizeArgs put the option's name in front, once.

function parseScale(value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  if (!Number.isFinite(n) || n <= 0 || n > 100) throw new ValueError(`expected a number > 0 and ≤ 100, got ${JSON.stringify(value)}`);
  return n;
}

function parseRounds(value: unknown): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new ValueError(`expected a whole number 1..100, got ${JSON.stringify(value)}`);
  return n;
}

function listOf(value: unknown): string[] {
  return (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(',')).map((s) => s.trim()).filter(Boolean);
}

function listParser<T extends string>(known: readonly T[]): (value: unknown) => T[] {
  return (value) => {
    const parts = listOf(value);
    const bad = parts.filter((p) => !(known as readonly string[]).includes(p));
    if (parts.length === 0 || bad.length) {
      throw new ValueError(`unknown ${bad.length ? `'${bad.join("', '")}'` : 'empty list'} (choose from ${known.join(', ')})`);
    }
    return known.filter((k) => parts.includes(k));
  };
}

/** Client process counts: whole numbers 1..64 (a shell loop's worth, not a fork bomb), sorted, once each. */
function parseClients(value: unknown): number[] {
  const parts = listOf(value);
  const bad = parts.filter((p) => !/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 64);
  if (parts.length === 0 || bad.length) {
    throw new ValueError(`expected client process counts 1..64, comma-separated (e.g. 1,4,8), got ${JSON.stringify(value)}`);
  }
  return [...new Set(parts.map(Number))].sort((a, b) => a - b);
}

function parseClientKind(value: unknown): ClientKind {
  if (typeof value === 'string' && (CLIENT_KINDS as readonly string[]).includes(value)) return value as ClientKind;
  throw new ValueError(`expected one of ${CLIENT_KINDS.join('|')}, got ${JSON.stringify(value)}`);
}

export const benchOptions = {
  dir: option({
    describe: 'Put the files here (empty or new; all configurations use this filesystem)',
    cli: 'string',
    placeholder: 'DIR',
    default: undefined,
    defaultDescription: 'a new directory under $TMPDIR or /tmp',
    parse: parsePath,
  }),
  quick: option({
    describe:
      `A run of under a minute: --scale ${QUICK.scale}, --rounds ${QUICK.rounds}, --clients ${QUICK.clients.join(',')} ` +
      '(each still settable); rough figures, for a first look',
    cli: 'boolean',
    default: false,
    parse: parseBoolean,
  }),
  scale: option({
    describe: 'Multiply file counts and sizes (1: 25,000 × 4 KiB … 100 × 10 MiB, a 2000 MiB dd)',
    cli: 'number',
    placeholder: 'F',
    default: undefined,
    defaultDescription: `${FULL.scale}; --quick: ${QUICK.scale}`,
    parse: parseScale,
  }),
  rounds: option({
    describe: 'Rounds of every workload on every configuration, in alternation',
    cli: 'number',
    placeholder: 'N',
    default: undefined,
    defaultDescription: `${FULL.rounds}; --quick: ${QUICK.rounds}`,
    parse: parseRounds,
  }),
  clients: option({
    describe: 'Client processes at once in the concurrent small-file workloads (group clients), one run per count',
    cli: 'string',
    placeholder: 'P,P…',
    default: undefined,
    defaultDescription: `${FULL.clients.join(',')}; --quick: ${QUICK.clients.join(',')}`,
    parse: parseClients,
  }),
  client: option({
    describe: 'What the concurrent clients are: a C program compiled with cc at the start, or Node',
    cli: 'string',
    placeholder: CLIENT_KINDS.join('|'),
    default: 'auto' as ClientKind,
    defaultDescription: 'auto: c where cc works, else node',
    parse: parseClientKind,
  }),
  dropCaches: option({
    describe:
      "Drop the machine's page, dentry and inode caches before each cold step (echo 3 > /proc/sys/vm/drop_caches); " +
      '--no-drop-caches leaves the cold steps out and the report says so',
    cli: 'boolean',
    default: true,
    parse: parseBoolean,
  }),
  entryTimeout: option({
    describe: 'Entry timeout of the tsfuse servers (passthrough_hp has 86400, or 0 when both timeouts are 0)',
    cli: 'number',
    placeholder: 'SECONDS',
    default: 1,
    parse: parseSeconds,
  }),
  attrTimeout: option({
    describe: 'Attribute timeout of the tsfuse servers (as --entry-timeout)',
    cli: 'number',
    placeholder: 'SECONDS',
    default: 1,
    parse: parseSeconds,
  }),
  threads: option({
    describe: 'Threads serving each tsfuse mount (as tsfuse mount --threads)',
    cli: 'string',
    placeholder: 'N',
    default: 1,
    parse: (value: unknown) => parseThreads(value, MAX_THREADS),
  }),
  ioUring: option({
    describe:
      'FUSE over io_uring for every server (as tsfuse mount --io-uring; passthrough_hp gets -o io_uring): off|on|require. ' +
      'Needs the fuse module\'s enable_uring on (as root: echo Y > /sys/module/fuse/parameters/enable_uring). Alone: on',
    cli: 'string',
    placeholder: 'MODE',
    bareValue: 'on',
    default: 'off',
    parse: parseIoUring,
  }),
  configs: option({
    describe: `Configurations, comma-separated: ${CONFIGS.join(',')}`,
    cli: 'string',
    placeholder: 'LIST',
    default: [...CONFIGS] as ConfigName[],
    defaultDescription: CONFIGS.join(','),
    parse: listParser<ConfigName>(CONFIGS),
  }),
  workloads: option({
    describe: `Workload groups, comma-separated: ${GROUP_NAMES.join(',')}`,
    cli: 'string',
    placeholder: 'LIST',
    default: [...GROUP_NAMES] as GroupName[],
    defaultDescription: 'all',
    parse: listParser<GroupName>(GROUP_NAMES),
  }),
  targets: option({
    describe: "Also check the project's speed targets (passthrough within 5% of native, …) and say which are met",
    cli: 'boolean',
    default: false,
    parse: parseBoolean,
  }),
  json: option({
    describe: 'Print the results as JSON instead of the table',
    cli: 'boolean',
    default: false,
    parse: parseBoolean,
  }),
  markdown: option({
    describe: 'Also write the table as Markdown to this file',
    cli: 'string',
    placeholder: 'FILE',
    default: undefined,
    parse: parsePath,
  }),
  svg: option({
    describe: 'Also write a bar chart of the ratios to native as SVG to this file',
    cli: 'string',
    placeholder: 'FILE',
    default: undefined,
    parse: parsePath,
  }),
  force: option({
    describe: 'Run even if --dir has content (in a new subdirectory of it)',
    cli: 'boolean',
    default: false,
    parse: parseBoolean,
  }),
  passthroughHp: option({
    describe:
      "Also measure libfuse's example/passthrough_hp (this built binary, its defaults, with passthrough; " +
      'give --entry-timeout 86400 --attr-timeout 86400 to compare at equal timeouts) ' +
      'as a configuration passthrough_hp, in alternation with the others; see bench/README.md to build it',
    cli: 'string',
    placeholder: 'PATH',
    default: undefined,
    defaultDescription: 'not measured',
    parse: parsePath,
  }),
};

export const benchCommand = defineCommand({
  name: 'bench',
  describe: 'Time workloads on a native directory and on tsfuse mounts without and with passthrough',
  positionals: [],
  options: benchOptions,
  epilogue:
    'Mounts tsfuse loopbacks of directories beside the native one, each served by a process of its own ' +
    '(bench/server.ts; TSFUSE_BENCH_SERVER=cli: `tsfuse mount`), runs every workload on each configuration ' +
    'round after round in alternation, reports medians and the median of the per-round ratios to native, then ' +
    'unmounts and removes its files. With --passthrough-hp, libfuse\'s passthrough_hp is mounted and measured the same way. ' +
    'The group clients runs P client processes at once, each creating, reading, then stat-ing 4 KiB files of its own, ' +
    'and reports ops/s. Needs root to mount and to drop caches before cold reads. fio jobs run where ' +
    'fio is installed. See bench/README.md.',
  async run(args: RunArgs<typeof benchOptions>): Promise<number> {
    const o = args.options;
    if (process.geteuid?.() !== 0 && (o.configs.some((c) => c !== 'native') || o.passthroughHp !== undefined)) {
      throw new CliError('tsfuse bench mounts FUSE loopbacks and must run as root (or use --configs native)');
    }
    try {
      return await runBench(
        {
          ...resolveProfile(o.quick, { scale: o.scale, rounds: o.rounds, clients: o.clients }),
          dir: o.dir,
          json: o.json,
          markdown: o.markdown,
          svg: o.svg,
          force: o.force,
          passthroughHp: o.passthroughHp,
          configs: o.configs,
          workloads: o.workloads,
          dropCaches: o.dropCaches,
          targets: o.targets,
          client: o.client,
          entryTimeout: o.entryTimeout,
          attrTimeout: o.attrTimeout,
          threads: o.threads,
          ioUring: o.ioUring,
          command: ['tsfuse', ...args.args].join(' '),
        },
        {
          out: (text) => args.log.info(text.replace(/\n$/, '')),
          err: (text) => process.stderr.write(text),
          errIsTTY: process.stderr.isTTY === true,
        },
      );
    } catch (err) {
      if (err instanceof BenchError) throw new CliError(err.message);
      throw err;
    }
  },
});
