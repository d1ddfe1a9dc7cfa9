/**
 * One table per command says what each option is; the yargs builder, --help,
 * the TSFUSE_* variables, the config file and validation are all read from it.
 *
 * Precedence, per option: command line > environment (TSFUSE_<NAME>) >
 * config file (--config FILE or TSFUSE_CONFIG) > built-in default. An option
 * is taken whole from the first layer that sets it: `-o` on the command line
 * replaces TSFUSE_OPTIONS rather than adding to it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from './errors';

/** What went wrong with one value; the resolver prefixes where it came from. */
export class ValueError extends Error {}

/** T: what `parse` yields; D: the default, which may be narrower or undefined. */
export interface OptionSpec<T, D extends T | undefined = T> {
  describe: string;
  /**
   * How yargs reads the flag, and the type --help shows. A 'number' reaches yargs only after
   * normalizeArgs has seen `parse` accept it, so yargs' own conversion never meets a bad one.
   */
  cli: 'string' | 'number' | 'boolean';
  alias?: string;
  /** Placeholder shown in --help, e.g. 'SECONDS'. */
  placeholder?: string;
  default: D;
  /** The default as --help shows it, when `default` alone would not say it. */
  defaultDescription?: string;
  /** Turns a value from any layer into T; `baseDir` anchors relative paths. Throws ValueError. */
  parse(value: unknown, baseDir: string): T;
  /** The flag may be given alone (`--passthrough`): it then means this value. */
  bareValue?: string;
  /** Given several times, the values are joined (`-o a -o b`), not the last one kept. */
  repeatable?: boolean;
  /** Internal plumbing: command line only, not in --help, TSFUSE_* or config files. */
  internal?: boolean;
}

/** A table mixes specs of every type, hence `any`. */
export type OptionTable = Record<string, OptionSpec<any, any>>;
export type Resolved<S extends OptionTable> = {
  [K in keyof S]: S[K] extends OptionSpec<infer T, infer D> ? T | D : never;
};

export const ENV_PREFIX = 'TSFUSE_';

/** attrTimeout → attr-timeout. */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** attrTimeout → TSFUSE_ATTR_TIMEOUT. */
export function envName(key: string): string {
  return ENV_PREFIX + flagName(key).replace(/-/g, '_').toUpperCase();
}

/** attr-timeout → attrTimeout (config files may use either spelling). */
export function camelKey(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

function show(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : JSON.stringify(value) ?? String(value);
}

// ---- value parsers -------------------------------------------------------

export function parseBoolean(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const v = value.toLowerCase();
    if (v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
  }
  throw new ValueError(`expected true or false, got ${show(value)}`);
}

/** Seconds, fractions allowed: the kernel takes entry/attr validity as seconds + nanoseconds. */
export function parseSeconds(value: unknown): number {
  let n = NaN;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^(\d+(\.\d*)?|\.\d+)$/.test(value.trim())) n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new ValueError(`expected a number of seconds ≥ 0, got ${show(value)}`);
  return n;
}

export function parsePath(value: unknown, baseDir: string): string {
  if (typeof value !== 'string' || value === '') throw new ValueError(`expected a path, got ${show(value)}`);
  return path.resolve(baseDir, value);
}

export const PASSTHROUGH_MODES = ['off', 'ro', 'wo', 'rw', 'require'] as const;
/**
 * Which opens get FUSE passthrough: none, read-only opens, write-only opens,
 * all; `require` is `rw` and fails the mount when the kernel does not grant it.
 */
export type PassthroughMode = (typeof PASSTHROUGH_MODES)[number];

export function parsePassthrough(value: unknown): PassthroughMode {
  if (value === true) return 'rw';
  if (value === false) return 'off';
  if (typeof value === 'string' && (PASSTHROUGH_MODES as readonly string[]).includes(value)) {
    return value as PassthroughMode;
  }
  throw new ValueError(`expected one of ${PASSTHROUGH_MODES.join('|')}, got ${show(value)}`);
}

export const IO_URING_MODES = ['off', 'on', 'require'] as const;
export type IoUringOption = (typeof IO_URING_MODES)[number];

/** --io-uring / -o io_uring: off, on (fall back to /dev/fuse with one line), require. */
export function parseIoUring(value: unknown): IoUringOption {
  if (value === true) return 'on';
  if (value === false) return 'off';
  if (typeof value === 'string' && (IO_URING_MODES as readonly string[]).includes(value)) return value as IoUringOption;
  throw new ValueError(`expected one of ${IO_URING_MODES.join('|')}, got ${show(value)}`);
}

export const POSIX_LOCK_KEEPERS = ['server', 'kernel'] as const;

