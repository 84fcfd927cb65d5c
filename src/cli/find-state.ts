/**
 * Concepts: the one rule every tool (umdevctl, umdev-k8s, umdev-uart, umdev-fb) uses to find umdevd's state dir:
 * `--state-dir`, then `UMDEV_STATE`, then `./umdev-state` when a live umdevd holds it (what `./bin/umdevd` makes in
 * the same directory), then `/var/lib/umdev` (contrib/umdevd.service). The answer says which step chose it, so a
 * tool that cannot reach the daemon can say where it looked and why there. Synchronous on purpose: a quick umdevctl
 * command pays for this before anything else, and two small reads need no event loop.
 */
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

/** umdevd's state dir when started with no `--state-dir` and no `UMDEV_STATE`, relative to its working dir. */
export const LOCAL_STATE_DIR = 'umdev-state';
/** Where the systemd unit keeps it. */
export const SYSTEM_STATE_DIR = '/var/lib/umdev';

type Env = Readonly<Record<string, string | undefined>>;

/** Which step of the rule chose the state dir. */
export type StateSource = 'flag' | 'env' | 'local' | 'system';

/** A state dir and why it was chosen. Plain data. */
export interface FoundState {
  /** Absolute. */
  readonly dir: string;
  readonly source: StateSource;
  /** The pid of the umdevd holding it, when its `api.json` names a live process. */
  readonly pid: number | undefined;
}

/** The pid of the live umdevd that holds `dir` (from its `api.json`), or undefined. */
export function liveDaemon(dir: string): number | undefined {
  let pid: unknown;
  try {
    pid = (JSON.parse(readFileSync(join(dir, 'api.json'), 'utf8')) as { pid?: unknown }).pid;
  } catch {
    return undefined;
  }
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (e) {
    // EPERM: the process exists, it is only not ours to signal (a root daemon seen by a user).
    return (e as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

/** Apply the rule. `flag` is the tool's `--state-dir` (empty counts as unset). */
export function findStateDir(flag: string | undefined, env: Env, cwd = process.cwd()): FoundState {
  const found = (dir: string, source: StateSource): FoundState => {
    const abs = resolve(cwd, dir);
    return { dir: abs, source, pid: liveDaemon(abs) };
  };
  if (flag !== undefined && flag !== '') return found(flag, 'flag');
  if (env.UMDEV_STATE !== undefined && env.UMDEV_STATE !== '') return found(env.UMDEV_STATE, 'env');
  const local = found(LOCAL_STATE_DIR, 'local');
  if (local.pid !== undefined) return local;
  return found(SYSTEM_STATE_DIR, 'system');
}

/** Why this state dir, for messages: `umdev-state (held by umdevd pid 42)`, `/var/lib/umdev (the default: …)`. */
export function describeState(s: FoundState, cwd = process.cwd()): string {
  const rel = relative(cwd, s.dir);
  const shown = rel !== '' && !rel.startsWith('..') && !rel.startsWith('/') ? rel : s.dir;
  switch (s.source) {
    case 'flag':
      return `${shown} (from --state-dir)`;
    case 'env':
      return `${shown} (from UMDEV_STATE)`;
    case 'local':
      return `${shown} (held by umdevd pid ${s.pid ?? '?'})`;
    case 'system':
      return `${shown} (the default: no --state-dir, no UMDEV_STATE, and no umdevd holds ./${LOCAL_STATE_DIR})`;
  }
}
