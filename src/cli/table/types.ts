/**
 * Concepts: what one umdevctl command declares, once, in the command table (`table/index.ts`): its options and
 * arguments, the help texts, the environment it needs, its man page entry and how it runs. The parser (`main.ts`),
 * `help` and usage errors (`help.ts`), the bash completion (`completion.ts`) and the man page's COMMANDS section
 * (`man.ts`) are all derived from it, so adding a command is one entry here plus the module that does the work.
 */
import type { CliContext, Writer } from '../../mdevctl/io.js';

export type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

/** One parsed invocation: what a command's checks need to word clap's errors (`invocation.ts`). */
export interface Invocation {
  readonly program: string;
  readonly cmd: string;
  readonly v: Values;
  readonly positionals: string[];
  /** Options given, in command-line order, without the global ones (clap's usage lines list them so). */
  readonly used: string[];
  /** The command's declaration: its `required` options lead its usage lines, its options name themselves. */
  readonly decl: CommandDecl;
}

/** One option. Its help line (`-u, --uuid <UUID>`), parser entry and completion follow from these fields. */
export interface OptionDecl {
  /** The long name, without `--`. */
  readonly long: string;
  readonly short?: string;
  /**
   * The value's name as clap shows it (`<UUID>`, `<type>`); absent for a flag. It also says how bash completes the
   * value: `<UUID>` the devices, `<PARENT>` the parents, `<type>` the types, `<DIR>`, `<FILE>` and `<JSONFILE>` file
   * names, anything else nothing.
   */
  readonly value?: string;
  /** May be repeated (`<UUID>...`). */
  readonly multiple?: boolean;
  /** The help line's text; absent for an option mdevctl accepts without listing it (define's `--manual`). */
  readonly help?: string;
}

/** What a positional argument completes to in bash. */
export type ArgKind = 'uuid' | 'parent' | 'file' | 'command';

/** One positional argument: its help line and its completion. A name ending in `...` takes the rest. */
export interface ArgDecl {
  readonly name: string;
  readonly help: string;
  readonly complete: ArgKind;
}

/** What a command's `run` gets: the parsed invocation, the context the mdevctl model runs in, the process's I/O. */
export interface CommandRun {
  readonly inv: Invocation;
  readonly ctx: CliContext;
  readonly io: RunIo;
}

/** What `run` (main.ts) needs from its host process. */
export interface RunIo {
  readonly stdout: Writer;
  readonly stderr: Writer;
  readonly env: Readonly<Record<string, string | undefined>>;
  /**
   * Aborts long-running commands (`events`, `vm`, `migrate`), with the signal's name (`SIGINT`, `SIGTERM`) as the
   * reason; `migrate` asks its daemon to roll back and waits for it.
   */
  readonly signal?: AbortSignal;
  readonly now?: () => Date;
  /** `lsmdev`: mdevctl's other name, which is `list` with its own help and usage lines. Default `umdevctl`. */
  readonly program?: 'umdevctl' | 'lsmdev';
}

/** One command. Plain data plus `run`, which imports the command's module only when the command runs. */
export interface CommandDecl {
  readonly name: string;
  /** clap's `about`: the one line in `umdevctl help` and `-h`. */
  readonly about: string;
  /** The long text of `--help` (first line repeating `about`); `''` for a command mdevctl hides. */
  readonly long?: string;
  /** The usage line after the program name. */
  readonly usage: string;
  readonly options: readonly OptionDecl[];
  readonly args?: readonly ArgDecl[];
  /** clap's `version` on the subcommand (header and `-V`): mdevctl 1.2.0 sets it on `list` only. */
  readonly version?: boolean;
  /** Options clap declares `required`: they lead every usage line of the command. */
  readonly required?: readonly string[];
  /**
   * What the command needs of mdevctl's environment: `tree` (the sysfs tree and definitions, with the fallback to
   * umdevd's tree when the host has no mdev parents, and the definitions and script dirs checked first, as mdevctl
   * does), `checked` (only that check), `none` (umdev's own commands, which talk to umdevd).
   */
  readonly needs: 'tree' | 'checked' | 'none';
  /**
   * The man page's entry (`man/umdevctl.8`, COMMANDS): the synopsis line and the text, in roff. Absent for a command
   * another entry describes (`offline`, with `online`).
   */
  readonly man?: string;
  run(c: CommandRun): Promise<void>;
}
