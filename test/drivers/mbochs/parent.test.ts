import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Core } from '../../../src/core/core.js';
import { UmdevError } from '../../../src/errors.js';
import { MbochsDevice, createMbochsParent } from '../../../src/drivers/mbochs/index.js';
import { LocalInstance } from '../../../src/vfio-user/local-instance.js';

const uuid = (n: number): string => `b0c50000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const isErrno = (errno: string) => (e: unknown): boolean => e instanceof UmdevError && e.errno === errno;

test('types as the sample names them, with their descriptions and the vendor memory attribute', async (t) => {
  const core = new Core();
  core.registerParent(createMbochsParent());
  t.after(() => core.unregisterParent('mbochs'));
  const p = core.parent('mbochs')!;
  assert.deepEqual(p.types.map((x) => [x.id, x.name, x.description?.()]), [
    ['mbochs-small', 'mbochs-small', 'virtual display, 4 MB video memory'],
    ['mbochs-medium', 'mbochs-medium', 'virtual display, 16 MB video memory'],
    ['mbochs-large', 'mbochs-large', 'virtual display, 64 MB video memory'],
  ]);
  const d = await core.create('mbochs', 'mbochs-medium', uuid(1));
  assert.ok(d.driverData instanceof LocalInstance && d.driverData.model instanceof MbochsDevice);
  const memory = p.deviceAttributes[0]!;
  assert.equal(memory.name, 'vendor');
  assert.equal(await memory.attrs[0]!.show!(d, d.driverData), '16 MB\n');
});

test('one budget of max_mbytes: available_instances follow the MiB left as devices come and go, ENOSPC past it', async (t) => {
  const core = new Core();
  core.registerParent(createMbochsParent({ maxMbytes: 100 }));
  t.after(() => core.unregisterParent('mbochs'));
  const types = ['mbochs-small', 'mbochs-medium', 'mbochs-large'].map((id) => core.type('mbochs', id)!);
  const avail = (): number[] => types.map((x) => core.availableInstances(x));
  assert.deepEqual(avail(), [25, 6, 1]);
  await core.create('mbochs', 'mbochs-large', uuid(1)); // 36 left
  assert.deepEqual(avail(), [9, 2, 0]);
  await assert.rejects(core.create('mbochs', 'mbochs-large', uuid(2)), isErrno('ENOSPC'));
  assert.equal(core.device(uuid(2)), undefined, 'a refused create leaves nothing behind');
  await core.create('mbochs', 'mbochs-medium', uuid(3)); // 20 left
  await core.create('mbochs', 'mbochs-medium', uuid(4)); // 4 left
  assert.deepEqual(avail(), [1, 0, 0]);
  await core.create('mbochs', 'mbochs-small', uuid(5)); // 0 left
  assert.deepEqual(avail(), [0, 0, 0]);
  await assert.rejects(core.create('mbochs', 'mbochs-small', uuid(6)), isErrno('ENOSPC'));
  await core.remove(uuid(1));
  assert.deepEqual(avail(), [16, 4, 1]);
  for (const n of [3, 4, 5]) await core.remove(uuid(n));
  assert.deepEqual(avail(), [25, 6, 1], 'every MiB is back');
});

test('each parent instance has its own budget; a bad budget is refused', () => {
  assert.throws(() => createMbochsParent({ maxMbytes: -1 }), isErrno('EINVAL'));
  assert.throws(() => createMbochsParent({ maxMbytes: 1.5 }), isErrno('EINVAL'));
  const a = new Core();
  const b = new Core();
  a.registerParent(createMbochsParent({ maxMbytes: 4 }));
  b.registerParent(createMbochsParent({ maxMbytes: 4 }));
  assert.equal(a.availableInstances(a.type('mbochs', 'mbochs-small')!), 1);
  assert.equal(b.availableInstances(b.type('mbochs', 'mbochs-small')!), 1);
});
