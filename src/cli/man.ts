/**
 * The COMMANDS section of `man/umdevctl.8`, rendered from the command table: one `.TP` entry per command that has
 * one. test/cli/docs.test.ts checks that the page holds exactly this (`UMDEV_REGEN=1` rewrites it).
 */
import { COMMANDS } from './table/index.js';

/** The roff between `.SH COMMANDS` and the next section. */
export function manCommands(): string {
  return COMMANDS.flatMap((c) => (c.man === undefined ? [] : [`.TP\n${c.man}\n`])).join('');
}

/** `page` with its COMMANDS section replaced by `manCommands()`. */
export function withManCommands(page: string): string {
  const start = page.indexOf('.SH COMMANDS\n');
  const end = page.indexOf('\n.SH ', start + 1);
  if (start < 0 || end < 0) throw new Error('the man page has no COMMANDS section followed by another');
  return `${page.slice(0, start)}.SH COMMANDS\n${manCommands()}${page.slice(end + 1)}`;
}
