import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GroupIds } from '../../src/core/iommu-groups.js';

test('group ids start at 0, stay dense and the lowest free id wins', () => {
  const g = new GroupIds();
  assert.deepEqual([g.alloc(), g.alloc(), g.alloc(), g.alloc()], [0, 1, 2, 3]);
  g.free(2);
  g.free(0);
  assert.equal(g.peek(), 0);
  assert.equal(g.alloc(), 0);
  assert.equal(g.alloc(), 2);
  assert.equal(g.alloc(), 4);
});

test('alloc then free of the newest id leaves the allocator as it was', () => {
  const g = new GroupIds();
  g.alloc();
  g.alloc();
  const before = g.peek();
  g.free(g.alloc());
  assert.equal(g.peek(), before);
});

test('an id is never handed out twice while held (random churn)', () => {
  const g = new GroupIds();
  const held = new Set<number>();
  let seed = 12345;
  const rand = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = 0; i < 20000; i++) {
    if (held.size > 0 && rand() < 0.45) {
      const arr = Array.from(held);
      const id = arr[Math.floor(rand() * arr.length)]!;
      held.delete(id);
      g.free(id);
    } else {
      const id = g.alloc();
      assert.ok(!held.has(id), `id ${id} handed out while held`);
      // The lowest free id: every smaller id is held.
      for (let k = 0; k < Math.min(id, 50); k++) assert.ok(held.has(k), `id ${k} was free but ${id} was given`);
      held.add(id);
    }
  }
});
