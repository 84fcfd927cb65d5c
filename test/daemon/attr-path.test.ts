import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AttrNode, AttrTree } from '../../src/fuse/attr-tree.js';
import { resolveFollowing, writeDeviceAttr } from '../../src/daemon/attr-path.js';

const U = '12345678-1234-4234-8234-123456789abc';

/** A fixed tree shaped like sysfs: the bus entry is a relative link into devices/. */
function tree(written: string[]): AttrTree {
  const dir = (names: string[]): AttrNode => ({ kind: 'dir', mode: 0o755, entries: () => names.map((name) => ({ name, kind: 'dir' as const })) });
  const nodes = new Map<string, AttrNode>([
    ['', dir(['bus', 'devices'])],
    ['bus', dir(['mdev'])],
    ['bus/mdev', dir(['devices'])],
    ['bus/mdev/devices', dir([U])],
    [`bus/mdev/devices/${U}`, { kind: 'symlink', target: `../../../devices/virtual/p/${U}` }],
    ['devices', dir(['virtual'])],
    ['devices/virtual', dir(['p'])],
    ['devices/virtual/p', dir([U])],
    [`devices/virtual/p/${U}`, dir(['vendor', 'remove', 'loop'])],
    [`devices/virtual/p/${U}/vendor`, dir(['knob', 'ro'])],
    [`devices/virtual/p/${U}/vendor/knob`, { kind: 'file', mode: 0o644, show: () => '0\n', store: (b) => void written.push(b.toString()) }],
    [`devices/virtual/p/${U}/vendor/ro`, { kind: 'file', mode: 0o444, show: () => '1\n' }],
    [`devices/virtual/p/${U}/loop`, { kind: 'symlink', target: 'loop' }],
  ]);
  return { resolve: (p) => nodes.get(p.join('/')) };
}

test('resolveFollowing walks through relative links like a path walk', () => {
  const t = tree([]);
  assert.equal(resolveFollowing(t, ['bus', 'mdev', 'devices', U, 'vendor', 'knob'])?.kind, 'file');
  assert.equal(resolveFollowing(t, ['bus', 'mdev', 'devices', U])?.kind, 'dir');
  assert.equal(resolveFollowing(t, ['bus', 'mdev', 'devices', U, 'nosuch']), undefined);
  assert.equal(resolveFollowing(t, ['bus', 'mdev', 'devices', U, 'loop', 'x']), undefined, 'a link loop ends');
});

test('writeDeviceAttr stores through the tree and answers as sysfs would', async () => {
  const written: string[] = [];
  const t = tree(written);
  await writeDeviceAttr(t, U, 'vendor/knob', '42');
  assert.deepEqual(written, ['42']);
  const errno = (e: unknown): string | undefined => (e as { errno?: string }).errno;
  await assert.rejects(writeDeviceAttr(t, U, 'vendor/ro', '1'), (e) => errno(e) === 'EACCES');
  await assert.rejects(writeDeviceAttr(t, U, 'nosuch', '1'), (e) => errno(e) === 'ENOENT');
  await assert.rejects(writeDeviceAttr(t, U, 'vendor', '1'), (e) => errno(e) === 'EISDIR');
  await assert.rejects(writeDeviceAttr(t, U, '../../x', '1'), (e) => errno(e) === 'EINVAL');
});
