import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RangeTree } from '../../src/core/ranges.js';
import type { MappedRange } from '../../src/core/types.js';
import { expectErrno } from './helpers.js';

function r(start: bigint, size: bigint): MappedRange {
  return { start, size, onInvalidate: () => {} };
}

function hits(tree: RangeTree, lo: bigint, hi: bigint): string[] {
  const out: string[] = [];
  tree.overlapping(lo, hi, (range, s, n) => out.push(`${range.start}:${s}+${n}`));
  return out;
}

test('insert refuses bad, overflowing and overlapping ranges; adjacent is fine', async () => {
  const t = new RangeTree();
  t.insert(r(100n, 100n));
  t.insert(r(200n, 50n)); // adjacent on the right
  t.insert(r(50n, 50n)); // adjacent on the left
  await expectErrno(() => t.insert(r(150n, 10n)), 'EINVAL', /overlaps/);
  await expectErrno(() => t.insert(r(0n, 51n)), 'EINVAL', /overlaps/);
  await expectErrno(() => t.insert(r(249n, 5n)), 'EINVAL', /overlaps/);
  await expectErrno(() => t.insert(r(0n, 1000n)), 'EINVAL', /overlaps/);
  await expectErrno(() => t.insert(r(100n, 100n)), 'EINVAL', /overlaps/);
  await expectErrno(() => t.insert(r(1000n, 0n)), 'EINVAL');
  await expectErrno(() => t.insert(r(-1n, 2n)), 'EINVAL');
  await expectErrno(() => t.insert(r((1n << 64n) - 4n, 5n)), 'EINVAL', /overflows/);
  t.insert(r((1n << 64n) - 4n, 4n));
  assert.equal(t.size, 4);
});

test('overlap query: left, right, inside, covering, adjacent', () => {
  const t = new RangeTree();
  t.insert(r(100n, 100n)); // [100,200)
  t.insert(r(300n, 100n)); // [300,400)
  assert.deepEqual(hits(t, 50n, 150n), ['100:100+50'], 'left partial');
  assert.deepEqual(hits(t, 150n, 250n), ['100:150+50'], 'right partial');
  assert.deepEqual(hits(t, 120n, 130n), ['100:120+10'], 'inside');
  assert.deepEqual(hits(t, 0n, 1000n), ['100:100+100', '300:300+100'], 'covering both');
  assert.deepEqual(hits(t, 150n, 350n), ['100:150+50', '300:300+50'], 'spanning the gap');
  assert.deepEqual(hits(t, 200n, 300n), [], 'the gap, adjacent on both sides');
  assert.deepEqual(hits(t, 0n, 100n), [], 'adjacent on the left');
  assert.deepEqual(hits(t, 400n, 500n), [], 'adjacent on the right');
});

test('delete by start, and a randomised cross-check against a linear scan', () => {
  const t = new RangeTree();
  const model = new Map<bigint, bigint>();
  let seed = 7;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  for (let i = 0; i < 3000; i++) {
    const start = BigInt(rand(100000));
    const size = BigInt(1 + rand(200));
    const op = rand(3);
    if (op < 2) {
      const clash = [...model].some(([s, n]) => s < start + size && start < s + n);
      try {
        t.insert(r(start, size));
        assert.ok(!clash, 'accepted an overlap');
        model.set(start, size);
      } catch {
        assert.ok(clash, 'refused a disjoint range');
      }
    } else {
      const keys = [...model.keys()];
      const k = keys.length > 0 && rand(2) === 0 ? keys[rand(keys.length)]! : start;
      const got = t.delete(k);
      assert.equal(got !== undefined, model.delete(k));
    }
    if (i % 100 === 0) {
      const lo = BigInt(rand(100000));
      const hi = lo + BigInt(1 + rand(5000));
      const want = [...model]
        .filter(([s, n]) => s < hi && lo < s + n)
        .sort((a, b) => (a[0] < b[0] ? -1 : 1))
        .map(([s, n]) => {
          const hs = s > lo ? s : lo;
          const he = s + n < hi ? s + n : hi;
          return `${s}:${hs}+${he - hs}`;
        });
      assert.deepEqual(hits(t, lo, hi), want);
    }
  }
  assert.equal(t.size, model.size);
  assert.deepEqual(
    t.values().map((x) => x.start),
    [...model.keys()].sort((a, b) => (a < b ? -1 : 1)),
  );
});
