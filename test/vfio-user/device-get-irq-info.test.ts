import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeQuad } from '../../src/vfio-user/codec.js';
import { Command, IrqInfoFlags } from '../../src/vfio-user/constants.js';
import { INTX, MSI, expectErrno, startServer } from './fixtures.js';

test('DEVICE_GET_IRQ_INFO: short payload, small argsz, bad index, then valid', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  await expectErrno(c.request(Command.DEVICE_GET_IRQ_INFO, Buffer.alloc(12)), 'EINVAL');
  await expectErrno(c.request(Command.DEVICE_GET_IRQ_INFO, encodeQuad({ argsz: 12, flags: 0, a: 0, b: 0 })), 'EINVAL');
  await expectErrno(c.irqInfo(5), 'EINVAL');
  assert.deepEqual(await c.irqInfo(INTX), {
    flags: IrqInfoFlags.EVENTFD | IrqInfoFlags.MASKABLE | IrqInfoFlags.AUTOMASKED,
    index: INTX,
    count: 1,
  });
  assert.deepEqual(await c.irqInfo(MSI), { flags: IrqInfoFlags.EVENTFD | IrqInfoFlags.NORESIZE, index: MSI, count: 2 });
  assert.equal((await c.irqInfo(2)).count, 0);
});
