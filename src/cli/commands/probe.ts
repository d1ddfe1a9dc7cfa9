import { defineCommand, type RunArgs } from '../command';
import { CliError } from '../errors';
import { option, parseBoolean, parsePath } from '../options';
import { statDirectory } from '../paths';
import { probeExitCode, probeKernel, verdictLine, type ProbeResult } from '../../kernel/probe';

export const probeOptions = {
  json: option({
    describe: 'Print the result as JSON (format: docs/probe.md)',
    cli: 'boolean',
    default: false,
    parse: parseBoolean,
  }),
  backing: option({
    describe: 'Also measure the stack depth of this backing directory (passthrough to overlayfs/FUSE needs max_stack_depth 2)',
    cli: 'string',
    placeholder: 'DIR',
    default: undefined,
    parse: parsePath,
  }),
};

export const probeCommand = defineCommand({
  name: 'probe',
  describe: 'Report what this kernel and user allow a FUSE server, and whether passthrough works',
  positionals: [],
  options: probeOptions,
  epilogue:
    'The verdicts come from a live check: a throw-away FUSE mount on a temporary directory (in a new user\n' +
    'namespace when this process may not mount), its INIT offer, and BACKING_OPEN/CLOSE on a temporary file.\n' +
    'Exit status: 0 passthrough usable, 1 not usable, 2 the probe could not run.',
  async run(args: RunArgs<typeof probeOptions>): Promise<number> {
    // Exit status 1 would say "passthrough unusable"; a mistyped DIR means the probe could not run.
    if (args.options.backing !== undefined) statDirectory('--backing', args.options.backing, 2);
    let probe: ProbeResult;
    try {
      probe = await probeKernel({ backing: args.options.backing });
    } catch (err) {
      throw new CliError(`probe failed: ${(err as Error)?.message ?? String(err)}`, 2);
    }
    args.log.info(args.options.json ? JSON.stringify(probe, null, 2) : formatProbe(probe));
    return probeExitCode(probe);
  },
});

const yesNo = (b: boolean): string => (b ? 'yes' : 'no');

/**
 * Which ways of mounting this user has: mount(8) needs the privilege the live check used;
 * fusermount3 must be setuid root, and it opens /dev/fuse with the user's own permissions.
 */
function mountRoutes(p: ProbeResult): string {
  const why = !p.fusermount3
    ? ' (not installed)'
    : !(p.how.fusermount3 ?? '').includes('(setuid root)')
      ? ' (not setuid root)'
      : !p.devFuse.openable
        ? ' (/dev/fuse not readable and writable by this user)'
        : '';
  return `mount(8) ${yesNo(p.canMount)}, fusermount3 ${why ? `no${why}` : 'yes'}`;
}

/** The human form: name, value, how it was found; then the verdict line. */
export function formatProbe(p: ProbeResult): string {
  const rows: [string, string, string][] = [];
  const how = (key: string): string => p.how[key] ?? '';
  rows.push(['kernel', p.kernel, how('kernel')]);
  rows.push(['/dev/fuse', p.devFuse.openable ? 'opens read-write' : p.devFuse.exists ? `cannot open (${p.devFuse.errno})` : 'missing', how('devFuse')]);
  rows.push(['CAP_SYS_ADMIN', `${yesNo(p.capSysAdmin)}${p.initialUserNs ? '' : ' (not the initial user namespace)'}`, how('privilege')]);
  rows.push(['can mount', yesNo(p.canMount), how('canMount')]);
  rows.push(['fusermount3', p.fusermount3Path ?? 'not installed', how('fusermount3')]);
  rows.push(['mount routes', mountRoutes(p), 'tsfuse mount takes mount(8) as root, else fusermount3']);
  rows.push(['protocol', p.protocol ?? 'unknown', how('protocol')]);
  rows.push(['max_readahead', p.maxReadahead === null ? 'unknown' : String(p.maxReadahead), how('maxReadahead')]);
  const words = p.flagWords === null ? '' : ` (flags ${p.flagWords.flags}, flags2 ${p.flagWords.flags2})`;
  rows.push(['INIT flags', `${p.flags.length} offered${words}`, how('flags')]);
  for (const line of wrap(p.flags.map((f) => f.replace(/^FUSE_/, '')), 72)) rows.push(['', line, '']);
  const pt = p.passthrough;
  const ptValue = `${pt.offered ? 'offered' : 'not offered'}, ${pt.usable ? `usable (max_stack_depth ${pt.maxStackDepth})` : `unusable${pt.errno ? ` (${pt.errno})` : ''}`}`;
  rows.push(['passthrough', ptValue, how('passthrough')]);
  rows.push([
    'io_uring',
    `${p.ioUring.usable === true ? 'usable (--io-uring)' : p.ioUring.usable === false ? `refused: ${p.ioUring.errno}` : p.ioUring.offered ? 'offered' : 'not offered'}, enable_uring=${p.ioUring.enableUring ? 'Y' : 'N'}`,
    how('ioUring'),
  ]);
  const b = p.stackDepth.backing;
  const depth = b === null
    ? `kernel limit ${p.stackDepth.kernelMax}`
    : `${b.path}: ${b.fsType ?? '?'}, depth ${b.depth ?? '?'}` +
      (b.maxStackDepth === null ? '' : ` -> max_stack_depth ${b.maxStackDepth}`);
  rows.push(['stack depth', depth, how('stackDepth')]);
  const c = p.config;
  rows.push([
    'kernel config',
    c.source === null ? 'unavailable' : `FUSE_PASSTHROUGH=${c.FUSE_PASSTHROUGH ?? '?'} FUSE_IO_URING=${c.FUSE_IO_URING ?? '?'}`,
    how('config'),
  ]);
  rows.push(['took', `${p.durationMs} ms`, '']);

  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.filter((r) => r[2] !== '').map((r) => r[1].length));
  const lines = rows.map(([a, v, h]) => (h ? `${a.padEnd(w0)}  ${v.padEnd(w1)}  ${h}` : `${a.padEnd(w0)}  ${v}`).trimEnd());
  return [...lines, verdictLine(p)].join('\n');
}

function wrap(words: string[], width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}
