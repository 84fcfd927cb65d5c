import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DirtyLog } from '../../src/vfio-user/dirty-log.js';

const bits = (b: Buffer): number[] => {
  const out: number[] = [];
  for (let i = 0; i < b.length * 8; i++) if (b[i >> 3]! & (1 << (i & 7))) out.push(i);
  return out;
};

test('DirtyLog: writes mark the pages they touch inside the ranges only; a report clears what it returned', () => {
  const log = new DirtyLog(4096n, [{ iova: 0x10000n, length: 0x8000n }, { iova: 0x40000n, length: 0x1000n }], 4096n, 1 << 20);
  log.mark(0x0n, 0x20000); // spans before, across and after the first range
  log.mark(0x40ff0n, 0x10);
  log.mark(0x50000n, 8); // outside every range
  assert.deepEqual(bits(log.report(0x10000n, 0x8000n, 4096n)), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(bits(log.report(0x10000n, 0x8000n, 4096n)), []);
  assert.deepEqual(bits(log.report(0x40000n, 0x1000n, 4096n)), [0]);
  assert.equal(log.report(0x10000n, 0x8000n, 4096n).length, 8, 'whole u64 words');
  log.mark(0x13000n, 1);
  assert.deepEqual(bits(log.report(0x10000n, 0x8000n, 0x4000n)), [0], 'coarser pages OR the finer ones');
});

test('DirtyLog: no ranges logs every write, wherever it lands, and reports any aligned range', () => {
  const log = new DirtyLog(4096n, [], 4096n, 1 << 20);
  assert.equal(log.everything, true);
  log.mark(0x1000n, 1);
  log.mark(0x7_0000_2ff0n, 0x20); // pages 2 and 3 of a window far away, across a chunk of the sparse bitmap
  log.mark(0x8000n * 4096n - 1n, 2); // across the 32768-page chunk boundary
  assert.deepEqual(bits(log.report(0n, 0x4000n, 4096n)), [1]);
  assert.deepEqual(bits(log.report(0x7_0000_0000n, 0x10000n, 4096n)), [2, 3]);
  assert.deepEqual(bits(log.report(0x8000n * 4096n - 4096n, 8192n, 4096n)), [0, 1]);
  assert.deepEqual(bits(log.report(0n, 0x4000n, 4096n)), [], 'reported pages are cleared');
  log.mark(0x3000n, 4096 * 3);
  assert.deepEqual(bits(log.collect(0n, 0x10000n, 0x2000n)), [1, 2], 'collect at a coarser page size');
});

test('DirtyLog: bad page sizes and ranges are EINVAL', () => {
  const make = (pageSize: bigint, ranges: { iova: bigint; length: bigint }[], max = 1 << 20) => () => new DirtyLog(pageSize, ranges, 4096n, max);
  const einval = (e: unknown) => (e as { errno?: string }).errno === 'EINVAL';
  assert.throws(make(4097n, [{ iova: 0n, length: 4096n }]), einval);
  assert.throws(make(4096n, Array.from({ length: 257 }, (_, i) => ({ iova: BigInt(i) * 4096n, length: 4096n }))), einval);
  assert.throws(make(4096n, [{ iova: 0n, length: 8192n }, { iova: 4096n, length: 4096n }]), einval);
  assert.throws(make(4096n, [{ iova: (1n << 64n) - 4096n, length: 8192n }]), einval);
  assert.throws(make(4096n, [{ iova: 0n, length: 4096n * 64n }], 4), einval);
  const log = new DirtyLog(8192n, [{ iova: 0n, length: 0x10000n }], 4096n, 1 << 20);
  assert.throws(() => log.report(0n, 0x10000n, 4096n), einval);
  assert.throws(() => log.report(0n, 0x20000n, 8192n), einval);
  assert.throws(() => log.report(0x1000n, 0x2000n, 8192n), einval);
});
