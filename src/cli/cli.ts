import * as fs from 'node:fs';
import * as path from 'node:path';
import yargs from 'yargs';
import type { Argv } from 'yargs';
import { commonOptions, type Command } from './command';
import { benchCommand } from './commands/bench';
import { mountCommand } from './commands/mount';
import { probeCommand } from './commands/probe';
import { umountCommand } from './commands/umount';
import { CliError, UsageError } from './errors';
import { Logger } from './log';
import { expandOptionKeys, fromMountHelper } from './mount-helper';
import {
  ENV_PREFIX,
  envName,
  flagName,
  normalizeArgs,
  readConfigFile,
  refusal,
  resolveOptions,
  type OptionSpec,
  type OptionTable,
} from './options';

/** Every subcommand; probe and bench join this list. */
export const COMMANDS: readonly Command[] = [mountCommand, umountCommand, probeCommand, benchCommand];

const ALL_TABLES: readonly OptionTable[] = [commonOptions, ...COMMANDS.map((c) => c.options)];

const PRECEDENCE = [
  'Every option can also be set in the environment as TSFUSE_<OPTION> (e.g. TSFUSE_ATTR_TIMEOUT=5,',
  'TSFUSE_DEBUG=1) or in a JSON config file named by --config FILE or TSFUSE_CONFIG (e.g.',
  '{"attr-timeout": 5, "options": "allow_other,ro"}; relative paths there are relative to the file).',
  'Precedence, per option: command line > environment > config file > default. An option is taken',
  'whole from the first that sets it: -o on the command line replaces TSFUSE_OPTIONS.',
].join('\n');

const EXIT_STATUS = 'Exit status: 0 success, 1 failure, 2 bad command line, environment or config file.';

/** Runs the CLI on `rawArgs` (argv without node and the script); resolves to the exit status. */
export async function main(rawArgs: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const log = Logger.console();
  try {
    // `tsfuse SRC MNT -o OPTS` (mount.fuse3, fstab) is `tsfuse mount --daemon SRC MNT -o OPTS`.
    const asMount = expandOptionKeys(fromMountHelper(rawArgs, COMMANDS.map((c) => c.name)), mountCommand.options);
    const named = commandNamed(asMount);
    // Only the command's own options: another command's is as unknown here as a typo.
    const tables = named === undefined ? ALL_TABLES : [commonOptions, named.options];
    const elsewhere = (key: string | undefined): string | undefined => ownersOf(key, named);
    const args = normalizeArgs(asMount, tables, {
      positionals: named === undefined ? undefined : 1 + named.positionals.length,
      elsewhere: (flag) => elsewhere(keyOfFlag(flag)),
    });
    const chosen = await parseCommandLine(args);
    const cwd = process.cwd();
    const common = resolveOptions(commonOptions, { cli: chosen.argv, env, cwd });
    const config = common.config === undefined ? undefined : readConfigFile(common.config, tables, elsewhere);
    const options = resolveOptions(chosen.command.options, { cli: chosen.argv, env, config, cwd });
    const positionals: Record<string, string> = {};
    for (const p of chosen.command.positionals) positionals[p.name] = String(chosen.argv[p.name]);
    return await chosen.command.run({ positionals, options, args, cwd, env, log });
  } catch (err) {
    if (err instanceof CliError) {
      log.error(`tsfuse: ${err.message}`);
      return err.exitCode;
    }
    // Not something the user did: keep the stack, it is what a bug report needs.
    log.error(`tsfuse: internal error: ${(err as Error)?.stack ?? String(err)}`);
    return 1;
  }
}

interface Chosen {
  command: Command;
  argv: Record<string, unknown>;
}

/** yargs only reads the command line here; resolution and running happen in main(). */
async function parseCommandLine(args: readonly string[]): Promise<Chosen> {
  let chosen: Chosen | undefined;
  let parser = yargs([...args])
    .scriptName('tsfuse')
    .usage('Usage: $0 <command> [options]')
    .parserConfiguration({ 'strip-dashed': true, 'strip-aliased': true, 'duplicate-arguments-array': true })
    .version(packageVersion())
    .help()
    .alias('help', 'h')
    .strict()
    .demandCommand(1, 'no command given')
    .epilogue(`${PRECEDENCE}\n\n${environmentTable()}\n\n${EXIT_STATUS}`)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((message: string | null, err: Error | undefined) => {
      // Our own errors (from normalizeArgs, the resolver) pass through; yargs' become usage errors.
      if (err instanceof CliError) throw err;
      throw new UsageError(`${explain(message ?? err?.message ?? 'bad command line', args)} (see tsfuse --help)`);
    });
  parser = addOptions(parser, commonOptions, 'Common options:');
  for (const command of COMMANDS) {
    const usage = [command.name, ...command.positionals.map((p) => `<${p.name}>`)].join(' ');
    parser = parser.command(
      usage,
      command.describe,
      (y: Argv) => {
        let sub = y;
        for (const p of command.positionals) sub = sub.positional(p.name, { describe: p.describe, type: 'string' });
        sub = addOptions(sub, command.options, `${command.name} options:`);
        // A command whose exit status means more (probe: 1 = passthrough unusable) says so itself.
        const exitStatus = command.epilogue?.includes('Exit status') ? [] : [EXIT_STATUS];
        return sub.epilogue([command.epilogue, PRECEDENCE, ...exitStatus].filter(Boolean).join('\n\n'));
      },
      (argv) => {
        chosen = { command, argv: argv as Record<string, unknown> };
      },
    );
  }
  await parser.parseAsync();
  if (!chosen) throw new UsageError('no command given (see tsfuse --help)');
  return chosen;
}

