/**
 * mvblk served by umdevd as shipped, in a device host: the backing file reaches the confined host as an fd from
 * the root (the host opens no path), and a client whose guest memory is not shared by fd gets its DMA as
 * DMA_READ/DMA_WRITE on a twin socket whose pair the root made (the host can make no socket).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BLK_CFG, BLK_S } from '../../src/drivers/mvblk/virtio.js';
import { VfioUserClient } from '../../src/vfio-user/client.js';
import { VirtioGuest } from '../drivers/mvblk/virtio-guest.js';
import { start, stateDir } from './umdevd-process.js';
import { waitFor } from '../../vm/guest-facts.js';

test('umdevd: an mvblk disk in a device host, its file passed by the root, DMA by messages on a twin socket', async (t) => {
  const ctx = await stateDir(t, 'umdev-mvblk-host-');
  const images = path.join(ctx.dir, 'images');
  mkdirSync(images, { recursive: true });
  const disk = path.join(images, 'disk.img');
  writeFileSync(disk, Buffer.alloc(4 << 20));
  await writeFile(path.join(ctx.dir, 'umdevd.json'), JSON.stringify({ parents: [{ driver: 'mvblk', queues: 4 }] }));
  const daemon = await start(ctx, ['--config', path.join(ctx.dir, 'umdevd.json'), '--log-level', 'debug']);
  const uuid = randomUUID();
  await writeFile(path.join(ctx.dir, 'sys/class/mdev_bus/mvblk/mdev_supported_types/mvblk-small/create'), uuid);
  const dev = path.join(ctx.dir, 'sys/bus/mdev/devices', uuid);
  await writeFile(path.join(dev, 'backing'), 'disk.img');
  await waitFor(path.join(ctx.dir, 'run', `${uuid}.sock`), 5000);

  const c = await VfioUserClient.connect(path.join(ctx.dir, 'run', `${uuid}.sock`), { twinSocket: true });
  t.after(() => c.close());
  assert.ok(c.twinned, 'the host set up a twin socket');
  const g = await VirtioGuest.attach(c, 1, { memory: 'message', ramBytes: 4 << 20 });
  t.after(() => g.close());
  assert.equal((await g.config(BLK_CFG.CAPACITY, 8)).readBigUInt64LE(0), 8192n, 'the host sees the file the root opened');
  const data = randomBytes(16384);
  assert.equal(await g.write(40n, data), BLK_S.OK);
  const back = await g.read(40n, data.length);
  assert.ok(back.data.equals(data));
  assert.equal(await g.flush(), BLK_S.OK);
  assert.equal(c.serverCommands.main, 0, 'no server command on the main socket');
  assert.ok(c.serverCommands.twin > 4, `${c.serverCommands.twin} DMA messages on the twin socket`);
  const onDisk = Buffer.alloc(data.length);
  const fd = openSync(disk, 'r');
  readSync(fd, onDisk, 0, data.length, 40 * 512);
  closeSync(fd);
  assert.ok(onDisk.equals(data), 'the data is in the file');
  // While the client has it, the disk does not change.
  await assert.rejects(writeFile(path.join(dev, 'backing'), 'disk.img'), (e: unknown) => (e as { code?: string }).code === 'EBUSY');
  assert.equal(readFileSync(path.join(dev, 'vendor/capacity'), 'utf8'), '8192\n');
  const failures = daemon.stderr().split('\n').filter((l) => /device host pid \d+ (sent|stopped|ended)/.test(l));
  assert.deepEqual(failures, []);
});
