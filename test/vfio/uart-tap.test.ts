/** The UART tap's ring: bounded, positions count every byte, a reader that fell behind learns how much it missed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteRing, uartTapOf } from '../../src/vfio/uart-tap.js';

test('reads after a position, from what the ring still holds', () => {
  const r = new ByteRing(4);
  for (const c of Buffer.from('abc')) r.push(c);
  assert.deepEqual(r.read(), { start: 0, end: 3, lost: 0, data: Buffer.from('abc') });
  assert.deepEqual(r.read(2), { start: 2, end: 3, lost: 0, data: Buffer.from('c') });
  for (const c of Buffer.from('defg')) r.push(c);
  assert.deepEqual(r.read(1), { start: 3, end: 7, lost: 2, data: Buffer.from('defg') });
  assert.deepEqual(r.read(99), { start: 7, end: 7, lost: 0, data: Buffer.alloc(0) });
  assert.equal(uartTapOf({ uartTap: r }), r);
  assert.equal(uartTapOf({ uartTap: 'no' }), undefined);
  assert.throws(() => new ByteRing(0), RangeError);
});