/** The command the command line names; an unknown one is an error before any of its options is. */
function commandNamed(args: readonly string[]): Command | undefined {
  const first = firstPositional(args);
  if (first === undefined) return undefined;
  const command = COMMANDS.find((c) => c.name === first);
  if (!command) throw new UsageError(`unknown command '${first}' (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
  return command;
}

/** "an option of umount": the other commands that have option `key`. */
function ownersOf(key: string | undefined, command: Command | undefined): string | undefined {
  if (key === undefined) return undefined;
  const owners = COMMANDS.filter((c) => c !== command && key in c.options && !c.options[key].internal).map((c) => c.name);
  return owners.length > 0 ? `an option of ${owners.join(' and ')}` : undefined;
}

/** The table key of a flag as typed (`--wait`, `-l`, `--no-debug`), in any command's table. */
function keyOfFlag(flag: string): string | undefined {
  for (const table of ALL_TABLES) {
    for (const [key, spec] of Object.entries(table)) {
      const names = [`--${flagName(key)}`, `--no-${flagName(key)}`];
      if (spec.alias) names.push(spec.alias.length === 1 ? `-${spec.alias}` : `--${spec.alias}`);
      if (names.includes(flag)) return key;
    }
  }
  return undefined;
}

function addOptions(y: Argv, table: OptionTable, group: string): Argv {
  for (const [key, spec] of Object.entries(table)) {
    const hint = spec.internal ? '' : `  [env ${envName(key)}]`;
    const shown = spec.defaultDescription ?? (spec.default === undefined || spec.default === false ? undefined : String(spec.default));
    y = y.option(flagName(key), {
      type: spec.cli,
      alias: spec.alias,
      describe: spec.describe + hint,
      group,
      hidden: spec.internal,
      // No yargs default: an option absent from the command line must stay undefined
      // so the environment and the config file get their turn.
      defaultDescription: shown,
      requiresArg: spec.cli !== 'boolean',
    });
  }
  return y;
}

/** The TSFUSE_* names of every option, for the top-level --help. */
function environmentTable(): string {
  const rows: string[] = [];
  const seen = new Set<string>();
  for (const table of ALL_TABLES) {
    for (const [key, spec] of Object.entries(table)) {
      if (spec.internal || seen.has(key)) continue;
      seen.add(key);
      const commands = COMMANDS.filter((c) => key in c.options).map((c) => c.name);
      const flag = (spec.alias?.length === 1 ? `-${spec.alias}, ` : '') + `--${flagName(key)}`;
      rows.push([envName(key).padEnd(24), flag.padEnd(22), commands.length ? commands.join(', ') : 'all'].join(' '));
    }
  }
  return `Environment (${ENV_PREFIX}*)          Option                 Commands\n  ${rows.join('\n  ')}`;
}

/** Flags (any command's) whose value may be the next word, which is then no command name. */
const VALUE_FLAGS: ReadonlyMap<string, OptionSpec<unknown, unknown>> = new Map(
  ALL_TABLES.flatMap((table) =>
    Object.entries(table)
      .filter(([, spec]) => spec.cli !== 'boolean')
      .flatMap(([key, spec]) => [`--${flagName(key)}`, ...(spec.alias?.length === 1 ? [`-${spec.alias}`] : [])].map((f) => [f, spec] as const)),
  ),
);

/** The command name: the first word that is neither a flag nor a flag's value. */
function firstPositional(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--') return args[i + 1];
    const spec = VALUE_FLAGS.get(args[i]);
    // `--passthrough mount …`: a flag that may stand alone takes only a word it accepts.
    if (spec !== undefined && (spec.bareValue === undefined || refusal(spec, args[i + 1] ?? '') === undefined)) i++;
    else if (!args[i].startsWith('-')) return args[i];
  }
  return undefined;
}

/** yargs' validation messages, said the way the rest of tsfuse says things, on one line. */
function explain(message: string, args: readonly string[]): string {
  const unknown = /^Unknown arguments?: (.*)$/.exec(message);
  if (unknown) {
    return unknown[1]
      .split(', ')
      .map((name) => {
        const flag = args.find((a) => a === `--${name}` || a.startsWith(`--${name}=`) || a === `-${name}`);
        return flag ? `unknown option ${flag.split('=')[0]}` : `unexpected argument '${name}'`;
      })
      .join('; ');
  }
  const missing = /^Not enough arguments following: (.*)$/.exec(message);
  if (missing) return `--${missing[1]} needs a value`;
  const command = COMMANDS.find((c) => c.name === firstPositional(args));
  if (command && /^Not enough non-option arguments/.test(message)) {
    return `${command.name} needs ${command.positionals.map((p) => p.name.toUpperCase()).join(' and ')}`;
  }
  return message.replace(/\s*\n\s*/g, '; ');
}

/** package.json sits three levels above dist/src/cli and two above src/cli: look upward. */
function packageVersion(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tsfuse' && pkg.version) return pkg.version;
    } catch {
      // not here
    }
    if (path.dirname(dir) === dir) return 'unknown';
  }
}
