import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeRegionAccess } from '../../src/vfio-user/codec.js';
import { Command } from '../../src/vfio-user/constants.js';
import { BAR0, BAR0_SIZE, CONFIG, Reg, expectErrno, startServer } from './fixtures.js';

test('REGION_READ: short payload, bad region, out of range, oversize, unreadable; then valid; connection keeps working', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  await expectErrno(c.request(Command.REGION_READ, Buffer.alloc(8)), 'EINVAL');
  await expectErrno(c.read(9, 0, 4), 'EINVAL');
  await expectErrno(c.read(BAR0, BAR0_SIZE - 2, 4), 'EINVAL');
  await expectErrno(c.read(BAR0, 0xffffffffffffffffn, 4), 'EINVAL');
  await expectErrno(c.read(BAR0, 0, (1 << 20) + 1), 'EINVAL');
  await expectErrno(c.read(3, 0, 4), 'EINVAL');
  h.device.bar0.writeUInt32LE(0xcafe, Reg.SCRATCH);
  const r = await c.request(Command.REGION_READ, encodeRegionAccess(BigInt(Reg.SCRATCH), BAR0, 4));
  assert.equal(r.body.length, 16 + 4);
  assert.equal(r.body.readBigUInt64LE(0), BigInt(Reg.SCRATCH));
  assert.equal(r.body.readUInt32LE(8), BAR0);
  assert.equal(r.body.readUInt32LE(12), 4);
  assert.equal(r.body.readUInt32LE(16), 0xcafe);
  assert.equal((await c.read(CONFIG, 0, 2)).readUInt16LE(0), 0x1b36);
  const zero = await c.request(Command.REGION_READ, encodeRegionAccess(0n, BAR0, 0));
  assert.equal(zero.body.length, 0, 'a zero-length read has no payload');
  assert.equal((await c.read(BAR0, BAR0_SIZE - 4, 4)).length, 4, 'last word is in range');
});
