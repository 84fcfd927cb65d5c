import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeState, findStateDir, type FoundState } from './find-state.js';

/** Where a umdevd state dir keeps its trees: from its `api.json` when the daemon wrote one, else the defaults. */
export interface StatePaths {
  readonly sysfs: string;
  readonly definitions: string;
  readonly run: string;
  /** The state dir, and which step of the one rule chose it. */
  readonly state: FoundState;
  /** `describeState(state)`, for messages. */
  readonly why: string;
}

/** The state dir found by the one rule (find-state.ts: `stateDir`, `UMDEV_STATE`, a live `./umdev-state`, `/var/lib/umdev`). */
export async function statePaths(stateDir: string | undefined, env: Readonly<Record<string, string | undefined>>): Promise<StatePaths> {
  const state = findStateDir(stateDir, env);
  let info: Partial<Record<'sysfs' | 'definitions' | 'run', unknown>> = {};
  try {
    info = JSON.parse(await readFile(join(state.dir, 'api.json'), 'utf8')) as typeof info;
  } catch {
    // No daemon has written api.json here (or it runs without one): the default layout.
  }
  const pick = (k: 'sysfs' | 'definitions' | 'run', dflt: string): string => (typeof info[k] === 'string' ? (info[k] as string) : join(state.dir, dflt));
  return { sysfs: pick('sysfs', 'sys'), definitions: pick('definitions', 'mdevctl.d'), run: pick('run', 'run'), state, why: describeState(state) };
}
