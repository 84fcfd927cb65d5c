import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMttyParent, MttyDevice } from '../../../src/drivers/mtty/index.js';
import type { MdevDevice, MdevType } from '../../../src/core/types.js';
import type { DeviceInstance } from '../../../src/vfio-user/instance.js';
import type { LocalInstance } from '../../../src/vfio-user/local-instance.js';
import { UmdevError } from '../../../src/errors.js';

/** The slice of a core-made type and device the parent reads; the full objects come from a real Core elsewhere. */
function typeOf(sysfsName: string): MdevType {
  return { id: `mtty-${sysfsName}`, sysfsName, name: sysfsName, description: undefined, deviceApi: 'vfio-pci' } as unknown as MdevType;
}
function deviceOf(sysfsName: string, uuid: string): MdevDevice {
  return { uuid, name: uuid, type: typeOf(sysfsName) } as unknown as MdevDevice;
}

test('the parent spec names and types match the sample', async () => {
  const p = createMttyParent();
  assert.equal(p.name, 'mtty');
  assert.equal(p.devicePath, 'virtual/mtty/mtty');
  assert.equal(p.driverName, 'mtty');
  assert.equal(p.deviceApi, 'vfio-pci');
  assert.deepEqual(p.types.map((t) => [t.sysfsName, t.prettyName, t.description]), [
    ['1', 'Single port serial', undefined],
    ['2', 'Dual port serial', undefined],
  ]);
  assert.equal(p.maxInstances, undefined);
  assert.equal(p.ops.start, undefined, 'mtty has no start/stop');
  const attr = p.deviceAttributes![0]!;
  assert.equal(attr.name, 'vendor');
  assert.equal(attr.attrs[0]!.name, 'sample_mdev_dev');
  assert.equal(attr.attrs[0]!.mode, 0o444);
  const uuid = '83b8f4f2-509f-382f-3c1e-e6bfe0fa1001';
  const dev = deviceOf('1', uuid);
  const state = (await p.ops.create(dev, undefined)) as DeviceInstance;
  assert.equal(await attr.attrs[0]!.show!(dev, state), `This is MDEV ${uuid}\n`);
});

test('one pool of 24 ports: available = free / ports per type, ENOSPC when short, ports return on remove', async () => {
  const p = createMttyParent();
  const model = (i: DeviceInstance): MttyDevice => (i as LocalInstance).model as MttyDevice;
  const avail = (s: string): number => p.ops.getAvailable!(typeOf(s));
  assert.deepEqual([avail('1'), avail('2')], [24, 12]);
  const two = await p.ops.create(deviceOf('2', 'a'), undefined);
  assert.equal(model(two).nrPorts, 2);
  assert.deepEqual([avail('1'), avail('2')], [22, 11]);
  const ones: DeviceInstance[] = [];
  for (let i = 0; i < 21; i++) ones.push(await p.ops.create(deviceOf('1', `b${i}`), undefined));
  assert.deepEqual([avail('1'), avail('2')], [1, 0]);
  assert.throws(() => p.ops.create(deviceOf('2', 'c'), undefined), (e: unknown) => e instanceof UmdevError && e.errno === 'ENOSPC');
  ones.push(await p.ops.create(deviceOf('1', 'd'), undefined));
  assert.throws(() => p.ops.create(deviceOf('1', 'e'), undefined), (e: unknown) => e instanceof UmdevError && e.errno === 'ENOSPC');
  await p.ops.remove(deviceOf('2', 'a'), two);
  await p.ops.remove(deviceOf('2', 'a'), two);
  assert.deepEqual([avail('1'), avail('2')], [2, 1], 'a repeated remove returns the ports once');
});

test('parents are independent: each factory call has its own pool', async () => {
  const a = createMttyParent({ ports: 2 });
  const b = createMttyParent({ ports: 2 });
  await a.ops.create(deviceOf('2', 'x'), undefined);
  assert.equal(a.ops.getAvailable!(typeOf('1')), 0);
  assert.equal(b.ops.getAvailable!(typeOf('1')), 2);
  assert.throws(() => createMttyParent({ ports: -1 }), (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL');
});