export function parsePosixLocks(value: unknown): (typeof POSIX_LOCK_KEEPERS)[number] {
  if (typeof value === 'string' && (POSIX_LOCK_KEEPERS as readonly string[]).includes(value)) {
    return value as (typeof POSIX_LOCK_KEEPERS)[number];
  }
  throw new ValueError(`expected one of ${POSIX_LOCK_KEEPERS.join('|')}, got ${show(value)}`);
}

/** The kernel enables passthrough only with max_stack_depth 1 or 2 (0 and 3 silently disable it). */
export function parseStackDepth(value: unknown): 1 | 2 {
  if (value === 1 || value === '1') return 1;
  if (value === 2 || value === '2') return 2;
  throw new ValueError(`expected 1 or 2, got ${show(value)}`);
}

/** A whole number from `min` to `max` (a count, whole seconds). */
export function parseWholeNumber(value: unknown, min: number, max: number): number {
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw new ValueError(`expected a whole number from ${min} to ${max}, got ${show(value)}`);
  return n;
}

/** A count of serving threads, 1 … `max`. */
export function parseThreads(value: unknown, max: number): number {
  return parseWholeNumber(value, 1, max);
}

/** A file descriptor this process inherited (the daemon's readiness pipe). */
export function parseFd(value: unknown): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 3) throw new ValueError(`expected an fd ≥ 3, got ${show(value)}`);
  return n;
}

/** The FUSE mount options `-o` understands, in libfuse's comma form. */
export interface FuseMountOptions {
  /** allow_other: users other than the mounter may access the mount. */
  allowOther: boolean;
  /** default_permissions: the kernel checks permissions from the attributes. */
  defaultPermissions: boolean;
  /** ro (rw clears it). */
  readOnly: boolean;
  /** fsname=NAME: the source column of /proc/mounts (default: SRC). */
  fsname?: string;
  /** subtype=NAME: the type shows as fuse.NAME (default: tsfuse). */
  subtype?: string;
  /** suid / nosuid (default nosuid, as libfuse). */
  suid?: boolean;
  /** dev / nodev (default nodev, as libfuse). */
  dev?: boolean;
  /** noexec / exec. */
  noexec?: boolean;
  atime?: 'noatime' | 'relatime' | 'strictatime';
  /** max_read=BYTES. */
  maxRead?: number;
  /** auto_unmount: the mount goes away when the server dies. */
  autoUnmount?: boolean;
  /** allow_root: like allow_other, for root only. */
  allowRoot?: boolean;
  /** allow_idmap: idmapped mounts of this mount may be made (FUSE_ALLOW_IDMAP; needs default_permissions). */
  allowIdmap?: boolean;
}

/** mount(8) splits its -o list on commas and '=', /proc/mounts on whitespace (kernel/mount.ts checks the same). */
export const MOUNT_NAME = /^[^\s,=\\]+$/;

export const MOUNT_OPTION_NAMES = [
  'allow_other', 'allow_root', 'default_permissions', 'ro', 'rw', 'nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec',
  'noatime', 'relatime', 'strictatime', 'fsname=NAME', 'subtype=NAME', 'max_read=BYTES', 'auto_unmount', 'allow_idmap', 'x-* (ignored)',
];

/** Flags without a value: what each sets. */
const MOUNT_FLAGS: Record<string, (o: FuseMountOptions) => void> = {
  allow_other: (o) => (o.allowOther = true),
  allow_root: (o) => (o.allowRoot = true),
  default_permissions: (o) => (o.defaultPermissions = true),
  ro: (o) => (o.readOnly = true),
  rw: (o) => (o.readOnly = false),
  suid: (o) => (o.suid = true),
  nosuid: (o) => (o.suid = false),
  dev: (o) => (o.dev = true),
  nodev: (o) => (o.dev = false),
  exec: (o) => (o.noexec = false),
  noexec: (o) => (o.noexec = true),
  noatime: (o) => (o.atime = 'noatime'),
  relatime: (o) => (o.atime = 'relatime'),
  strictatime: (o) => (o.atime = 'strictatime'),
  auto_unmount: (o) => (o.autoUnmount = true),
  allow_idmap: (o) => (o.allowIdmap = true),
};

/**
 * What mount(8) and fstab put in the list for themselves (mount.fuse3 passes some on): they
 * mean nothing to the filesystem, so they are ignored, as is every x-* option (mount(8)'s rule
 * for options meant for other programs, e.g. x-systemd.automount).
 */
const MOUNT8_OWN = new Set(['defaults', 'auto', 'noauto', 'user', 'nouser', 'users', 'owner', 'group', 'nofail', '_netdev']);

