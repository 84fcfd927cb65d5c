import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIG_NEXT, migrationPath, migrationStateSupported, nextMigrationState, type MigState } from '../../src/vfio/migration.js';
import { VFIO_DEVICE_STATE as S, VFIO_MIGRATION as M } from '../../src/vfio/constants.js';
import { UmdevError } from '../../src/errors.js';

const ALL = M.STOP_COPY | M.P2P | M.PRE_COPY;
const names = Object.fromEntries(Object.entries(S).map(([k, v]) => [v, k])) as Record<number, string>;
const walk = (cur: number, target: number, flags: number): string => [names[cur], ...migrationPath(cur, target, flags).map((s) => names[s])].join('>');
const STATES: MigState[] = [S.STOP, S.RUNNING, S.STOP_COPY, S.RESUMING, S.RUNNING_P2P, S.PRE_COPY, S.PRE_COPY_P2P];

/** The single arcs a driver implements for each flag set (vfio.h and the vfio_mig_get_next_state comment). */
function baseArcs(flags: number): Set<string> {
  const arcs = ['RESUMING>STOP', 'STOP>RESUMING', 'STOP>STOP_COPY', 'STOP_COPY>STOP'];
  const p2p = (flags & M.P2P) !== 0;
  const pre = (flags & M.PRE_COPY) !== 0;
  if (!p2p) arcs.push('RUNNING>STOP', 'STOP>RUNNING');
  else arcs.push('RUNNING>RUNNING_P2P', 'RUNNING_P2P>RUNNING', 'RUNNING_P2P>STOP', 'STOP>RUNNING_P2P');
  if (pre && !p2p) arcs.push('RUNNING>PRE_COPY', 'PRE_COPY>RUNNING', 'PRE_COPY>STOP_COPY');
  if (pre && p2p) {
    arcs.push('RUNNING>PRE_COPY', 'PRE_COPY>RUNNING', 'PRE_COPY>PRE_COPY_P2P', 'PRE_COPY_P2P>PRE_COPY', 'PRE_COPY_P2P>RUNNING_P2P', 'PRE_COPY_P2P>STOP_COPY', 'RUNNING_P2P>PRE_COPY_P2P');
  }
  return new Set(arcs);
}

test('every pair of supported states is reached through base arcs only, for each flag set', () => {
  for (const flags of [M.STOP_COPY, M.STOP_COPY | M.P2P, M.STOP_COPY | M.PRE_COPY, ALL]) {
    const arcs = baseArcs(flags);
    const supported = STATES.filter((s) => migrationStateSupported(s, flags));
    for (const cur of supported) {
      for (const target of supported) {
        if (cur === S.STOP_COPY && (target === S.PRE_COPY || target === S.PRE_COPY_P2P)) {
          assert.throws(() => migrationPath(cur, target, flags), (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL');
          continue;
        }
        const path = migrationPath(cur, target, flags);
        assert.equal(path.at(-1) ?? cur, target);
        let at: number = cur;
        for (const step of path) {
          assert.ok(arcs.has(`${names[at]}>${names[step]}`), `flags ${flags}: ${names[at]}>${names[step]} is not a base arc (${walk(cur, target, flags)})`);
          at = step;
        }
      }
    }
  }
});

test('the multi-step paths the kernel comment lists (all features, as mtty)', () => {
  assert.equal(walk(S.PRE_COPY, S.STOP_COPY, ALL), 'PRE_COPY>PRE_COPY_P2P>STOP_COPY');
  assert.equal(walk(S.RUNNING, S.STOP_COPY, ALL), 'RUNNING>RUNNING_P2P>STOP>STOP_COPY');
  assert.equal(walk(S.RESUMING, S.RUNNING, ALL), 'RESUMING>STOP>RUNNING_P2P>RUNNING');
  assert.equal(walk(S.STOP_COPY, S.RUNNING, ALL), 'STOP_COPY>STOP>RUNNING_P2P>RUNNING');
  assert.equal(walk(S.STOP, S.PRE_COPY, ALL), 'STOP>RUNNING_P2P>RUNNING>PRE_COPY');
  assert.equal(walk(S.RUNNING_P2P, S.RESUMING, ALL), 'RUNNING_P2P>STOP>RESUMING');
  assert.equal(walk(S.PRE_COPY, S.RESUMING, ALL), 'PRE_COPY>RUNNING>RUNNING_P2P>STOP>RESUMING');
  assert.equal(walk(S.RUNNING, S.STOP_COPY, M.STOP_COPY), 'RUNNING>STOP>STOP_COPY');
  assert.equal(walk(S.RESUMING, S.RUNNING, M.STOP_COPY | M.P2P), 'RESUMING>STOP>RUNNING_P2P>RUNNING');
});

test('unsupported states and ERROR are EINVAL', () => {
  const einval = (e: unknown): boolean => e instanceof UmdevError && e.errno === 'EINVAL';
  assert.throws(() => nextMigrationState(S.RUNNING, S.ERROR, ALL), einval);
  assert.throws(() => nextMigrationState(S.ERROR, S.RUNNING, ALL), einval);
  assert.throws(() => nextMigrationState(S.RUNNING, S.RUNNING_P2P, M.STOP_COPY), einval);
  assert.throws(() => nextMigrationState(S.RUNNING, 8, ALL), einval);
  assert.throws(() => nextMigrationState(S.RUNNING, S.STOP, 0), einval);
  assert.equal(MIG_NEXT[S.STOP][S.STOP], S.STOP);
});
