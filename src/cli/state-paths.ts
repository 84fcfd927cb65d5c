import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** Where a umdevd state dir keeps its trees: from its `api.json` when the daemon wrote one, else the defaults. */
export interface StatePaths {
  readonly sysfs: string;
  readonly definitions: string;
  readonly run: string;
}

/** `stateDir` defaults to `UMDEV_STATE_DIR`, then `./umdev-state` (umdevd's default). */
export async function statePaths(stateDir: string | undefined, env: Readonly<Record<string, string | undefined>>): Promise<StatePaths> {
  const dir = resolve(stateDir ?? env.UMDEV_STATE_DIR ?? 'umdev-state');
  let info: Partial<Record<keyof StatePaths, unknown>> = {};
  try {
    info = JSON.parse(await readFile(join(dir, 'api.json'), 'utf8')) as typeof info;
  } catch {
    // No daemon has written api.json here (or it runs without one): the default layout.
  }
  const pick = (k: keyof StatePaths, dflt: string): string => (typeof info[k] === 'string' ? (info[k] as string) : join(dir, dflt));
  return { sysfs: pick('sysfs', 'sys'), definitions: pick('definitions', 'mdevctl.d'), run: pick('run', 'run') };
}
