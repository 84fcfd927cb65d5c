import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeRegionAccess } from '../../src/vfio-user/codec.js';
import { Command } from '../../src/vfio-user/constants.js';
import { BAR0, BAR0_SIZE, Reg, expectErrno, startServer } from './fixtures.js';

test('REGION_WRITE: short payload, count mismatch, out of range, bad region; then valid', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  await expectErrno(c.request(Command.REGION_WRITE, Buffer.alloc(12)), 'EINVAL');
  await expectErrno(c.request(Command.REGION_WRITE, [encodeRegionAccess(0n, BAR0, 8), Buffer.alloc(4)]), 'EINVAL');
  await expectErrno(c.write(BAR0, BAR0_SIZE, Buffer.alloc(1)), 'EINVAL');
  await expectErrno(c.write(12, 0, Buffer.alloc(1)), 'EINVAL');
  const r = await c.request(Command.REGION_WRITE, [encodeRegionAccess(BigInt(Reg.SCRATCH), BAR0, 4), Buffer.from([1, 2, 3, 4])]);
  assert.equal(r.body.length, 16, 'reply is the access header without data');
  assert.equal(r.body.readUInt32LE(12), 4);
  assert.equal(h.device.bar0.readUInt32LE(Reg.SCRATCH), 0x04030201);
});

test('REGION_WRITE with NO_REPLY: no reply comes, and a later read sees the writes in order', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  for (let i = 1; i <= 10; i++) await c.write(BAR0, Reg.SCRATCH, Buffer.from([i, 0, 0, 0]), { posted: true });
  // A failing posted write gets no reply either; the next request's reply is the next thing on the wire.
  await c.write(BAR0, BAR0_SIZE + 8, Buffer.alloc(4), { posted: true });
  assert.equal((await c.read(BAR0, Reg.SCRATCH, 4)).readUInt32LE(0), 10);
});
