import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from '../../src/vfio-user/constants.js';
import { BAR0, BAR0_SIZE, Reg, expectErrno, startServer } from './fixtures.js';

test('REGION_WRITE_MULTI: short, bad wr_cnt, oversized entry, out of range; then valid', async (t) => {
  const h = await startServer(t);
  const c = await h.connect({ writeMultiple: true });
  await expectErrno(c.request(Command.REGION_WRITE_MULTI, Buffer.alloc(4)), 'EINVAL');
  const two = Buffer.alloc(8 + 24);
  two.writeBigUInt64LE(2n, 0);
  await expectErrno(c.request(Command.REGION_WRITE_MULTI, two), 'EINVAL');
  const big = Buffer.alloc(8 + 24);
  big.writeBigUInt64LE(1n, 0);
  big.writeUInt32LE(9, 8 + 12);
  await expectErrno(c.request(Command.REGION_WRITE_MULTI, big), 'EINVAL');
  await expectErrno(
    c.writeMulti([
      { offset: 0n, region: BAR0, count: 4, data: Buffer.from([9, 9, 9, 9]) },
      { offset: BigInt(BAR0_SIZE), region: BAR0, count: 4, data: Buffer.alloc(4) },
    ]),
    'EINVAL',
  );
  assert.equal(h.device.bar0.readUInt32LE(Reg.SCRATCH), 0, 'a bad entry leaves the device untouched');
  const n = await c.writeMulti([
    { offset: BigInt(Reg.SCRATCH), region: BAR0, count: 4, data: Buffer.from([1, 0, 0, 0]) },
    { offset: BigInt(Reg.DMA_LEN), region: BAR0, count: 2, data: Buffer.from([0x34, 0x12]) },
  ]);
  assert.equal(n, 2);
  assert.equal(h.device.bar0.readUInt32LE(Reg.SCRATCH), 1);
  assert.equal(h.device.bar0.readUInt16LE(Reg.DMA_LEN), 0x1234);
});
