/**
 * Help texts, rendered from the command table (`table/`) as clap renders them for mdevctl 1.2.0: for the commands
 * mdevctl has, the words are mdevctl's (`mdevctl CMD --help`) with the program name swapped, so a person who knows
 * one tool reads the other's help unchanged; umdev's own commands follow the same layout. Also the renderers of all
 * clap prints (help, usage errors); `main.ts` decides when to print them, and loads this module only then.
 */
import { label } from './invocation.js';
import { COMMANDS, GLOBAL_OPTIONS, HELP_OPTION, VERSION_OPTION, commandNamed, type OptionDecl } from './table/index.js';
import type { UsageError, UsageSpec } from './usage.js';

/** An option's help line flags, as clap prints them: `-u, --uuid <UUID>`, `    --dumpjson`, `--peer <NAME=ADDRESS>...`. */
function optionFlags(o: OptionDecl): string {
  const value = o.value === undefined ? '' : ` ${o.value}${o.multiple === true ? '...' : ''}`;
  return `${o.short === undefined ? '    ' : `-${o.short}, `}--${o.long}${value}`;
}

/** The `[flags, text]` lines of the options a help lists (an option without help text is accepted, not listed). */
function listed(options: readonly OptionDecl[]): Array<readonly [string, string]> {
  return options.flatMap((o) => (o.help === undefined ? [] : [[optionFlags(o), o.help] as const]));
}

function optionLines(opts: ReadonlyArray<readonly [string, string]>, long: boolean): string {
  if (long) return opts.map(([f, t]) => `    ${f}\n            ${t}\n`).join('\n');
  const w = Math.max(...opts.map(([f]) => f.length)) + 4;
  return opts.map(([f, t]) => `    ${f.padEnd(w)}${t}\n`).join('');
}

/**
 * `umdevctl help CMD` / `umdevctl CMD --help` (`long`: the long text, one option per paragraph) / `CMD -h` (the
 * one-line about and one line per option), as clap renders them; undefined for an unknown command.
 */
export function commandHelp(cmd: string, program: string, version: string, long: boolean): string | undefined {
  const h = commandNamed(cmd);
  if (h === undefined) return undefined;
  const useLong = long && h.long !== undefined && h.long !== '';
  const opts = listed([...h.options, HELP_OPTION, ...(h.version === true ? [VERSION_OPTION] : [])]).sort((a, b) => sortKey(a[0]).localeCompare(sortKey(b[0])));
  let s = `${program}-${cmd} ${h.version === true ? version : ''}\n`;
  // clap's long_about replaces the about line; a hidden command has neither.
  const text = useLong ? h.long : h.long === '' ? '' : h.about;
  if (text !== '') s += `${text}\n`;
  s += `\nUSAGE:\n    ${program} ${h.usage}\n`;
  if (h.args !== undefined) s += `\nARGS:\n${optionLines(h.args.map((a) => [a.name, a.help] as const), false)}`;
  s += `\nOPTIONS:\n${optionLines(opts, useLong)}`;
  return s;
}

/** clap sorts options by their short letter, or their long name when they have none. */
function sortKey(flags: string): string {
  return /^-([a-zA-Z])/.exec(flags)?.[1]!.toLowerCase() ?? /--([a-z-]+)/.exec(flags)?.[1] ?? flags;
}

/** `umdevctl --help`, `umdevctl help`. */
export function globalHelp(version: string): string {
  const cmds: Array<readonly [string, string]> = [
    ...COMMANDS.map((h) => [h.name, h.about] as const),
    ['help', 'Print this message or the help of the given subcommand(s)'] as const,
  ].sort((a, b) => a[0].localeCompare(b[0]));
  const w = Math.max(...cmds.map(([n]) => n.length)) + 4;
  return (
    `umdevctl ${version}\nAn mdevctl-compatible mediated device management utility for umdev and Linux\n\n` +
    `USAGE:\n    umdevctl [OPTIONS] <SUBCOMMAND>\n\nOPTIONS:\n` +
    optionLines(listed([...GLOBAL_OPTIONS, HELP_OPTION, VERSION_OPTION]), false) +
    `\nSUBCOMMANDS:\n${cmds.map(([n, a]) => `    ${n.padEnd(w)}${a}\n`).join('')}\n` +
    "online/offline, events, screenshot, migrate and dashboard use umdevd's API when known (--api SOCKET|URL, --state-dir DIR, UMDEV_API, or the state dir found as docs/umdevd.md says).\n" +
    "'umdevctl help CMD' or 'umdevctl CMD --help' describes one command; man umdevctl describes them all.\n"
  );
}

/** `lsmdev --help`: mdevctl's lsmdev is `mdevctl list` under another name, with the short option layout. */
export function lsmdevHelp(version: string): string {
  const h = commandNamed('list')!;
  const opts = listed([...h.options, HELP_OPTION, VERSION_OPTION]).sort((a, b) => sortKey(a[0]).localeCompare(sortKey(b[0])));
  return `lsmdev ${version}\n${h.about}\n\nUSAGE:\n    lsmdev [OPTIONS]\n\nOPTIONS:\n${optionLines(opts, false)}`;
}

/** clap's usage line for an error (see `UsageSpec`). */
export function usageLine(u: UsageSpec): string {
  const first = u.first ?? [];
  const last = u.last ?? [];
  const names = [...first, ...u.used.filter((n) => !first.includes(n) && !last.includes(n) && n !== u.drop), ...last];
  const h = commandNamed(u.cmd);
  if (names.length === 0) return `${u.program} ${h?.usage ?? u.cmd}`;
  return `${u.program} ${u.cmd} ${names.map((n) => label(h?.options ?? [], n)).join(' ')}`;
}

/** The text clap prints on stderr for `e`. */
export function formatUsageError(e: UsageError): string {
  let s = `error: ${e.message}\n\n`;
  if (e.hint !== undefined) s += `\t${e.hint}\n\n`;
  if (e.usage !== undefined) s += `USAGE:\n    ${typeof e.usage === 'string' ? e.usage : usageLine(e.usage)}\n\n`;
  return `${s}For more information try --help\n`;
}
