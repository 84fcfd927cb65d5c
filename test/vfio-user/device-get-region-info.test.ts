import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../../src/native/index.js';
import { encodeRegionInfoRequest } from '../../src/vfio-user/codec.js';
import { Command, RegionFlags } from '../../src/vfio-user/constants.js';
import { BAR0, BAR0_SIZE, BAR1, BAR1_SIZE, CONFIG, expectErrno, startServer } from './fixtures.js';

test('DEVICE_GET_REGION_INFO: short payload, small argsz, bad index', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  await expectErrno(c.request(Command.DEVICE_GET_REGION_INFO, Buffer.alloc(16)), 'EINVAL');
  await expectErrno(c.request(Command.DEVICE_GET_REGION_INFO, encodeRegionInfoRequest(BAR0, 31)), 'EINVAL');
  await expectErrno(c.regionInfo(9), 'EINVAL');
  await expectErrno(c.regionInfo(0xffffffff), 'EINVAL');
});

test('DEVICE_GET_REGION_INFO: trapped regions, empty BARs', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  const bar0 = await c.regionInfo(BAR0);
  assert.equal(bar0.flags, RegionFlags.READ | RegionFlags.WRITE);
  assert.equal(bar0.size, BigInt(BAR0_SIZE));
  assert.equal(bar0.argsz, 32);
  assert.equal(bar0.fd, undefined);
  const cfg = await c.regionInfo(CONFIG);
  assert.equal(cfg.size, 256n);
  const empty = await c.regionInfo(3);
  assert.deepEqual([empty.flags, empty.size], [0, 0n]);
});

test('DEVICE_GET_REGION_INFO: sparse mmap region: caps + fd only when argsz fits; the fd maps the device memory', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  const short = await c.regionInfo(BAR1, 32);
  assert.equal(short.argsz, 32 + 16 + 16, 'argsz says what is needed');
  assert.equal(short.flags & RegionFlags.CAPS, 0);
  assert.equal(short.sparse, undefined);
  assert.equal(short.fd, undefined, 'no fd without the caps');
  const full = await c.regionInfo(BAR1);
  assert.equal(full.flags, RegionFlags.READ | RegionFlags.WRITE | RegionFlags.MMAP | RegionFlags.CAPS);
  assert.deepEqual(full.sparse, [{ offset: 0x1000n, size: 0x1000n }]);
  assert.ok(full.fd !== undefined && full.fd >= 0);
  const fd = full.fd;
  t.after(() => native.close(fd));
  // Map the sparse area as a VMM would (fd offset = region offset + area offset) and see the device's memory.
  const ab = native.mmap(fd, Number(full.offset + 0x1000n), 0x1000, true);
  t.after(() => native.munmap(ab));
  const view = Buffer.from(ab);
  view.write('mapped!', 0);
  assert.equal(h.device.bar1.toString('utf8', 0x1000, 0x1007), 'mapped!');
  assert.equal((await c.read(BAR1, 0x1000, 7)).toString(), 'mapped!', 'trapped access sees the same bytes');
  assert.equal(BigInt(BAR1_SIZE), full.size);
});

test('DEVICE_GET_REGION_INFO: a client that takes no fds (max_msg_fds 0) is offered no mapping', async (t) => {
  const h = await startServer(t);
  const c = await h.connect({ maxMsgFds: 0 });
  const info = await c.regionInfo(BAR1);
  assert.equal(info.flags & RegionFlags.MMAP, 0);
  assert.equal(info.fd, undefined);
  assert.equal(info.sparse, undefined);
  assert.equal((await c.read(BAR1, 0x1000, 4)).length, 4, 'trapped access still works');
});
