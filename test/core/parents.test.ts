import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Core } from '../../src/core/core.js';
import type { MdevDevice, ParentSpec } from '../../src/core/types.js';
import { expectErrno, kinds, randomUUID, recordEvents, spec, type TestState } from './helpers.js';

test('registerParent builds types and emits registered', () => {
  const core = new Core();
  const events = recordEvents(core);
  const p = core.registerParent(spec('mtty'));
  assert.equal(p.name, 'mtty');
  assert.equal(p.devicePath, 'virtual/test/mtty');
  assert.deepEqual(
    p.types.map((t) => [t.id, t.sysfsName, t.name, t.deviceApi, t.description?.()]),
    [
      ['test-1', '1', 'Single', 'vfio-pci', undefined],
      ['test-2', '2', '2', 'vfio-pci', 'two\n'],
    ],
  );
  assert.equal(p.hasOnline, false);
  assert.equal(p.hasReset, false);
  assert.equal(p.unregistering, false);
  assert.equal(core.parent('mtty'), p);
  assert.deepEqual(core.parents(), [p]);
  assert.equal(core.type('mtty', 'test-2'), p.types[1]);
  assert.equal(core.type('mtty', 'test-3'), undefined);
  assert.deepEqual(kinds(events), ['registered:mtty']);
  assert.equal(events[0]!.seq, 1);
});

test('registerParent refuses bad specs with EINVAL and leaves nothing registered', async () => {
  const core = new Core();
  const noop = (): void => {};
  const bad: [string, ParentSpec<TestState>][] = [
    ['no create', { ...spec('a'), ops: { remove: noop } as unknown as ParentSpec<TestState>['ops'] }],
    ['no remove', { ...spec('a'), ops: { create: () => ({ uuid: '', started: 0 }) } as unknown as ParentSpec<TestState>['ops'] }],
    ['empty name', spec('', { devicePath: 'virtual/test/' })],
    ['slash in name', spec('a/b', { devicePath: 'virtual/a/b' })],
    ['dot name', spec('..', { devicePath: 'virtual/..' })],
    ['no types', spec('a', { types: [] })],
    ['bad type name', spec('a', { types: [{ sysfsName: 'x y' }] })],
    ['duplicate type', spec('a', { types: [{ sysfsName: '1' }, { sysfsName: '1' }] })],
    ['basename differs', spec('a', { devicePath: 'virtual/test/b' })],
    ['absolute path', spec('a', { devicePath: '/sys/devices/virtual/a' })],
    ['empty path segment', spec('a', { devicePath: 'virtual//a' })],
    ['no device_api', spec('a', { deviceApi: '' })],
    ['bad driver name', spec('a', { driverName: '' })],
    ['negative pool', spec('a', { maxInstances: -1 })],
    ['start without stop', spec('a', {}, { start: noop })],
    ['startGroup without stopGroup', spec('a', {}, { startGroup: noop })],
    ['attribute without show', spec('a', { deviceAttributes: [{ attrs: [{ name: 'x', mode: 0o444 }] }] })],
  ];
  for (const [why, s] of bad) await expectErrno(() => core.registerParent(s), 'EINVAL', undefined).catch((e: Error) => {
    throw new Error(`${why}: ${e.message}`);
  });
  assert.deepEqual(core.parents(), []);
});

test('a second registration of the same name is EEXIST; unknown unregister is ENODEV', async () => {
  const core = new Core();
  core.registerParent(spec('p'));
  await expectErrno(() => core.registerParent(spec('p')), 'EEXIST');
  await expectErrno(core.unregisterParent('nope'), 'ENODEV');
  await core.unregisterParent('p');
  assert.equal(core.parent('p'), undefined);
  core.registerParent(spec('p'));
});

test('the pool is per parent, shared by its types, and returned on removal', async () => {
  const core = new Core();
  const p = core.registerParent(spec('p', { maxInstances: 3 }));
  const [t1, t2] = p.types as [MdevDevice['type'], MdevDevice['type']];
  const a = await core.create('p', 'test-1', randomUUID());
  await core.create('p', 'test-2', randomUUID());
  assert.equal(core.availableInstances(t1), 1);
  assert.equal(core.availableInstances(t2), 1);
  await core.create('p', 'test-2', randomUUID());
  await expectErrno(core.create('p', 'test-1', randomUUID()), 'EUSERS');
  await core.remove(a.uuid);
  assert.equal(core.availableInstances(t1), 1);
  await core.create('p', 'test-1', randomUUID());
});

test('neither maxInstances nor getAvailable: 0 available and EUSERS, as mainline', async () => {
  const core = new Core();
  const p = core.registerParent(spec('p', { maxInstances: undefined }));
  assert.equal(core.availableInstances(p.types[0]!), 0);
  await expectErrno(core.create('p', 'test-1', randomUUID()), 'EUSERS');
});

test('vendor getAvailable: the core reports it and does not enforce; vendor errors pass through', async () => {
  const core = new Core();
  let free = 1;
  const p = core.registerParent(
    spec('p', { maxInstances: 0 }, {
      getAvailable: () => free,
      create: (d) => {
        if (free === 0) throw Object.assign(new Error('out of ports'), { code: 'ENOSPC' });
        free--;
        return { uuid: d.uuid, started: 0 };
      },
      remove: () => {
        free++;
      },
    }),
  );
  assert.equal(core.availableInstances(p.types[0]!), 1);
  const d = await core.create('p', 'test-1', randomUUID());
  assert.equal(core.availableInstances(p.types[1]!), 0);
  // The vendor's own error object comes back unchanged (not rewrapped by the core).
  await assert.rejects(core.create('p', 'test-1', randomUUID()), (e: Error & { code?: string }) => e.code === 'ENOSPC');
  await core.remove(d.uuid);
  assert.equal(core.availableInstances(p.types[0]!), 1);
});

test('availableInstances of a type from another core or an unregistered parent is 0', async () => {
  const core = new Core();
  const other = new Core();
  const p = other.registerParent(spec('p'));
  assert.equal(core.availableInstances(p.types[0]!), 0);
  await other.unregisterParent('p');
  assert.equal(other.availableInstances(p.types[0]!), 0);
});
