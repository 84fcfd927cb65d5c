import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Core } from '../../../src/core/core.js';
import { UmdevError } from '../../../src/errors.js';
import { createMttyParent, MttyDevice } from '../../../src/drivers/mtty/index.js';
import { LocalInstance } from '../../../src/vfio-user/local-instance.js';

const uuid = (n: number): string => `5a1e0000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

test('mtty in a real Core: available_instances follow the shared 24-port pool until ENOSPC', async (t) => {
  const core = new Core();
  core.registerParent(createMttyParent());
  t.after(() => core.unregisterParent('mtty'));
  const one = core.type('mtty', 'mtty-1')!;
  const two = core.type('mtty', 'mtty-2')!;
  assert.equal(one.name, 'Single port serial');
  assert.equal(two.name, 'Dual port serial');
  assert.equal(one.deviceApi, 'vfio-pci');
  assert.deepEqual([core.availableInstances(one), core.availableInstances(two)], [24, 12]);
  const first = await core.create('mtty', 'mtty-2', uuid(0));
  assert.ok(first.driverData instanceof LocalInstance && first.driverData.model instanceof MttyDevice);
  assert.equal(first.driverData.model.nrPorts, 2);
  assert.deepEqual([core.availableInstances(one), core.availableInstances(two)], [22, 11]);
  for (let i = 1; i <= 10; i++) await core.create('mtty', 'mtty-2', uuid(i));
  for (let i = 11; i <= 12; i++) await core.create('mtty', 'mtty-1', uuid(i));
  assert.deepEqual([core.availableInstances(one), core.availableInstances(two)], [0, 0]);
  await assert.rejects(core.create('mtty', 'mtty-1', uuid(13)), (e: unknown) => e instanceof UmdevError && e.errno === 'ENOSPC');
  await assert.rejects(core.create('mtty', 'mtty-2', uuid(14)), (e: unknown) => e instanceof UmdevError && e.errno === 'ENOSPC');
  assert.equal(core.device(uuid(13)), undefined, 'a refused create leaves nothing behind');
  assert.equal(core.devices({ parent: 'mtty' }).length, 13);
  await core.remove(uuid(0));
  assert.deepEqual([core.availableInstances(one), core.availableInstances(two)], [2, 1]);
  await core.create('mtty', 'mtty-2', uuid(13));
  const vendor = core.parent('mtty')!.deviceAttributes.find((g) => g.name === 'vendor')!;
  const dev = core.device(uuid(13))!;
  assert.equal(await vendor.attrs[0]!.show!(dev, dev.driverData), `This is MDEV ${uuid(13)}\n`);
});

test('two Cores each with an mtty parent keep separate pools', async (t) => {
  const a = new Core();
  const b = new Core();
  a.registerParent(createMttyParent({ ports: 2 }));
  b.registerParent(createMttyParent({ ports: 2 }));
  t.after(async () => {
    await a.unregisterParent('mtty');
    await b.unregisterParent('mtty');
  });
  await a.create('mtty', 'mtty-2', uuid(1));
  await assert.rejects(a.create('mtty', 'mtty-1', uuid(2)), (e: unknown) => e instanceof UmdevError && e.errno === 'ENOSPC');
  await b.create('mtty', 'mtty-2', uuid(1));
  assert.equal(b.availableInstances(b.type('mtty', 'mtty-1')!), 0);
  await a.unregisterParent('mtty');
  a.registerParent(createMttyParent({ ports: 2 }));
  assert.equal(a.availableInstances(a.type('mtty', 'mtty-2')!), 1);
});
