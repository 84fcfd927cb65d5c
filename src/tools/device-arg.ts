/**
 * The device argument of umdev's small tools: a UUID (its socket found in the state dir by the one rule,
 * `--state-dir`, `UMDEV_STATE`, a live `./umdev-state`, `/var/lib/umdev`) or a socket path as it is.
 */
import { relative } from 'node:path';
import { deviceSockets } from '../cli/qemu-args.js';
import { parseUuid } from '../cli/uuid.js';

/** The socket to connect to, and how to show it (relative to the working directory when below it). */
export async function deviceSocket(arg: string, stateDir: string | undefined, env: Readonly<Record<string, string | undefined>>): Promise<{ path: string; shown: string }> {
  const uuid = parseUuid(arg);
  const path = uuid === undefined ? arg : (await deviceSockets([uuid], stateDir, env))[0]!;
  const rel = relative(process.cwd(), path);
  return { path, shown: rel !== '' && !rel.startsWith('..') && !rel.startsWith('/') ? rel : path };
}
