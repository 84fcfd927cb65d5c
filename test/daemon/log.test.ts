import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../src/log.js';

test('text lines carry level, component and uuid; below-level lines are dropped', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'info', sink: { write: (l: string) => lines.push(l) } });
  log.debug('hidden');
  log.child('vfio-user', '3f2a').warn('DMA_MAP failed', { errno: 'EINVAL', note: 'two words' });
  log.info('plain');
  assert.deepEqual(lines, ['warn  vfio-user[3f2a]: DMA_MAP failed errno=EINVAL note="two words"\n', 'info  umdevd: plain\n']);
});

test('JSON lines are one object per line', () => {
  const lines: string[] = [];
  const log = createLogger({ json: true, level: 'debug', sink: { write: (l: string) => lines.push(l) }, now: () => new Date(0) });
  log.child('api').child('autostart', 'u1').debug('hi', { n: 1 });
  assert.equal(lines.length, 1);
  assert.ok(lines[0].endsWith('\n'));
  assert.deepEqual(JSON.parse(lines[0]), { time: '1970-01-01T00:00:00.000Z', level: 'debug', component: 'autostart', uuid: 'u1', msg: 'hi', n: 1 });
});
