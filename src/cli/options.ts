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
  /** How yargs reads the flag. */
  cli: 'string' | 'boolean';
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

/** A count of serving threads, 1 … `max`. */
export function parseThreads(value: unknown, max: number): number {
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > max) throw new ValueError(`expected a whole number from 1 to ${max}, got ${show(value)}`);
  return n;
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
}

/** mount(8) splits its -o list on commas and '=', /proc/mounts on whitespace (kernel/mount.ts checks the same). */
export const MOUNT_NAME = /^[^\s,=\\]+$/;

export const MOUNT_OPTION_NAMES = ['allow_other', 'default_permissions', 'ro', 'rw', 'fsname=NAME', 'subtype=NAME'];

export function parseMountOptions(value: unknown): FuseMountOptions {
  const parts = Array.isArray(value) ? value : [value];
  const out: FuseMountOptions = { allowOther: false, defaultPermissions: false, readOnly: false };
  for (const part of parts) {
    if (typeof part !== 'string') throw new ValueError(`expected comma-separated mount options, got ${show(part)}`);
    for (const item of part.split(',')) {
      if (item === '') continue;
      const eq = item.indexOf('=');
      const name = eq < 0 ? item : item.slice(0, eq);
      const arg = eq < 0 ? undefined : item.slice(eq + 1);
      switch (name) {
        case 'allow_other':
        case 'default_permissions':
        case 'ro':
        case 'rw':
          if (arg !== undefined) throw new ValueError(`mount option ${name} takes no value`);
          if (name === 'allow_other') out.allowOther = true;
          else if (name === 'default_permissions') out.defaultPermissions = true;
          else out.readOnly = name === 'ro';
          break;
        case 'fsname':
        case 'subtype':
          if (!arg || !MOUNT_NAME.test(arg)) throw new ValueError(`mount option ${name}= needs a name without spaces, commas, '=' or '\\'`);
          out[name] = arg;
          break;
        default:
          throw new ValueError(`unknown mount option '${name}' (known: ${MOUNT_OPTION_NAMES.join(', ')})`);
      }
    }
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
 * (`"attr-timeout"` or `"attrTimeout"`). Unknown keys are errors, so a typo
 * does not pass silently.
 */
export function readConfigFile(file: string, tables: readonly OptionTable[]): ConfigFile {
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
      throw new UsageError(`config file ${file}: unknown option "${name}" (known: ${[...known].map(flagName).join(', ')})`);
    }
    values[key] = value;
  }
  return { path: file, values };
}

/**
 * Rewrites the raw command line before yargs sees it:
 * - a flag with a `bareValue` given without a value (`--passthrough SRC MNT`)
 *   becomes `--passthrough=rw`, so yargs does not take SRC as its value;
 * - `--flag=VALUE` on a boolean flag must be true/false (yargs would quietly
 *   read any other word as false);
 * - `--flag VALUE` with a VALUE the option refuses is reported as such: it is
 *   most likely a positional the flag swallowed (`umount --wait MNT`), and
 *   "umount needs MNT" would not say so.
 */
export function normalizeArgs(args: readonly string[], tables: readonly OptionTable[]): string[] {
  const specs = new Map<string, { key: string; spec: OptionSpec<unknown, unknown> }>();
  for (const table of tables) {
    for (const [key, spec] of Object.entries(table)) {
      specs.set(`--${flagName(key)}`, { key, spec });
      if (spec.alias) specs.set(spec.alias.length === 1 ? `-${spec.alias}` : `--${spec.alias}`, { key, spec });
    }
  }
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    const eq = arg.indexOf('=');
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const found = arg.startsWith('-') ? specs.get(flag) : undefined;
    if (found?.spec.cli === 'boolean' && eq >= 0) {
      try {
        parseBoolean(arg.slice(eq + 1));
      } catch (err) {
        throw new UsageError(`${flag}: ${(err as Error).message}`);
      }
    }
    if (found?.spec.bareValue !== undefined && eq < 0) {
      const next = args[i + 1];
      if (next === undefined || next.startsWith('-') || !accepts(found.spec, next)) {
        out.push(`${flag}=${found.spec.bareValue}`);
        continue;
      }
    }
    if (found?.spec.cli === 'string' && eq < 0) {
      // `umount --wait MNT` takes MNT as the value: say what is wrong with it rather than
      // that MNT is missing.
      const next = args[i + 1];
      const why = next === undefined || next.startsWith('-') ? undefined : refusal(found.spec, next);
      if (why !== undefined) throw new UsageError(`${flag}: ${why}`);
    }
    out.push(arg);
  }
  return out;
}

/** Why `spec` refuses `value` as a command-line value, or undefined if it takes it. */
function refusal(spec: OptionSpec<unknown, unknown>, value: string): string | undefined {
  try {
    spec.parse(value, '/');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function accepts(spec: OptionSpec<unknown, unknown>, value: string): boolean {
  return refusal(spec, value) === undefined;
}
