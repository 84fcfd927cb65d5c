import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MttyDevice } from '../../src/drivers/mtty/device.js';
import { native } from '../../src/native/index.js';
import { VFIO_IRQ_SET as F, VFIO_PCI_IRQ, VFIO_PCI_REGION as R } from '../../src/vfio/constants.js';
import { loadDevice, saveDevice } from '../../src/vfio/migration-port.js';
import { vfioOf } from '../../src/vfio/pci-device.js';

test('platform state: config space and the interrupt configuration (without eventfds) move to a fresh device', async (t) => {
  const src = new MttyDevice(2);
  const efd = native.eventfd(0, { nonblock: true });
  t.after(() => {
    vfioOf(src).dispose();
    vfioOf(dst).dispose();
  });
  vfioOf(src).setIrqs({ index: VFIO_PCI_IRQ.MSI, flags: F.DATA_EVENTFD | F.ACTION_TRIGGER, start: 0, count: 1, fds: [efd] });
  vfioOf(src).write(R.CONFIG, 4n, Buffer.from([0x03, 0x00]));
  vfioOf(src).write(0, 7n, Buffer.from([0x42]));
  const snap = await saveDevice(vfioOf(src), 'test');
  assert.equal(vfioOf(src).migration!.state, 2, 'the source runs again');
  const dst = new MttyDevice(2);
  await loadDevice(vfioOf(dst), snap, 'test');
  assert.deepEqual(vfioOf(dst).read(R.CONFIG, 0n, 256), vfioOf(src).read(R.CONFIG, 0n, 256));
  assert.equal(vfioOf(dst).read(0, 7n, 1)[0], 0x42);
  assert.equal(dst.activeIrq, VFIO_PCI_IRQ.MSI, 'MSI is the active index');
  assert.equal(vfioOf(dst).heldIrqFds, 0, 'but no eventfd came along');
  assert.equal(dst.interrupt(), false, 'nothing to signal until the client attaches one');
  assert.throws(() => vfioOf(dst).loadPlatformState({ ...snap.platform, irqs: { active: VFIO_PCI_IRQ.MSI, enabled: 2, intxMasked: false } }), (e: unknown) => (e as { errno?: string }).errno === 'EINVAL');
  assert.throws(() => vfioOf(dst).loadPlatformState({ ...snap.platform, config: Buffer.alloc(16).toString('base64') }), (e: unknown) => (e as { errno?: string }).errno === 'EINVAL');
});
