/**
 * End-to-end: `echo UUID > /sys/bus/mdev/drivers/mtty/unbind` and `bind` through the real FUSE mount, as on a
 * kernel: unbind detaches the device from its driver (the driver link, DRIVER=, the vendor attributes and the VFIO
 * device go, and the vfio-user socket stops serving), bind re-attaches it and the socket serves again. The real
 * mdevctl keeps listing the device all along (it is still created, only unbound).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { VfioUserClient } from '../../src/vfio-user/index.js';
import { mdevctl, mountSysfs, shell } from './harness.js';
import { mttyCore } from './mtty-core.js';

const UUID = '83b8f4f2-509f-382f-3c1e-e6bfe0fa1001';
const DEV = `devices/virtual/mtty/mtty/${UUID}`;

test('unbind and bind through the mount detach and re-attach the device and its vfio-user socket', async (t) => {
  const { core, bus } = await mttyCore(t, 'umdev-bind-e2e-');
  const m = await mountSysfs(t, core, 'mainline', (x) => x, { extensions: false });
  const sock = bus.socketPath(UUID);

  const create = await shell(m, `echo ${UUID} > "$MNT/class/mdev_bus/mtty/mdev_supported_types/mtty-2/create"`);
  assert.equal(create.code, 0, create.stderr);
  const client = await VfioUserClient.connect(sock);
  assert.equal((await client.deviceInfo()).numRegions, 9);
  client.close();

  const unbind = await shell(
    m,
    `echo ${UUID} > "$MNT/bus/mdev/drivers/mtty/unbind" && ls "$MNT/${DEV}" && cat "$MNT/${DEV}/uevent" && ls "$MNT/bus/mdev/drivers/mtty"`,
  );
  assert.equal(unbind.code, 0, unbind.stderr);
  assert.equal(unbind.stdout, 'iommu_group\nmdev_type\npower\nremove\nsubsystem\nuevent\nbind\nmodule\nuevent\nunbind\n');
  assert.equal(existsSync(sock), false, 'the socket stops serving');
  await assert.rejects(VfioUserClient.connect(sock));
  // /usr/bin/printf reports the write's own errno (dash's echo says "I/O error" for every failure).
  const again = await shell(m, `/usr/bin/printf '%s\\n' ${UUID} > "$MNT/bus/mdev/drivers/mtty/unbind"`);
  assert.match(again.stderr, /No such device/, 'only a bound device can be unbound');
  const listed = await mdevctl(m, 'list');
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`^${UUID} mtty mtty-2`));

  const bind = await shell(m, `echo ${UUID} > "$MNT/bus/mdev/drivers/mtty/bind" && readlink "$MNT/${DEV}/driver" && cat "$MNT/${DEV}/vendor/sample_mdev_dev"`);
  assert.equal(bind.code, 0, bind.stderr);
  assert.equal(bind.stdout, `../../../../../bus/mdev/drivers/mtty\nThis is MDEV ${UUID}\n`);
  const back = await VfioUserClient.connect(sock);
  assert.equal((await back.deviceInfo()).numRegions, 9);
  back.close();
  const busy = await shell(m, `/usr/bin/printf '%s\\n' ${UUID} > "$MNT/bus/mdev/drivers/mtty/bind"`);
  assert.match(busy.stderr, /Device or resource busy/);
});
