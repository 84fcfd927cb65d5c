import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../../src/native/index.js';
import { encodeIrqSet } from '../../src/vfio-user/codec.js';
import { Command, IrqSetFlags as F } from '../../src/vfio-user/constants.js';
import { BAR0, INTX, MSI, Reg, expectErrno, startServer, until } from './fixtures.js';
import { vfioOf } from '../../src/vfio/pci-device.js';

function eventfds(t: { after(fn: () => void): void }, n: number): number[] {
  const fds = Array.from({ length: n }, () => native.eventfd(0, { nonblock: true }));
  t.after(() => fds.forEach((fd) => native.close(fd)));
  return fds;
}

test('DEVICE_SET_IRQS: malformed requests are EINVAL and the device sees none of them', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  const [e0, e1, e2] = eventfds(t, 3);
  const set = (flags: number, index: number, start: number, count: number, data = Buffer.alloc(0), argsz?: number) =>
    c.request(Command.DEVICE_SET_IRQS, encodeIrqSet({ argsz, flags, index, start, count, data }));
  const trigEfd = F.DATA_EVENTFD | F.ACTION_TRIGGER;
  await expectErrno(c.request(Command.DEVICE_SET_IRQS, Buffer.alloc(12)), 'EINVAL'); // short
  await expectErrno(set(trigEfd, MSI, 0, 1, Buffer.alloc(0), 12), 'EINVAL'); // argsz below 20
  await expectErrno(set(0x40 | F.DATA_NONE | F.ACTION_TRIGGER, MSI, 0, 1), 'EINVAL'); // unknown flag bit
  await expectErrno(set(F.DATA_NONE | F.DATA_BOOL | F.ACTION_TRIGGER, MSI, 0, 1), 'EINVAL'); // two data types
  await expectErrno(set(F.DATA_NONE | F.ACTION_MASK | F.ACTION_TRIGGER, INTX, 0, 1), 'EINVAL'); // two actions
  await expectErrno(set(F.DATA_NONE | F.ACTION_TRIGGER, 7, 0, 1), 'EINVAL'); // bad index
  await expectErrno(set(F.DATA_NONE | F.ACTION_TRIGGER, MSI, 2, 1), 'EINVAL'); // start beyond count
  await expectErrno(set(F.DATA_NONE | F.ACTION_TRIGGER, MSI, 1, 2), 'EINVAL'); // start + count beyond
  await expectErrno(set(F.DATA_BOOL | F.ACTION_TRIGGER, MSI, 0, 0), 'EINVAL'); // count 0 needs DATA_NONE
  await expectErrno(set(F.DATA_NONE | F.ACTION_MASK, MSI, 0, 1), 'EINVAL'); // MSI is not maskable
  await expectErrno(set(F.DATA_BOOL | F.ACTION_TRIGGER, MSI, 0, 2, Buffer.from([1])), 'EINVAL'); // short bools
  await expectErrno(c.setIrqs({ index: MSI, flags: trigEfd, start: 0, count: 1, fds: [e0!, e1!] }), 'EINVAL'); // fds != count
  await expectErrno(c.setIrqs({ index: MSI, flags: F.DATA_NONE | F.ACTION_TRIGGER, start: 0, count: 1, fds: [e2!] }), 'EINVAL'); // fds without EVENTFD
  await expectErrno(c.setIrqs({ index: 2, flags: trigEfd, start: 0, count: 1, fds: [e0!] }), 'EINVAL'); // MSI-X has count 0
  assert.equal(h.device.activeIrq, undefined, 'no request reached the device');
  assert.equal(vfioOf(h.device).heldIrqFds, 0, 'rejected fds were not handed to the device');
});

test('DEVICE_SET_IRQS: eventfds deliver INTx and MSI (one at a time); DATA_NONE/BOOL trigger; mask/unmask; de-assign; disable', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  const [m0, m1, ix] = eventfds(t, 3);
  const trigEfd = F.DATA_EVENTFD | F.ACTION_TRIGGER;
  await c.setIrqs({ index: INTX, flags: trigEfd, start: 0, count: 1, fds: [ix!] });
  assert.equal(vfioOf(h.device).heldIrqFds, 1);
  // As vfio-pci: one of INTx, MSI and MSI-X at a time.
  await expectErrno(c.setIrqs({ index: MSI, flags: trigEfd, start: 0, count: 2, fds: [m0!, m1!] }), 'EINVAL');
  // INTx is automasked: the second raise is held until the client unmasks.
  await c.write(BAR0, Reg.IRQ, Buffer.from([0, 0, 0, 0]));
  assert.equal(native.eventfdRead(ix!), 1n);
  await c.write(BAR0, Reg.IRQ, Buffer.from([0, 0, 0, 0]));
  assert.equal(native.eventfdRead(ix!), null, 'masked');
  await c.setIrqs({ index: INTX, flags: F.DATA_NONE | F.ACTION_UNMASK, start: 0, count: 1 });
  await c.write(BAR0, Reg.IRQ, Buffer.from([0, 0, 0, 0]));
  assert.equal(native.eventfdRead(ix!), 1n, 'unmasked');
  await c.setIrqs({ index: INTX, flags: F.DATA_NONE | F.ACTION_TRIGGER, start: 0, count: 0 });
  assert.equal(vfioOf(h.device).heldIrqFds, 0, 'INTx disabled');

  const [n0, n1] = eventfds(t, 2);
  await c.setIrqs({ index: MSI, flags: trigEfd, start: 0, count: 2, fds: [n0!, n1!] });
  assert.equal(vfioOf(h.device).heldIrqFds, 2);
  // A register write raises MSI vector 1 through the eventfd the client passed.
  await c.write(BAR0, Reg.IRQ, Buffer.from([2, 0, 0, 0]));
  await until(() => native.eventfdRead(n1!) === 1n, 'MSI 1 eventfd');
  assert.equal(native.eventfdRead(n0!), null, 'MSI 0 not raised');
  // Loopback triggers from the client.
  await c.setIrqs({ index: MSI, flags: F.DATA_NONE | F.ACTION_TRIGGER, start: 0, count: 1 });
  assert.equal(native.eventfdRead(n0!), 1n);
  await c.setIrqs({ index: MSI, flags: F.DATA_BOOL | F.ACTION_TRIGGER, start: 0, count: 2, bools: [false, true] });
  assert.equal(native.eventfdRead(n0!), null);
  assert.equal(native.eventfdRead(n1!), 1n);
  // DATA_EVENTFD without fds de-assigns; count 0 with DATA_NONE disables the index.
  await c.setIrqs({ index: MSI, flags: trigEfd, start: 1, count: 1 });
  assert.equal(vfioOf(h.device).heldIrqFds, 1);
  await c.setIrqs({ index: MSI, flags: F.DATA_NONE | F.ACTION_TRIGGER, start: 0, count: 0 });
  assert.equal(vfioOf(h.device).heldIrqFds, 0);
  assert.equal(h.device.activeIrq, undefined);
});
