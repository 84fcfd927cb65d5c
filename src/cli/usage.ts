/**
 * Command-line mistakes, reported as clap 3 reports them for mdevctl 1.2.0: `error: …`, then (for most errors) a
 * `USAGE:` block naming the arguments that were given, then `For more information try --help`; exit status 2. The
 * text is rendered by help.ts (`formatUsageError`), which is loaded only when there is something to print.
 */

/**
 * What clap's usage line for an error is made of: the command's required arguments (`first`), then the ones given
 * (in command-line order, without `drop`, the loser of a conflict), then required ones of a group that is missing
 * (`last`); with nothing to name, the command's plain usage.
 */
export interface UsageSpec {
  readonly program: string;
  readonly cmd: string;
  readonly used: readonly string[];
  readonly first?: readonly string[];
  readonly last?: readonly string[];
  readonly drop?: string;
}

/**
 * A command-line mistake: clap's exit code 2. `usage` is the line after `USAGE:`, or what it is made of; none for a
 * bad value.
 */
export class UsageError extends Error {
  readonly usage: string | UsageSpec | undefined;
  readonly hint: string | undefined;
  constructor(message: string, usage?: string | UsageSpec, hint?: string) {
    super(message);
    this.usage = usage;
    this.hint = hint;
  }
}
