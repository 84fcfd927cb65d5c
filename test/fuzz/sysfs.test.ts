import { test } from 'node:test';
import { runFuzz } from '../../fuzz/engine.js';
import { target } from '../../fuzz/targets/sysfs.js';
import { assertCleanRun } from './clean-run.js';

test('fuzz sysfs: 1,500 seeded file operations through the mount leave umdevd serving with a consistent pool', async () => {
  assertCleanRun(await runFuzz(target, { count: 1500, seed: 20261130 }), 1500);
});
