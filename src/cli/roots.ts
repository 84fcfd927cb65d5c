/**
 * Which tree an mdevctl command of umdevctl reads: roots given on the command line or in the environment
 * (`--sysfs-root`, `--config-root`, `UMDEV_SYSFS_ROOT`, `UMDEV_CONFIG_ROOT`) win; then a umdevd's state dir named by
 * `--state-dir` or `UMDEV_STATE` (its mount and definitions, from its `api.json`); then the host's `/sys` and
 * `/etc/mdevctl.d`, as mdevctl, unless the host has no mdev parents at all and a running umdevd is found by the one
 * rule (find-state.ts): a bare `umdevctl list` while umdevd runs then shows umdevd's devices instead of nothing.
 * Either way the fallback is said on stderr, so nobody mistakes one tree for the other.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeState, findStateDir, type FoundState } from './find-state.js';
import { DEFAULT_SYSFS_ROOT, Sysroot } from './sysroot.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface RootFlags {
  readonly sysfsRoot?: string;
  readonly configRoot?: string;
  readonly stateDir?: string;
}

/** The roots, the state dir they came from (if any), and a line for stderr when a fallback was taken. */
export interface Roots {
  readonly root: Sysroot;
  readonly state?: FoundState;
  readonly note?: string;
}

const set = (x: string | undefined): x is string => x !== undefined && x !== '';

/** The trees of the umdevd holding `s`: from its `api.json`, else the default layout under it. */
function daemonRoot(s: FoundState): Sysroot {
  let info: { sysfs?: unknown; definitions?: unknown } = {};
  try {
    info = JSON.parse(readFileSync(join(s.dir, 'api.json'), 'utf8')) as typeof info;
  } catch {
    // No api.json: a daemon not running, or one from before it was written; the default layout.
  }
  return new Sysroot({
    sysfsRoot: typeof info.sysfs === 'string' ? info.sysfs : join(s.dir, 'sys'),
    configRoot: typeof info.definitions === 'string' ? info.definitions : join(s.dir, 'mdevctl.d'),
  });
}

/**
 * Decide the roots. `fallback`: the command reads the mdev tree, so a host without mdev parents may fall back to a
 * running umdevd's; `hostSysfs` is where the host's sysfs is (tests).
 */
export function resolveRoots(flags: RootFlags, env: Env, fallback: boolean, hostSysfs = DEFAULT_SYSFS_ROOT): Roots {
  if (set(flags.sysfsRoot) || set(flags.configRoot) || set(env.UMDEV_SYSFS_ROOT) || set(env.UMDEV_CONFIG_ROOT)) {
    return { root: Sysroot.resolve(flags, env) };
  }
  if (set(flags.stateDir) || set(env.UMDEV_STATE)) {
    const state = findStateDir(flags.stateDir, env);
    return { root: daemonRoot(state), state };
  }
  if (!fallback || existsSync(join(hostSysfs, 'class/mdev_bus'))) return { root: new Sysroot({ sysfsRoot: hostSysfs }) };
  const state = findStateDir(undefined, env);
  if (state.pid !== undefined) {
    return { root: daemonRoot(state), state, note: `umdevctl: the host's ${hostSysfs} has no mdev_bus; using umdevd's tree in ${describeState(state)}` };
  }
  return {
    root: new Sysroot({ sysfsRoot: hostSysfs }),
    note: `umdevctl: the host's ${hostSysfs} has no mdev_bus and no umdevd was found (none holds ${describeState(state)}): reading the host's tree`,
  };
}
