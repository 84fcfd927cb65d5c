/**
 * The device argument of umdev's small tools: a UUID (its socket found in the state dir by the one rule,
 * `--state-dir`, `UMDEV_STATE`, a live `./umdev-state`, `/var/lib/umdev`) or a socket path as it is.
 */
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { deviceSockets } from '../api-client/state-paths.js';
import { parseUuid } from '../mdevctl/uuid.js';

/** The socket to connect to, and how to show it (relative to the working directory when below it). */
export async function deviceSocket(arg: string, stateDir: string | undefined, env: Readonly<Record<string, string | undefined>>): Promise<{ path: string; shown: string }> {
  const uuid = parseUuid(arg);
  const path = uuid === undefined ? arg : (await deviceSockets([uuid], stateDir, env))[0]!;
  const rel = relative(process.cwd(), path);
  return { path, shown: rel !== '' && !rel.startsWith('..') && !rel.startsWith('/') ? rel : path };
}

/**
 * The command line of a tool taking `[--state-dir DIR] DEVICE [more…]` (`positionals` words in all, the first the
 * device): the words and the state dir, or the exit status after printing USAGE (0 for asked-for help on stdout, 2
 * for a wrong command line on stderr).
 */
export function toolArgs(program: string, usage: string, argv: readonly string[], positionals: { min: number; max: number }): { words: string[]; stateDir: string | undefined } | number {
  if (argv[0] === '-h' || argv[0] === '--help') {
    process.stdout.write(usage);
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: { 'state-dir': { type: 'string' } }, allowPositionals: true });
  } catch (e) {
    process.stderr.write(`${program}: ${(e as Error).message}\n${usage}`);
    return 2;
  }
  if (parsed.positionals.length < positionals.min || parsed.positionals.length > positionals.max) {
    process.stderr.write(usage);
    return 2;
  }
  return { words: parsed.positionals, stateDir: parsed.values['state-dir'] };
}
