import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from '../../src/vfio-user/constants.js';
import { BAR0, Reg, expectErrno, startServer } from './fixtures.js';

test('DEVICE_RESET: a payload is EINVAL; then valid resets the device and keeps DMA and the session', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  await expectErrno(c.request(Command.DEVICE_RESET, Buffer.alloc(4)), 'EINVAL');
  assert.equal(h.device.resets, 0);
  await c.dmaMap({ iova: 0x1000n, size: 0x1000n });
  await c.write(BAR0, Reg.SCRATCH, Buffer.from([7, 0, 0, 0]));
  await c.reset();
  assert.equal(h.device.resets, 1);
  assert.equal((await c.read(BAR0, Reg.SCRATCH, 4)).readUInt32LE(0), 0);
  await expectErrno(c.dmaMap({ iova: 0x1000n, size: 0x1000n }), 'EEXIST');
});
