import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BLK_CFG, BLK_S, COMMON, FEATURE, STATUS, bit } from '../../../src/drivers/mvblk/virtio.js';
import { startBlk } from './harness.js';

const GiB = 1024 ** 3;

test('mvblk: a guest negotiates, writes, reads back and flushes through the default sparse image', async (t) => {
  const h = await startBlk(t);
  const { uuid, model } = await h.create('small');
  const image = join(h.images, `${uuid}.img`);
  assert.equal(statSync(image).size, GiB, 'the default image is the type\'s size');
  assert.ok(statSync(image).blocks * 512 < 1 << 20, 'and sparse');
  const g = await h.guest(uuid);
  const offered = await g.deviceFeatures();
  for (const f of [FEATURE.VERSION_1, FEATURE.BLK_SEG_MAX, FEATURE.BLK_SIZE_MAX, FEATURE.BLK_BLK_SIZE, FEATURE.BLK_FLUSH, FEATURE.RING_INDIRECT_DESC]) {
    assert.ok(offered & bit(f), `feature ${f} offered`);
  }
  assert.equal(offered & bit(FEATURE.BLK_MQ), 0n, 'one queue: no MQ');
  assert.equal((await g.config(BLK_CFG.CAPACITY, 8)).readBigUInt64LE(0), BigInt(GiB / 512));
  assert.equal((await g.config(BLK_CFG.SEG_MAX, 4)).readUInt32LE(0), 254);
  assert.equal(await g.readCommon(COMMON.STATUS, 1), STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);

  const data = randomBytes(64 * 1024);
  assert.equal(await g.write(2048n, data), BLK_S.OK);
  const back = await g.read(2048n, data.length);
  assert.equal(back.status, BLK_S.OK);
  assert.equal(back.len, data.length + 1, 'the used length counts the data and the status byte');
  assert.ok(back.data.equals(data));
  assert.equal(await g.flush(), BLK_S.OK);
  // The bytes are in the image, at the sector's offset.
  const onDisk = Buffer.alloc(data.length);
  const fd = openSync(image, 'r');
  readSync(fd, onDisk, 0, data.length, 2048 * 512);
  closeSync(fd);
  assert.equal(createHash('sha256').update(onDisk).digest('hex'), createHash('sha256').update(data).digest('hex'));
  for (let i = 0; i < 100 && g.queues[0]!.interrupts < 1; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(g.queues[0]!.interrupts >= 1, 'completions came with MSI-X interrupts');
  assert.equal(model.inFlight, 0);
});
