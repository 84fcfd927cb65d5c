import { test } from 'node:test';
import { runFuzz } from '../../fuzz/engine.js';
import { target } from '../../fuzz/targets/migration-stream.js';
import { assertCleanRun } from './clean-run.js';

test('fuzz migration-stream: 2,000 seeded streams into a confined device host leave it serving and migrating', async () => {
  assertCleanRun(await runFuzz(target, { count: 2000, seed: 20261208 }), 2000);
});