export function parseMountOptions(value: unknown): FuseMountOptions {
  const parts = Array.isArray(value) ? value : [value];
  const out: FuseMountOptions = { allowOther: false, defaultPermissions: false, readOnly: false };
  const unknown: string[] = [];
  for (const part of parts) {
    if (typeof part !== 'string') throw new ValueError(`expected comma-separated mount options, got ${show(part)}`);
    for (const item of part.split(',')) {
      if (item === '') continue;
      const eq = item.indexOf('=');
      const name = eq < 0 ? item : item.slice(0, eq);
      const arg = eq < 0 ? undefined : item.slice(eq + 1);
      if (name.startsWith('x-') || MOUNT8_OWN.has(name)) continue;
      const flag = MOUNT_FLAGS[name];
      if (flag) {
        if (arg !== undefined) throw new ValueError(`mount option ${name} takes no value`);
        flag(out);
      } else if (name === 'fsname' || name === 'subtype') {
        if (!arg || !MOUNT_NAME.test(arg)) throw new ValueError(`mount option ${name}= needs a name without spaces, commas, '=' or '\\'`);
        out[name] = arg;
      } else if (name === 'max_read') {
        const n = arg === undefined || !/^\d+$/.test(arg) ? NaN : Number(arg);
        if (!(n > 0 && n <= 0xffffffff)) throw new ValueError(`mount option max_read= needs a positive number of bytes`);
        out.maxRead = n;
      } else {
        unknown.push(name);
      }
    }
  }
  if (unknown.length > 0) {
    const list = unknown.map((n) => `'${n}'`).join(', ');
    throw new ValueError(`unknown mount option${unknown.length > 1 ? 's' : ''} ${list} (known: ${MOUNT_OPTION_NAMES.join(', ')})`);
  }
  return out;
}

/** Builds a spec with T inferred from `parse` and D from `default` (kept literal: 'off', undefined). */
export function option<T, const D extends T | undefined>(spec: OptionSpec<T, D>): OptionSpec<T, D> {
  return spec;
}

// ---- layers --------------------------------------------------------------

export interface ConfigFile {
  path: string;
  /** Keys in camelCase, as the tables have them. */
  values: Record<string, unknown>;
}

export interface Layers {
  /** yargs' argv with camelCase keys; an option absent from the command line is undefined. */
  cli: Record<string, unknown>;
  env: Record<string, string | undefined>;
  config?: ConfigFile;
  /** Relative paths on the command line and in the environment are taken from here. */
  cwd: string;
}

/** Every option resolved through command line > environment > config file > default. */
export function resolveOptions<S extends OptionTable>(table: S, layers: Layers): Resolved<S> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) {
    let value: unknown = spec.default;
    const fromCli = layers.cli[key];
    const fromEnv = spec.internal ? undefined : layers.env[envName(key)];
    const config = spec.internal ? undefined : layers.config;
    if (fromCli !== undefined) {
      value = parseWith(spec, cliValue(spec, fromCli), layers.cwd, `--${flagName(key)}`);
    } else if (fromEnv !== undefined) {
      value = parseWith(spec, fromEnv, layers.cwd, envName(key));
    } else if (config !== undefined && config.values[key] !== undefined) {
      // Relative paths in a config file are relative to the file, not to wherever tsfuse runs.
      value = parseWith(spec, config.values[key], path.dirname(config.path), `${config.path}: "${flagName(key)}"`);
    }
    out[key] = value;
  }
  return out as Resolved<S>;
}

function cliValue(spec: OptionSpec<unknown, unknown>, raw: unknown): unknown {
  // yargs turns a repeated flag into an array; for a single-valued option the last one wins.
  if (Array.isArray(raw) && !spec.repeatable) return raw[raw.length - 1];
  return raw;
}

function parseWith(spec: OptionSpec<unknown, unknown>, raw: unknown, baseDir: string, where: string): unknown {
  try {
    return spec.parse(raw, baseDir);
  } catch (err) {
    if (err instanceof ValueError) throw new UsageError(`${where}: ${err.message}`);
    throw err;
  }
}

/**
 * Reads a JSON config file: one object whose keys are option names
 * (`"attr-timeout"` or `"attrTimeout"`). `tables` are the options of the
 * command that reads it: any other key is an error, as on its command line,
 * so that neither a typo nor an option the command ignores passes silently.
 */
