import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Core } from '../../src/core/core.js';
import { UmdevError } from '../../src/errors.js';
import type { ParentSpec } from '../../src/core/types.js';
import { createLogger } from '../../src/log.js';
import { PciDevice, pciParent } from '../../src/sdk/index.js';
import { VfioUserBusDriver } from '../../src/vfio-user/bus-driver.js';

const UUID = '00000000-0000-4000-8000-00000000c0de';

async function withDriver(t: { after(fn: () => unknown): void }, spec: ParentSpec<unknown>): Promise<{ core: Core; runDir: string }> {
  const runDir = mkdtempSync(join(tmpdir(), 'umdev-contract-'));
  const core = new Core();
  t.after(async () => {
    if (core.device(UUID)) await core.remove(UUID, { force: true });
    await core.unregisterDriver('vfio-user');
    await core.unregisterParent(spec.name);
    rmSync(runDir, { recursive: true, force: true });
  });
  core.registerParent(spec);
  await core.registerDriver(new VfioUserBusDriver({ core, runDir, log: createLogger({ sink: { write: () => true } }) }));
  return { core, runDir };
}

const base = { devicePath: 'virtual/shape/shape', name: 'shape', driverName: 'shape', maxInstances: 4, types: [{ sysfsName: '1' }] } as const;

test('a vfio-pci device whose state is not a PciDevice fails its create with a message, leaving nothing behind', async (t) => {
  // The shape of a VFIO device with one method misspelled: before the contract it was silently left unserved.
  const { core, runDir } = await withDriver(t, {
    ...base,
    deviceApi: 'vfio-pci',
    ops: { create: () => ({ regionInfo: () => undefined, irqInfo: () => undefined, read: () => undefined, write: () => undefined, setIrq: () => undefined }), remove: () => undefined },
  });
  await assert.rejects(core.create('shape', 'shape-1', UUID), (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL' && /shape device .*not a PciDevice/.test(e.message));
  assert.equal(core.device(UUID), undefined);
  assert.deepEqual(readdirSync(runDir), [], 'no socket');
});

test('pciParent refuses a create that returns something else, naming the parent', async (t) => {
  const spec = pciParent({ ...base, device: () => ({}) as unknown as PciDevice });
  const { core } = await withDriver(t, spec as ParentSpec<unknown>);
  await assert.rejects(core.create('shape', 'shape-1', UUID), (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL' && e.message.includes('parent shape'));
  assert.equal(core.device(UUID), undefined);
});

test('pciParent: the sysfs reset runs the declared reset (ENOTTY without one) and removal disposes of the device', async (t) => {
  let resets = 0;
  const made: PciDevice[] = [];
  const spec = pciParent({
    ...base,
    types: [{ sysfsName: '1' }, { sysfsName: '2' }],
    device: ({ type }) => {
      const dev = new PciDevice({ identity: { vendorId: 1, deviceId: 2, classCode: 0 }, bars: [{ kind: 'mem32', size: 4096, memory: true }], ...(type === '1' ? { reset: () => void resets++ } : {}) });
      made.push(dev);
      return dev;
    },
  });
  const { core } = await withDriver(t, spec as ParentSpec<unknown>);
  await core.create('shape', 'shape-1', UUID);
  await core.reset(UUID);
  assert.equal(resets, 1);
  await core.remove(UUID);
  assert.throws(() => made[0]!.memory(0), (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL', 'the memfd is gone');
  await core.create('shape', 'shape-2', UUID);
  await assert.rejects(core.reset(UUID), (e: unknown) => e instanceof UmdevError && e.errno === 'ENOTTY');
});
