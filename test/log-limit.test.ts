import { test } from 'node:test';
import assert from 'node:assert/strict';
import { limitLog } from '../src/log-limit.js';

test('limitLog: a burst per key per interval, then the count of suppressed lines on the next one through', () => {
  let t = 0;
  const lines: string[] = [];
  const log = limitLog((level, m) => lines.push(`${level} ${m}`), { burst: 2, intervalMs: 1000, now: () => t });
  for (let i = 0; i < 10; i++) log('accept', 'warn', `accept failed ${i}`);
  log('other', 'info', 'another key is not limited by the first');
  assert.deepEqual(lines, ['warn accept failed 0', 'warn accept failed 1', 'info another key is not limited by the first']);
  t = 1000;
  log('accept', 'warn', 'accept failed again');
  assert.equal(lines.at(-1), 'warn accept failed again (8 similar messages suppressed)');
  log('accept', 'warn', 'x');
  log('accept', 'warn', 'y');
  assert.equal(lines.length, 5);
});
