import type { OptionTable, Resolved } from './options';
import { option, parsePath } from './options';
import type { Logger } from './log';

/** Options every command takes. */
export const commonOptions = {
  config: option({
    describe: 'Read options from this JSON file ({"attr-timeout": 5, "options": "allow_other", …})',
    cli: 'string',
    placeholder: 'FILE',
    default: undefined,
    parse: parsePath,
  }),
};

export interface Positional {
  name: string;
  describe: string;
}

export interface RunArgs<S extends OptionTable> {
  /** Positional arguments by name, as typed (not yet resolved to absolute paths). */
  positionals: Record<string, string>;
  options: Resolved<S>;
  /** The command line after normalizeArgs, for commands that re-run themselves (--daemon). */
  args: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  log: Logger;
}

/**
 * One subcommand. The CLI registers each with yargs, resolves its option
 * table through command line > environment > config file > default, and
 * calls run(); a new subcommand (probe, bench) is one more module of this shape.
 */
export interface Command<S extends OptionTable = OptionTable> {
  name: string;
  describe: string;
  positionals: readonly Positional[];
  options: S;
  /** Shown under the command's own --help. */
  epilogue?: string;
  /** Resolves to the exit status. Errors the user can cause are thrown as CliError. */
  run(args: RunArgs<S>): Promise<number>;
}

/** Erases S so commands with different tables fit in one list. */
export function defineCommand<S extends OptionTable>(command: Command<S>): Command {
  return command as unknown as Command;
}
