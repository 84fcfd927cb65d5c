import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../src/log.js';

test('text lines carry level, component and uuid; below-level lines are dropped', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'info', sink: { write: (l: string) => lines.push(l) }, now: () => new Date(0) });
  log.debug('hidden');
  log.child('vfio-user', '3f2a').warn('DMA_MAP failed', { errno: 'EINVAL', note: 'two words' });
  log.info('plain');
  assert.deepEqual(lines, [
    '1970-01-01T00:00:00.000Z warn  vfio-user[3f2a]: DMA_MAP failed errno=EINVAL note="two words"\n',
    '1970-01-01T00:00:00.000Z info  umdevd: plain\n',
  ]);
});

test('text lines start with the ISO-8601 UTC time of the real clock by default', () => {
  const lines: string[] = [];
  const before = Date.now();
  createLogger({ sink: { write: (l: string) => lines.push(l) } }).info('now');
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) info {2}umdevd: now\n$/.exec(lines[0] ?? '');
  assert.ok(m, lines[0]);
  const t = Date.parse(m[1]!);
  assert.ok(t >= before - 1 && t <= Date.now() + 1, `${m[1]} is now`);
});

test('JSON lines are one object per line', () => {
  const lines: string[] = [];
  const log = createLogger({ json: true, level: 'debug', sink: { write: (l: string) => lines.push(l) }, now: () => new Date(0) });
  log.child('api').child('autostart', 'u1').debug('hi', { n: 1 });
  assert.equal(lines.length, 1);
  assert.ok(lines[0].endsWith('\n'));
  assert.deepEqual(JSON.parse(lines[0]), { time: '1970-01-01T00:00:00.000Z', level: 'debug', component: 'autostart', uuid: 'u1', msg: 'hi', n: 1 });
});