export function readConfigFile(file: string, tables: readonly OptionTable[], elsewhere?: (key: string) => string | undefined): ConfigFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new UsageError(`config file ${file}: ${why}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`config file ${file}: not valid JSON (${(err as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UsageError(`config file ${file}: expected a JSON object of option names and values`);
  }
  const known = new Set<string>();
  for (const table of tables) {
    for (const [key, spec] of Object.entries(table)) if (!spec.internal && key !== 'config') known.add(key);
  }
  const values: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(parsed)) {
    const key = camelKey(name);
    if (!known.has(key)) {
      const where = elsewhere?.(key);
      throw new UsageError(`config file ${file}: unknown option "${name}" (${where ? `${where}; ` : ''}known: ${[...known].map(flagName).join(', ')})`);
    }
    values[key] = value;
  }
  return { path: file, values };
}

/** What normalizeArgs knows about the command it reads, beyond its options. */
export interface ArgsContext {
  /**
   * How many words that are not options the command takes, its own name included. A word that
   * a flag which may stand alone (`--passthrough`) refused is left a positional; one word too
   * many then means it was meant as that flag's value (`--passthrough bogus SRC MNT`).
   */
  positionals?: number;
  /** Where an option missing from the tables belongs instead ("an option of umount"), if anywhere. */
  elsewhere?: (flag: string) => string | undefined;
}

/** yargs' own flags. */
const BUILTIN_FLAGS: ReadonlySet<string> = new Set(['--help', '-h', '--version']);

/**
 * Rewrites and checks the raw command line before yargs sees it:
 * - a flag that is in none of `tables` is an error, said with the flag as typed (yargs would
 *   report a camelCase name, or take the next word as its value and then miss a positional);
 * - a flag with a `bareValue` given without a value (`--passthrough SRC MNT`) becomes
 *   `--passthrough=rw`, so yargs does not take SRC as its value;
 * - every value given on the command line must be one the option takes: `--flag VALUE` with a
 *   VALUE it refuses is most likely a positional the flag swallowed (`umount --wait MNT`), and
 *   "umount needs MNT" would not say so; `--debug=yes` would quietly be false to yargs.
 */
export function normalizeArgs(args: readonly string[], tables: readonly OptionTable[], context: ArgsContext = {}): string[] {
  const specs = flagSpecs(tables);
  const out: string[] = [];
  let positionals = 0;
  /** Why a bare flag refused the word after it, in case that word turns out to be one too many. */
  let refusedWord: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') {
      positionals += args.length - i - 1;
      out.push(...args.slice(i));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals++;
      out.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const spec = specs.get(flag) ?? negatedBoolean(specs, flag);
    if (spec === undefined) {
      if (BUILTIN_FLAGS.has(flag)) {
        out.push(arg);
        continue;
      }
      const where = context.elsewhere?.(flag);
      throw new UsageError(`unknown option ${flag}${where ? ` (${where})` : ''}`);
    }
    const value = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (spec.cli === 'boolean' || value !== undefined) {
      // A boolean's value only ever comes after '=': `--debug SRC` leaves SRC a positional.
      if (value !== undefined) refuseValue(flag, spec, value);
      out.push(arg);
      continue;
    }
    const next = args[i + 1];
    // As yargs reads it: the next word is the value unless it is a flag (a negative number is not).
    const nextIsValue = next !== undefined && (!next.startsWith('-') || /^-\d/.test(next));
    if (spec.bareValue !== undefined && (!nextIsValue || refusal(spec, next) !== undefined)) {
      if (nextIsValue && !next.startsWith('-')) refusedWord ??= `${flag}: ${refusal(spec, next)}`;
      out.push(`${flag}=${spec.bareValue}`);
      continue;
    }
    out.push(arg);
    if (nextIsValue) {
      refuseValue(flag, spec, next);
      out.push(next);
      i++;
    }
    // else no value at all: yargs says "--flag needs a value".
  }
  if (refusedWord !== undefined && context.positionals !== undefined && positionals > context.positionals) {
    throw new UsageError(refusedWord);
  }
  return out;
}

/** Every flag of `tables` as typed (`--attr-timeout`, `-o`), with its spec. */
function flagSpecs(tables: readonly OptionTable[]): Map<string, OptionSpec<unknown, unknown>> {
  const specs = new Map<string, OptionSpec<unknown, unknown>>();
  for (const table of tables) {
    for (const [key, spec] of Object.entries(table)) {
      specs.set(`--${flagName(key)}`, spec);
      if (spec.alias) specs.set(spec.alias.length === 1 ? `-${spec.alias}` : `--${spec.alias}`, spec);
    }
  }
  return specs;
}

/** yargs reads `--no-debug` as `--debug=false`. */
function negatedBoolean(specs: Map<string, OptionSpec<unknown, unknown>>, flag: string): OptionSpec<unknown, unknown> | undefined {
  const spec = flag.startsWith('--no-') ? specs.get(`--${flag.slice('--no-'.length)}`) : undefined;
  return spec?.cli === 'boolean' ? spec : undefined;
}

function refuseValue(flag: string, spec: OptionSpec<unknown, unknown>, value: string): void {
  const why = refusal(spec, value);
  if (why !== undefined) throw new UsageError(`${flag}: ${why}`);
}

/** Why `spec` refuses `value` as a command-line value, or undefined if it takes it. */
export function refusal(spec: OptionSpec<unknown, unknown>, value: string): string | undefined {
  try {
    spec.parse(value, '/');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
