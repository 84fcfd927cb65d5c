/**
 * Concepts: the VFIO migration v2 state machine as data (`vfio_from_fsm_table` and `vfio_mig_get_next_state` in
 * drivers/vfio/vfio_main.c). A device supports a set of states given by its VFIO_MIGRATION_* flags; a request to
 * reach `target` from `cur` is walked one arc at a time, each arc taken from the table and skipping states the
 * device lacks. A driver implements only the single arcs; `migrationPath` lists the ones a request will take.
 */
import { err } from '../errors.js';
import { VFIO_DEVICE_STATE as S, VFIO_MIGRATION as M } from './constants.js';

/** A `enum vfio_device_mig_state` value (0..7). */
export type MigState = (typeof S)[Exclude<keyof typeof S, 'NR'>];

const ALL = 0xffffffff;

/** Feature bits a state needs (`state_flags_table`); ERROR can never be requested. */
const REQUIRES: Readonly<Record<MigState, number>> = {
  [S.ERROR]: ALL,
  [S.STOP]: M.STOP_COPY,
  [S.RUNNING]: M.STOP_COPY,
  [S.STOP_COPY]: M.STOP_COPY,
  [S.RESUMING]: M.STOP_COPY,
  [S.RUNNING_P2P]: M.STOP_COPY | M.P2P,
  [S.PRE_COPY]: M.STOP_COPY | M.PRE_COPY,
  [S.PRE_COPY_P2P]: M.STOP_COPY | M.P2P | M.PRE_COPY,
};

const { ERROR, STOP, RUNNING, STOP_COPY, RESUMING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P } = S;

/** `vfio_from_fsm_table[cur][target]`: the next state on the way from `cur` to `target`. */
export const MIG_NEXT: Readonly<Record<MigState, Readonly<Record<MigState, MigState>>>> = {
  [STOP]: { [STOP]: STOP, [RUNNING]: RUNNING_P2P, [STOP_COPY]: STOP_COPY, [RESUMING]: RESUMING, [RUNNING_P2P]: RUNNING_P2P, [PRE_COPY]: RUNNING_P2P, [PRE_COPY_P2P]: RUNNING_P2P, [ERROR]: ERROR },
  [RUNNING]: { [STOP]: RUNNING_P2P, [RUNNING]: RUNNING, [STOP_COPY]: RUNNING_P2P, [RESUMING]: RUNNING_P2P, [RUNNING_P2P]: RUNNING_P2P, [PRE_COPY]: PRE_COPY, [PRE_COPY_P2P]: RUNNING_P2P, [ERROR]: ERROR },
  [STOP_COPY]: { [STOP]: STOP, [RUNNING]: STOP, [STOP_COPY]: STOP_COPY, [RESUMING]: STOP, [RUNNING_P2P]: STOP, [PRE_COPY]: ERROR, [PRE_COPY_P2P]: ERROR, [ERROR]: ERROR },
  [RESUMING]: { [STOP]: STOP, [RUNNING]: STOP, [STOP_COPY]: STOP, [RESUMING]: RESUMING, [RUNNING_P2P]: STOP, [PRE_COPY]: STOP, [PRE_COPY_P2P]: STOP, [ERROR]: ERROR },
  [RUNNING_P2P]: { [STOP]: STOP, [RUNNING]: RUNNING, [STOP_COPY]: STOP, [RESUMING]: STOP, [RUNNING_P2P]: RUNNING_P2P, [PRE_COPY]: RUNNING, [PRE_COPY_P2P]: PRE_COPY_P2P, [ERROR]: ERROR },
  [PRE_COPY]: { [STOP]: RUNNING, [RUNNING]: RUNNING, [STOP_COPY]: PRE_COPY_P2P, [RESUMING]: RUNNING, [RUNNING_P2P]: RUNNING, [PRE_COPY]: PRE_COPY, [PRE_COPY_P2P]: PRE_COPY_P2P, [ERROR]: ERROR },
  [PRE_COPY_P2P]: { [STOP]: RUNNING_P2P, [RUNNING]: RUNNING_P2P, [STOP_COPY]: STOP_COPY, [RESUMING]: RUNNING_P2P, [RUNNING_P2P]: RUNNING_P2P, [PRE_COPY]: PRE_COPY, [PRE_COPY_P2P]: PRE_COPY_P2P, [ERROR]: ERROR },
  [ERROR]: { [STOP]: ERROR, [RUNNING]: ERROR, [STOP_COPY]: ERROR, [RESUMING]: ERROR, [RUNNING_P2P]: ERROR, [PRE_COPY]: ERROR, [PRE_COPY_P2P]: ERROR, [ERROR]: ERROR },
};

function isState(n: number): n is MigState {
  return Number.isInteger(n) && n >= 0 && n < S.NR;
}

/** Whether a device with these VFIO_MIGRATION_* flags has `state`. */
export function migrationStateSupported(state: number, flags: number): boolean {
  if (!isState(state)) return false;
  const need = REQUIRES[state];
  return need !== ALL && (flags & need) === need;
}

/**
 * The next single arc from `cur` towards `target` (`vfio_mig_get_next_state`). EINVAL when either state is not
 * supported (ERROR never is) or the way leads through ERROR (the blocked STOP_COPY → PRE_COPY* arcs; the kernel
 * would loop there, so it is cut short).
 */
export function nextMigrationState(cur: number, target: number, flags: number): MigState {
  if (!migrationStateSupported(cur, flags)) throw err('EINVAL', `current migration state ${cur} not supported`);
  if (!migrationStateSupported(target, flags)) throw err('EINVAL', `migration state ${target} not supported`);
  let next = MIG_NEXT[cur as MigState][target as MigState];
  while (next !== ERROR && !migrationStateSupported(next, flags)) next = MIG_NEXT[next][target as MigState];
  if (next === ERROR) throw err('EINVAL', `no way from migration state ${cur} to ${target}`);
  return next;
}

/** Every arc a request from `cur` to `target` takes, in order (empty when already there). */
export function migrationPath(cur: number, target: number, flags: number): MigState[] {
  const path: MigState[] = [];
  let at: number = cur;
  while (at !== target) {
    const next = nextMigrationState(at, target, flags);
    path.push(next);
    at = next;
    if (path.length > S.NR) throw err('EINVAL', `migration path from ${cur} to ${target} does not converge`);
  }
  return path;
}
