/** The assertions every fuzz target's short run shares: all inputs ran, nothing crashed, hung, erred or leaked. */
import assert from 'node:assert/strict';
import type { FuzzResult } from '../../fuzz/engine.js';

export function assertCleanRun(r: FuzzResult, count: number, maxRssMb = 512): void {
  assert.deepEqual(r.failures, []);
  assert.equal(r.inputs, count);
  assert.equal(r.crashes, 0);
  assert.equal(r.hangs, 0);
  assert.equal(r.errors, 0);
  assert.equal(r.leaked_fds, 0);
  assert.ok(r.rss_max_mb > 0 && r.rss_max_mb < maxRssMb, `child RSS peaked at ${r.rss_max_mb} MB`);
}
