import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Core } from '../../../src/core/core.js';
import { MCOUNT_ID, MCOUNT_REG, createMcountParent } from '../../../src/drivers/mcount/index.js';
import { createLogger } from '../../../src/log.js';
import { native } from '../../../src/native/index.js';
import { VfioUserBusDriver } from '../../../src/vfio-user/bus-driver.js';
import { VfioUserClient } from '../../../src/vfio-user/client.js';
import { DeviceFlags, IrqSetFlags, RegionFlags } from '../../../src/vfio-user/constants.js';

const UUID = '0c0c0c0c-0000-4000-8000-000000000001';
const dword = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};

/** What docs/vendor-guide.md walks through: register, create, and talk to the device over its vfio-user socket. */
test('the guide\'s mcount driver: registered, created, served over vfio-user and driven by a client', async (t) => {
  const runDir = mkdtempSync(join(tmpdir(), 'umdev-mcount-'));
  const core = new Core();
  const clients: VfioUserClient[] = [];
  t.after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await core.unregisterDriver('vfio-user');
    await core.unregisterParent('mcount');
    rmSync(runDir, { recursive: true, force: true });
  });
  core.registerParent(createMcountParent());
  const driver = new VfioUserBusDriver({ core, runDir, log: createLogger({ sink: { write: () => true } }) });
  await core.registerDriver(driver);
  const mdev = await core.create('mcount', 'mcount-1', UUID);
  assert.equal(mdev.driver, 'vfio-user');

  const c = await VfioUserClient.connect(driver.socketPath(UUID));
  clients.push(c);
  assert.deepEqual(await c.deviceInfo(), { flags: DeviceFlags.PCI | DeviceFlags.RESET, numRegions: 9, numIrqs: 5 });
  // Config space, derived from the declaration: the identity and BAR0's size.
  const cfg = await c.read(7, 0, 4);
  assert.equal(cfg.readUInt32LE(0), (0x0101 << 16) | 0x1b36);
  await c.write(7, 0x10, dword(0xffffffff));
  assert.equal((await c.read(7, 0x10, 4)).readUInt32LE(0), 0xfffffff0, 'BAR0 is 16 bytes of memory');

  // The registers, and the doorbell's interrupt through an MSI eventfd.
  assert.equal((await c.read(0, MCOUNT_REG.ID, 4)).readUInt32LE(0), MCOUNT_ID);
  const efd = native.eventfd(0, { nonblock: true });
  t.after(() => native.close(efd));
  await c.setIrqs({ index: 1, flags: IrqSetFlags.DATA_EVENTFD | IrqSetFlags.ACTION_TRIGGER, start: 0, count: 1, fds: [efd] });
  await c.write(0, MCOUNT_REG.DOORBELL, dword(1));
  await c.write(0, MCOUNT_REG.DOORBELL, dword(1));
  assert.equal((await c.read(0, MCOUNT_REG.COUNT, 4)).readUInt32LE(0), 2);
  assert.equal(native.eventfdRead(efd), 2n, 'two interrupts');
  await assert.rejects(c.read(0, 1, 2), (e: unknown) => (e as { errno?: string }).errno === 'EINVAL');

  // BAR2 is memory the client maps: what it stores, the device sees.
  const info = await c.regionInfo(2);
  assert.equal(info.flags, RegionFlags.READ | RegionFlags.WRITE | RegionFlags.MMAP);
  const fd = info.fd!;
  t.after(() => native.close(fd));
  const page = native.mmap(fd, Number(info.offset), 4096, true);
  t.after(() => native.munmap(page));
  Buffer.from(page).write('hello', 0);
  assert.equal((await c.read(2, 0, 5)).toString(), 'hello');

  // The sysfs attribute and the reset.
  const vendor = core.parent('mcount')!.deviceAttributes[0]!;
  assert.equal(await vendor.attrs[0]!.show!(mdev, mdev.driverData), '2\n');
  await c.reset();
  assert.equal((await c.read(0, MCOUNT_REG.COUNT, 4)).readUInt32LE(0), 0);
});
