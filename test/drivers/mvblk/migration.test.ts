/**
 * mvblk's migration, at the protocol level (QEMU's vfio-user client does not migrate): the device state (features,
 * status, queue addresses and indices, vectors) travels in its stream; the DMA writes it makes in PRE_COPY are in
 * the dirty log; in STOP_COPY it does nothing; the destination, given the same guest memory and disk, goes on
 * serving the guest's queue where the source left off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VFIO_DEVICE_FEATURE as V, VFIO_DEVICE_STATE as S } from '../../../src/vfio/constants.js';
import { FeatureFlags as F } from '../../../src/vfio-user/constants.js';
import { BLK_S, BLK_T, COMMON, STATUS } from '../../../src/drivers/mvblk/virtio.js';
import { startBlk } from './harness.js';
import { RAM_BASE } from './virtio-guest.js';

test('mvblk migration: state in the stream, PRE_COPY writes in the dirty log, the destination goes on', async (t) => {
  const h = await startBlk(t);
  const src = await h.create('small');
  const dst = await h.create('small');
  writeFileSync(join(h.images, 'shared.img'), Buffer.alloc(8 << 20));
  for (const d of [src, dst]) {
    const mdev = h.core.device(d.uuid)!;
    const backing = mdev.parent.deviceAttributes.flatMap((g) => (g.name === undefined ? g.attrs : [])).find((a) => a.name === 'backing')!;
    await backing.store!(mdev, mdev.driverData, 'shared.img');
  }
  const g = await h.guest(src.uuid, { ramBytes: 8 << 20 });
  const c = g.client;
  const data = randomBytes(8192);
  assert.equal(await g.write(16n, data), BLK_S.OK);
  assert.equal(await g.flush(), BLK_S.OK);

  // Log every write, then PRE_COPY: the device keeps running, and what it writes is reported.
  const start = Buffer.alloc(16);
  start.writeBigUInt64LE(4096n, 0);
  await c.feature(F.SET | V.DMA_LOGGING_START, start, 8 + 16);
  assert.equal(await c.setMigrationState(S.PRE_COPY), S.PRE_COPY);
  const before = g.queues[0]!.lastUsed;
  const buf = g.alloc(4096);
  const r = g.request(0, BLK_T.IN, 16n, [{ addr: buf, len: 4096 }], true);
  g.offer(0, r.head);
  g.kick(0);
  await g.waitUsed(0, 1);
  assert.ok(g.ram.subarray(g.at(buf), g.at(buf) + 4096).equals(data.subarray(0, 4096)));
  const q = Buffer.alloc(24);
  q.writeBigUInt64LE(RAM_BASE, 0);
  q.writeBigUInt64LE(BigInt(g.ram.length), 8);
  q.writeBigUInt64LE(4096n, 16);
  const report = await c.feature(F.GET | V.DMA_LOGGING_REPORT, q, 8 + 24 + g.ram.length / 4096 / 8);
  const dirty = new Set<number>();
  for (let p = 0; p < g.ram.length / 4096; p++) if (report[24 + (p >> 3)]! & (1 << (p & 7))) dirty.add(p);
  const page = (iova: bigint): number => Number((iova - RAM_BASE) / 4096n);
  assert.ok(dirty.has(page(buf)), 'the data buffer the device filled');
  assert.ok(dirty.has(page(r.status)), 'the status byte');
  assert.ok(dirty.has(page(g.queues[0]!.used)), 'the used ring');
  assert.ok(!dirty.has(page(g.queues[0]!.desc)), 'not the descriptors, which the device only read');
  const pre = await c.migrationRead(1 << 16);
  assert.ok(pre.length > 0, 'PRE_COPY has the state so far');

  // STOP_COPY: a kick now starts nothing; the final state is read.
  assert.equal(await c.setMigrationState(S.STOP_COPY), S.STOP_COPY);
  const late = g.request(0, BLK_T.IN, 16n, [{ addr: g.alloc(4096), len: 4096 }], true);
  g.offer(0, late.head);
  g.kick(0);
  await new Promise((res) => setTimeout(res, 50));
  assert.deepEqual(g.takeUsed(0), [], 'a stopped device completes nothing');
  const parts: Buffer[] = [];
  for (let chunk = await c.migrationRead(64); chunk.length > 0; chunk = await c.migrationRead(64)) parts.push(chunk);
  const stream = Buffer.concat(parts);
  assert.equal(stream.toString('latin1', 0, 4), 'MVBK');
  assert.equal(stream[6], STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK, 'status');
  assert.equal(stream.readBigUInt64LE(8), g.features, 'negotiated features');
  assert.equal(stream.readBigUInt64LE(32 + 12), g.queues[0]!.desc, 'queue 0 descriptor table');
  assert.equal(stream.readUInt16LE(32 + 8), (before + 1) & 0xffff, 'queue 0 used index');
  assert.equal(stream.readUInt16LE(32 + 6), (before + 1) & 0xffff, 'queue 0: the late request was not taken');

  // The destination: the VMM maps the same memory and eventfds, loads the stream, runs; the late request is served.
  await c.close();
  const c2 = await h.connect(dst.uuid);
  await g.moveTo(c2);
  await c2.setMigrationState(S.RESUMING);
  await c2.migrationWrite(stream);
  assert.equal(await c2.setMigrationState(S.RUNNING), S.RUNNING);
  assert.equal(await g.readCommon(COMMON.STATUS, 1), STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
  g.kick(0);
  const [done] = await g.waitUsed(0, 1);
  assert.equal(done!.head, late.head, 'the request left waiting on the source completes on the destination');
  assert.equal(g.ram[g.at(late.status)], BLK_S.OK);
  const back = await g.read(16n, 8192);
  assert.ok(back.data.equals(data), 'the disk is the same');
});
