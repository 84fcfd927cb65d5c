/**
 * The `backing` attribute: who may name which file. The root opens it beneath the parent's images directory with
 * no symlink on the way, a regular file or a block device only; the device takes it while no client uses it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { BLK_CFG, BLK_S, FEATURE, bit } from '../../../src/drivers/mvblk/virtio.js';
import { expectErrno } from '../../vfio-user/fixtures.js';
import { startBlk } from './harness.js';

test('backing: paths under the images directory are taken; escapes, symlinks and other kinds are refused', async (t) => {
  const h = await startBlk(t);
  const { uuid, model } = await h.create('small');
  const mdev = h.core.device(uuid)!;
  const backing = mdev.parent.deviceAttributes.flatMap((g) => (g.name === undefined ? g.attrs : [])).find((a) => a.name === 'backing')!;
  const store = (v: string): Promise<void> => Promise.resolve(backing.store!(mdev, mdev.driverData, v));
  const show = async (): Promise<string> => backing.show!(mdev, mdev.driverData);
  assert.equal(await show(), `default: ${join(h.images, `${uuid}.img`)}\n`);

  writeFileSync(join(h.images, 'disk.img'), Buffer.alloc(1 << 20));
  await store('disk.img\n');
  assert.equal(await show(), `${join(h.images, 'disk.img')}\n`);
  assert.equal(model.capacity, 2048);
  mkdirSync(join(h.images, 'sub'));
  writeFileSync(join(h.images, 'sub', 'other.img'), Buffer.alloc(4096));
  await store(join(h.images, 'sub', 'other.img'));
  assert.equal(model.capacity, 8, 'an absolute path inside the directory');

  writeFileSync(join(h.images, '..', 'outside.img'), Buffer.alloc(4096));
  await expectErrno(store('../outside.img'), 'EACCES');
  await expectErrno(store(join(h.images, '..', 'outside.img')), 'EACCES');
  await expectErrno(store('/etc/passwd'), 'EACCES');
  symlinkSync('/etc/passwd', join(h.images, 'link.img'));
  await expectErrno(store('link.img'), 'EACCES');
  symlinkSync(join(h.images, 'disk.img'), join(h.images, 'inner-link.img'));
  await expectErrno(store('inner-link.img'), 'EACCES');
  symlinkSync('..', join(h.images, 'up'));
  await expectErrno(store('up/outside.img'), 'EACCES');
  execFileSync('mkfifo', [join(h.images, 'fifo')]);
  await expectErrno(store('fifo'), 'EINVAL');
  await expectErrno(store('sub'), 'EISDIR');
  await expectErrno(store('missing.img'), 'ENOENT');
  await expectErrno(store(''), 'EINVAL');
  await expectErrno(store('a\nb'), 'EINVAL');
  assert.equal(model.capacity, 8, 'every refusal left the device as it was');
  assert.equal(await show(), `${join(h.images, 'sub', 'other.img')}\n`);

  // A file the daemon may only read makes a read-only disk (VIRTIO_BLK_F_RO), when the daemon is not root.
  if (process.getuid?.() !== 0) {
    writeFileSync(join(h.images, 'ro.img'), Buffer.alloc(4096));
    chmodSync(join(h.images, 'ro.img'), 0o444);
    await store('ro.img');
    assert.ok(model.features & bit(FEATURE.BLK_RO));
    await store('sub/other.img');
    assert.equal(model.features & bit(FEATURE.BLK_RO), 0n);
  }

  // While a client has the device open its disk does not change.
  const g = await h.guest(uuid);
  assert.equal((await g.config(BLK_CFG.CAPACITY, 8)).readBigUInt64LE(0), 8n);
  await expectErrno(store('disk.img'), 'EBUSY');
  assert.equal(model.capacity, 8);
  assert.equal(await g.write(0n, Buffer.alloc(4096, 1)), BLK_S.OK);
});

test('mvblk-medium: two queues with MSI-X vectors of their own, MQ offered; queues are the pool', async (t) => {
  const h = await startBlk(t, { queues: 5 });
  const avail = (type: string): number => h.core.availableInstances(h.core.parent('mvblk')!.types.find((x) => x.sysfsName === type)!);
  assert.equal(avail('medium'), 2);
  const { uuid } = await h.create('medium');
  assert.equal(avail('medium'), 1);
  assert.equal(avail('large'), 0);
  assert.equal(avail('small'), 3);
  const g = await h.guest(uuid);
  assert.ok(g.has(FEATURE.BLK_MQ));
  assert.equal((await g.config(BLK_CFG.NUM_QUEUES, 2)).readUInt16LE(0), 2);
  const data = Buffer.alloc(8192, 7);
  assert.equal(await g.write(64n, data, 1), BLK_S.OK);
  assert.ok((await g.read(64n, 8192, 0)).data.equals(data), 'written on queue 1, read on queue 0');
  // The eventfds are read by the event loop: give it the turns it needs before counting.
  for (let i = 0; i < 100 && (g.queues[0]!.interrupts < 1 || g.queues[1]!.interrupts < 1); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(g.queues[0]!.interrupts >= 1 && g.queues[1]!.interrupts >= 1, 'each queue signalled its own vector');
  await assert.rejects(h.create('large'), (e: unknown) => (e as { errno?: string }).errno === 'ENOSPC');
});
