import { test } from 'node:test';
import { runFuzz } from '../../fuzz/engine.js';
import { target } from '../../fuzz/targets/vfio-user.js';
import { assertCleanRun } from './clean-run.js';

test('fuzz vfio-user: 2,000 seeded inputs leave the daemon serving, with no crash, hang or leaked fd', async () => {
  assertCleanRun(await runFuzz(target, { count: 2000, seed: 20261130 }), 2000);
});
