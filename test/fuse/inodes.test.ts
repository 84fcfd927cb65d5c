import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InodeTable } from '../../src/fuse/inodes.js';

const p = (s: string): string[] => s.split('/');

test('detach takes a path and its subtree, not siblings whose names share a prefix', () => {
  const t = new InodeTable();
  const nodes = ['a', 'a/b', 'a/b/c', 'a/b/c/d', 'a/bc', 'a/bc/x', 'ab', 'z'].map((k) => t.ref(p(k), undefined));
  const top = t.detach(p('a/b'));
  assert.equal(top, nodes[1]);
  assert.deepEqual(nodes.map((n) => n.detached), [false, true, true, true, false, false, false, false]);
  for (const k of ['a/b', 'a/b/c', 'a/b/c/d']) assert.equal(t.find(p(k)), undefined, k);
  for (const k of ['a', 'a/bc', 'a/bc/x', 'ab', 'z']) assert.ok(t.find(p(k)), k);
  // The same name again is a new node id; its old one stays known to the kernel until forgotten.
  const again = t.ref(p('a/b'), undefined);
  assert.notEqual(again.ino, nodes[1]!.ino);
  assert.equal(t.get(nodes[1]!.ino), nodes[1]);
  t.forget(nodes[1]!.ino, 1);
  assert.equal(t.get(nodes[1]!.ino), undefined);
  assert.equal(t.find(p('a/b')), again, 'forgetting the old node id leaves the new one in place');
});

test('detach reaches a subtree whose parent the kernel forgot first', () => {
  const t = new InodeTable();
  const dir = t.ref(p('d'), undefined);
  const leaf = t.ref(p('d/e/f'), undefined);
  t.forget(dir.ino, 1);
  t.detach(p('d'));
  assert.equal(leaf.detached, true);
  assert.equal(t.find(p('d/e/f')), undefined);
});

test('detaching one of many devices visits its own nodes only', () => {
  const t = new InodeTable();
  for (let i = 0; i < 20000; i++) for (const leaf of ['', '/remove', '/mdev_type']) t.ref(p(`devices/dev${i}${leaf}`), undefined);
  const before = t.size;
  for (let i = 0; i < 20000; i++) t.detach(p(`devices/dev${i}`));
  assert.equal(t.size, before, 'detach releases no node id: the kernel still holds them');
  assert.equal(t.find(p('devices/dev0')), undefined);
  assert.ok(t.find(p('devices')) === undefined, 'never looked up');
});

test('after every node of a subtree is forgotten, the same names taken again are still found by a detach', () => {
  const t = new InodeTable();
  const a = t.ref(p('x/y/z'), undefined);
  const b = t.ref(p('x/y'), undefined);
  t.forget(b.ino, 1);
  t.forget(a.ino, 1);
  assert.equal(t.size, 1);
  // A fresh subtree under the same names is reachable again, so a detach still finds it.
  const c = t.ref(p('x/y/z'), undefined);
  t.detach(p('x'));
  assert.equal(c.detached, true);
});
