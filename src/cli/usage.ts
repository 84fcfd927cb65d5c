/**
 * Command-line mistakes, reported as clap 3 reports them for mdevctl 1.2.0: `error: …`, then (for most errors) a
 * `USAGE:` block naming the arguments that were given, then `For more information try --help`; exit status 2.
 */
import { HELP } from './help.js';

/** How each option is named in clap's messages and usage lines. */
export const LABELS: Readonly<Record<string, string>> = {
  uuid: '--uuid <UUID>',
  parent: '--parent <PARENT>',
  type: '--type <type>',
  jsonfile: '--jsonfile <JSONFILE>',
  auto: '--auto',
  manual: '--manual',
  addattr: '--addattr <attr_name>',
  value: '--value <attr_value>',
  delattr: '--delattr',
  index: '--index <INDEX>',
  defined: '--defined',
  dumpjson: '--dumpjson',
  verbose: '--verbose',
  api: '--api <URL>',
  'state-dir': '--state-dir <DIR>',
  count: '--count <N>',
};

export function label(name: string): string {
  return LABELS[name] ?? `--${name}`;
}

/** A command-line mistake: clap's exit code 2. `usage` is the line after `USAGE:`; none for a bad value. */
export class UsageError extends Error {
  readonly usage: string | undefined;
  readonly hint: string | undefined;
  constructor(message: string, usage?: string, hint?: string) {
    super(message);
    this.usage = usage;
    this.hint = hint;
  }
}

/**
 * clap's usage line for an error: the command's required arguments, then the ones given (in command-line order,
 * without `drop`, the loser of a conflict), then required ones of a group that is missing; with nothing to name, the
 * command's plain usage.
 */
export function usageLine(program: string, cmd: string, used: readonly string[], opts: { first?: readonly string[]; last?: readonly string[]; drop?: string } = {}): string {
  const first = opts.first ?? [];
  const last = opts.last ?? [];
  const names = [...first, ...used.filter((n) => !first.includes(n) && !last.includes(n) && n !== opts.drop), ...last];
  if (names.length === 0) return `${program} ${HELP[cmd]?.usage ?? cmd}`;
  return `${program} ${cmd} ${names.map(label).join(' ')}`;
}

/** The text clap prints on stderr for `e`. */
export function formatUsageError(e: UsageError): string {
  let s = `error: ${e.message}\n\n`;
  if (e.hint !== undefined) s += `\t${e.hint}\n\n`;
  if (e.usage !== undefined) s += `USAGE:\n    ${e.usage}\n\n`;
  return `${s}For more information try --help\n`;
}
