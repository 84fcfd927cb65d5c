/**
 * The child process the vfio-user fuzz target attacks: a real Core with the real vfio-user bus driver serving an
 * mtty-2 device (no DMA), the test fixture device (DMA through a doorbell, IRQs) and an mvblk-small disk (virtio-blk:
 * rings, descriptor chains, DMA to its default image), on real unix sockets. It prints
 * `{"sockets":[…]}` on stdout once serving, logs warnings and errors on stderr, and ends on SIGTERM.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Core } from '../../src/core/core.js';
import { createMttyParent } from '../../src/drivers/mtty/index.js';
import { createMvblkParent } from '../../src/drivers/mvblk/index.js';
import { createLogger } from '../../src/log.js';
import { VfioUserBusDriver } from '../../src/vfio-user/bus-driver.js';
import { FixtureDevice } from '../../test/vfio-user/fixtures.js';
import { vfioOf } from '../../src/vfio/pci-device.js';

const runDir = mkdtempSync(join(tmpdir(), 'umdev-fuzz-'));
const core = new Core();
core.registerParent(createMttyParent());
core.registerParent<FixtureDevice>({
  name: 'fixture',
  devicePath: 'virtual/fixture/fixture',
  driverName: 'fixture',
  deviceApi: 'vfio-pci',
  maxInstances: 1,
  types: [{ sysfsName: '1' }],
  ops: { create: () => new FixtureDevice(), remove: (_d, state) => vfioOf(state).dispose() },
});
core.registerParent(createMvblkParent({ images: join(runDir, 'images') }));
const driver = new VfioUserBusDriver({ core, runDir, log: createLogger({ level: 'warn', component: 'fuzz' }) });
await core.registerDriver(driver);
const mtty = await core.create('mtty', 'mtty-2', '0f000000-0000-4000-8000-000000000001');
const fixture = await core.create('fixture', 'fixture-1', '0f000000-0000-4000-8000-000000000002');
const blk = await core.create('mvblk', 'mvblk-small', '0f000000-0000-4000-8000-000000000003');
process.stdout.write(`${JSON.stringify({ sockets: [driver.socketPath(mtty.uuid), driver.socketPath(fixture.uuid), driver.socketPath(blk.uuid)] })}\n`);
process.on('SIGTERM', () => {
  void driver.close().finally(() => {
    rmSync(runDir, { recursive: true, force: true });
    process.exit(0);
  });
});
