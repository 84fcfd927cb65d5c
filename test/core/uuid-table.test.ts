import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { UuidTable, type UuidKeyed } from '../../src/core/uuid-table.js';

type Rec = UuidKeyed<Rec>;

const rec = (uuid: string): Rec => ({ uuid, uuidHash: 0, nextSameHash: undefined });

test('colliding UUIDs chain: each is found, and deleting head, middle or tail keeps the others', () => {
  const table = new UuidTable<Rec>();
  // Find three UUIDs with the same 30-bit hash under this table's seed (birthday search, a few 10^5 tries).
  const byHash = new Map<number, string[]>();
  let group: string[] | undefined;
  while (group === undefined) {
    const u = randomUUID();
    const h = table.hash(u);
    const list = byHash.get(h) ?? [];
    list.push(u);
    byHash.set(h, list);
    if (list.length === 2) group = list;
  }
  const third = rec(randomUUID());
  const [a, b] = group.map(rec) as [Rec, Rec];
  table.add(a);
  table.add(b);
  table.add(third);
  assert.equal(a.uuidHash, b.uuidHash);
  assert.equal(table.get(a.uuid), a);
  assert.equal(table.get(b.uuid), b);
  assert.equal(table.size, 3);
  table.delete(a); // the older one sits behind b in the chain
  assert.equal(table.get(a.uuid), undefined);
  assert.equal(table.get(b.uuid), b);
  table.add(a);
  table.delete(a); // now the head
  assert.equal(table.get(b.uuid), b);
  table.delete(b);
  assert.equal(table.get(b.uuid), undefined);
  assert.equal(table.get(third.uuid), third);
  assert.equal(table.size, 1);
});

test('a large table agrees with a Map through random adds and deletes', () => {
  const table = new UuidTable<Rec>();
  const model = new Map<string, Rec>();
  const live: Rec[] = [];
  for (let i = 0; i < 60000; i++) {
    if (live.length > 0 && i % 3 === 2) {
      const k = (i * 7919) % live.length;
      const r = live[k]!;
      live[k] = live[live.length - 1]!;
      live.pop();
      table.delete(r);
      model.delete(r.uuid);
    } else {
      const r = rec(randomUUID());
      table.add(r);
      model.set(r.uuid, r);
      live.push(r);
    }
  }
  assert.equal(table.size, model.size);
  for (const [u, r] of model) assert.equal(table.get(u), r);
  assert.equal(table.get(randomUUID()), undefined);
});
