import { test } from 'node:test';
import { runFuzz } from '../../fuzz/engine.js';
import { target } from '../../fuzz/targets/api.js';
import { assertCleanRun } from './clean-run.js';

test('fuzz api: 2,000 seeded raw HTTP requests leave umdevd serving, with no 500, crash, hang or leaked fd', async () => {
  assertCleanRun(await runFuzz(target, { count: 2000, seed: 20261130 }), 2000);
});
