import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFuzz } from '../../fuzz/engine.js';
import { target } from '../../fuzz/targets/vfio-user.js';

test('fuzz vfio-user: 2,000 seeded inputs leave the daemon serving, with no crash, hang or leaked fd', async () => {
  const r = await runFuzz(target, { count: 2000, seed: 20261130 });
  assert.deepEqual(r.failures, []);
  assert.equal(r.inputs, 2000);
  assert.equal(r.crashes, 0);
  assert.equal(r.hangs, 0);
  assert.equal(r.leaked_fds, 0);
  assert.ok(r.rss_max_mb > 0 && r.rss_max_mb < 512, `child RSS peaked at ${r.rss_max_mb} MB`);
});
