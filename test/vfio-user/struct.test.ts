/** The field tables the vfio-user codec is declared with: layout, both directions, and refused tables. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { struct } from '../../src/vfio-user/struct.js';

test('a table lays its fields out in order, little-endian, and decodes what it encodes', () => {
  const s = struct({ id: 'u16', version: 'u16', next: 'u32', size: 'u64' });
  assert.equal(s.size, 16);
  const b = s.encode({ id: 0x0102, version: 3, next: 0x0a0b0c0d, size: 0x1122334455667788n });
  assert.deepEqual([...b], [0x02, 0x01, 3, 0, 0x0d, 0x0c, 0x0b, 0x0a, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
  assert.deepEqual(s.decode(b), { id: 0x0102, version: 3, next: 0x0a0b0c0d, size: 0x1122334455667788n });
  // At an offset, into a given buffer, leaving the rest alone; a fresh one has room for what follows.
  const big = Buffer.alloc(20, 0xff);
  s.encode({ id: 1, version: 2, next: 3, size: 4n }, big, 4);
  assert.deepEqual([...big.subarray(0, 4)], [0xff, 0xff, 0xff, 0xff]);
  assert.deepEqual(s.decode(big, 4), { id: 1, version: 2, next: 3, size: 4n });
  assert.equal(s.encode({ id: 0, version: 0, next: 0, size: 0n }, undefined, 0, 5).length, 21);
});

test('u16 and u32 values are taken modulo their width, as a C assignment would', () => {
  const s = struct({ a: 'u16', b: 'u16', c: 'u32' });
  assert.deepEqual(s.decode(s.encode({ a: 0x12345, b: -1, c: -1 })), { a: 0x2345, b: 0xffff, c: 0xffffffff });
});

test('a table whose field would not sit at a multiple of its size is refused', () => {
  assert.throws(() => struct({ a: 'u32', b: 'u64' }), /b \(u64\) at offset 4 is not aligned/);
  assert.throws(() => struct({ a: 'u16', b: 'u32' }), /not aligned/);
});

test('the header and region-access codecs, written out by hand for speed, agree with their tables', async () => {
  const c = await import('../../src/vfio-user/codec.js');
  let seed = 7;
  const rnd = (max: number): number => (seed = (seed * 1103515245 + 12345) >>> 0) % max;
  for (let i = 0; i < 200; i++) {
    const h = { msgId: rnd(0x10000), cmd: rnd(0x10000), size: rnd(2 ** 32), flags: rnd(2 ** 32), errorNo: rnd(2 ** 32) };
    const bytes = c.encodeHeader(h);
    assert.deepEqual(bytes, c.HEADER.encode(h));
    assert.deepEqual(c.decodeHeader(bytes), c.HEADER.decode(bytes));
    const a = { offset: BigInt(rnd(2 ** 32)) * 2n ** 32n + BigInt(rnd(2 ** 32)), region: rnd(2 ** 32), count: rnd(2 ** 32) };
    const ab = c.encodeRegionAccess(a.offset, a.region, a.count);
    assert.deepEqual(ab, c.REGION_ACCESS.encode(a));
    const { data, ...fields } = c.decodeRegionAccess(6, ab);
    assert.deepEqual(fields, c.REGION_ACCESS.decode(ab));
    assert.equal(data.length, 0);
  }
});
