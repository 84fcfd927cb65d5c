import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IrqController } from '../../src/vfio/irqs.js';
import { VFIO_IRQ_INFO as I, VFIO_IRQ_SET as S, VFIO_PCI_IRQ } from '../../src/vfio/constants.js';
import { UmdevError } from '../../src/core/errors.js';
import { eventChannel, isOpen, type EventChannel } from './event-channel.js';

const TRIG_FD = S.ACTION_TRIGGER | S.DATA_EVENTFD;
const TRIG_NONE = S.ACTION_TRIGGER | S.DATA_NONE;

function expectErrno(fn: () => unknown, errno: string): void {
  assert.throws(fn, (e: unknown) => e instanceof UmdevError && e.errno === errno, `expected ${errno}`);
}

function controller(): IrqController {
  return new IrqController({
    numIrqs: VFIO_PCI_IRQ.NUM_IRQS,
    indexes: [
      { index: VFIO_PCI_IRQ.INTX, count: 1, flags: I.EVENTFD | I.MASKABLE | I.AUTOMASKED },
      { index: VFIO_PCI_IRQ.MSI, count: 1, flags: I.EVENTFD | I.NORESIZE },
      { index: VFIO_PCI_IRQ.MSIX, count: 4, flags: I.EVENTFD },
    ],
  });
}

function channels(t: { after(fn: () => void): void }, n: number): EventChannel[] {
  const list = Array.from({ length: n }, () => eventChannel());
  t.after(() => list.forEach((c) => c.close()));
  return list;
}

test('INTx automask: a trigger masks until UNMASK; MASK/UNMASK by DATA_NONE and DATA_BOOL', (t) => {
  const [ch] = channels(t, 1);
  const irq = controller();
  t.after(() => irq.close());
  irq.setIrqs({ index: 0, flags: TRIG_FD, start: 0, count: 1, fds: [ch!.fd] });
  assert.equal(irq.activeIndex, 0);
  assert.equal(irq.trigger(0), true);
  assert.equal(irq.trigger(0), false, 'masked by the first delivery');
  assert.equal(ch!.drain(), 1);
  irq.setIrqs({ index: 0, flags: S.ACTION_UNMASK | S.DATA_NONE, start: 0, count: 1 });
  assert.equal(irq.trigger(0), true);
  assert.equal(ch!.drain(), 1);
  irq.setIrqs({ index: 0, flags: S.ACTION_UNMASK | S.DATA_BOOL, start: 0, count: 1, bools: [false] });
  assert.equal(irq.intxMasked, true, 'a false bool changes nothing');
  irq.setIrqs({ index: 0, flags: S.ACTION_UNMASK | S.DATA_BOOL, start: 0, count: 1, bools: [true] });
  irq.setIrqs({ index: 0, flags: S.ACTION_MASK | S.DATA_BOOL, start: 0, count: 1, bools: [true] });
  assert.equal(irq.trigger(0), false);
  assert.equal(ch!.drain(), 0);
  expectErrno(() => irq.setIrqs({ index: 0, flags: S.ACTION_UNMASK | S.DATA_EVENTFD, start: 0, count: 1, fds: [-1] }), 'ENOTTY');
  expectErrno(() => irq.setIrqs({ index: 0, flags: S.ACTION_MASK | S.DATA_NONE, start: 0, count: 2 }), 'EINVAL');
});

test('loopback TRIGGER with DATA_NONE/DATA_BOOL needs the index active', (t) => {
  const [ch] = channels(t, 1);
  const irq = controller();
  t.after(() => irq.close());
  expectErrno(() => irq.setIrqs({ index: 0, flags: TRIG_NONE, start: 0, count: 1 }), 'EINVAL');
  irq.setIrqs({ index: 1, flags: TRIG_FD, start: 0, count: 1, fds: [ch!.fd] });
  irq.setIrqs({ index: 1, flags: TRIG_NONE, start: 0, count: 1 });
  irq.setIrqs({ index: 1, flags: S.ACTION_TRIGGER | S.DATA_BOOL, start: 0, count: 1, bools: [true] });
  irq.setIrqs({ index: 1, flags: S.ACTION_TRIGGER | S.DATA_BOOL, start: 0, count: 1, bools: [false] });
  assert.equal(ch!.drain(), 2, 'MSI is not masked between deliveries');
});

test('count 0 + DATA_NONE + TRIGGER disables the index and closes its fd; fd -1 tears down too', (t) => {
  const [a, b] = channels(t, 2);
  const irq = controller();
  t.after(() => irq.close());
  irq.setIrqs({ index: 0, flags: TRIG_FD, start: 0, count: 1, fds: [a!.fd] });
  irq.setIrqs({ index: 0, flags: TRIG_NONE, start: 0, count: 0 });
  assert.equal(irq.activeIndex, undefined);
  assert.equal(isOpen(a!.fd), false, 'the controller closed the fd it owned');
  assert.equal(irq.trigger(0), false);
  irq.setIrqs({ index: 0, flags: TRIG_FD, start: 0, count: 1, fds: [b!.fd] });
  irq.setIrqs({ index: 0, flags: TRIG_FD, start: 0, count: 1, fds: [-1] });
  assert.equal(irq.activeIndex, undefined);
  assert.equal(isOpen(b!.fd), false);
});

test('INTx, MSI and MSI-X are mutually exclusive', (t) => {
  const [a, b] = channels(t, 2);
  const irq = controller();
  t.after(() => irq.close());
  irq.setIrqs({ index: 0, flags: TRIG_FD, start: 0, count: 1, fds: [a!.fd] });
  expectErrno(() => irq.setIrqs({ index: 1, flags: TRIG_FD, start: 0, count: 1, fds: [b!.fd] }), 'EINVAL');
  assert.equal(isOpen(b!.fd), false, 'a refused fd is still closed: the controller owned it');
  assert.equal(irq.activeIndex, 0);
});

test('MSI-X vectors: start/count select vectors; each signals its own eventfd', (t) => {
  const chs = channels(t, 4);
  const irq = controller();
  t.after(() => irq.close());
  irq.setIrqs({ index: 2, flags: TRIG_FD, start: 0, count: 4, fds: chs.map((c) => c.fd) });
  irq.trigger(2, 2);
  irq.trigger(2, 2);
  irq.trigger(2, 3);
  assert.deepEqual(chs.map((c) => c.drain()), [0, 0, 2, 1]);
  irq.setIrqs({ index: 2, flags: TRIG_FD, start: 2, count: 1, fds: [-1] });
  assert.equal(isOpen(chs[2]!.fd), false);
  assert.equal(irq.activeIndex, 2, 'other vectors stay');
  irq.setIrqs({ index: 2, flags: S.ACTION_TRIGGER | S.DATA_BOOL, start: 0, count: 2, bools: [false, true] });
  assert.deepEqual(chs.map((c) => c.drain()), [0, 1, 0, 0]);
  expectErrno(() => irq.setIrqs({ index: 2, flags: S.ACTION_MASK | S.DATA_NONE, start: 0, count: 1 }), 'ENOTTY');
  irq.close();
  assert.deepEqual(chs.map((c) => isOpen(c.fd)), [false, false, false, false]);
});

test('validation: bad index, start/count, data and action flags', (t) => {
  const [a] = channels(t, 1);
  const irq = controller();
  t.after(() => irq.close());
  expectErrno(() => irq.setIrqs({ index: 5, flags: TRIG_NONE, start: 0, count: 0 }), 'EINVAL');
  expectErrno(() => irq.setIrqs({ index: 3, flags: TRIG_NONE, start: 0, count: 0 }), 'ENOTTY');
  expectErrno(() => irq.setIrqs({ index: 2, flags: TRIG_FD, start: 3, count: 2, fds: [-1, -1] }), 'EINVAL');
  expectErrno(() => irq.setIrqs({ index: 0, flags: TRIG_FD, start: 1, count: 1, fds: [-1] }), 'EINVAL');
  expectErrno(() => irq.setIrqs({ index: 0, flags: S.ACTION_TRIGGER | S.DATA_NONE | S.DATA_BOOL, start: 0, count: 1 }), 'EINVAL');
  expectErrno(() => irq.setIrqs({ index: 0, flags: S.DATA_NONE, start: 0, count: 1 }), 'ENOTTY');
  expectErrno(() => irq.setIrqs({ index: 0, flags: 0x100 | TRIG_NONE, start: 0, count: 1 }), 'EINVAL');
  expectErrno(() => irq.setIrqs({ index: 0, flags: TRIG_FD, start: 0, count: 1, fds: [] }), 'EINVAL');
  expectErrno(() => irq.setIrqs({ index: 0, flags: TRIG_NONE, start: 0, count: 0 }), 'EINVAL');
  expectErrno(() => irq.setIrqs({ index: 0, flags: TRIG_FD, start: 0, count: 1, fds: [987654] }), 'EBADF');
  expectErrno(() => irq.info(3), 'EINVAL');
  assert.deepEqual(irq.info(0), { index: 0, flags: I.EVENTFD | I.MASKABLE | I.AUTOMASKED, count: 1 });
  assert.equal(irq.activeIndex, undefined, 'nothing was left half-set');
  assert.equal(isOpen(a!.fd), true);
});

test('MSI with NORESIZE cannot grow once enabled', (t) => {
  const [a, b] = channels(t, 2);
  const irq = new IrqController({ numIrqs: 5, indexes: [{ index: 1, count: 4, flags: I.EVENTFD | I.NORESIZE }] });
  t.after(() => irq.close());
  irq.setIrqs({ index: 1, flags: TRIG_FD, start: 0, count: 1, fds: [a!.fd] });
  expectErrno(() => irq.setIrqs({ index: 1, flags: TRIG_FD, start: 1, count: 1, fds: [b!.fd] }), 'EINVAL');
  assert.equal(isOpen(a!.fd), true);
});

test('one eventfd shared by several vectors stays open until the last vector lets go', (t) => {
  const [a] = channels(t, 1);
  const irq = controller();
  t.after(() => irq.close());
  irq.setIrqs({ index: 2, flags: TRIG_FD, start: 0, count: 2, fds: [a!.fd, a!.fd] });
  irq.setIrqs({ index: 2, flags: TRIG_FD, start: 0, count: 1, fds: [-1] });
  assert.equal(isOpen(a!.fd), true);
  irq.trigger(2, 1);
  assert.equal(a!.drain(), 1);
  irq.setIrqs({ index: 2, flags: TRIG_NONE, start: 0, count: 0 });
  assert.equal(isOpen(a!.fd), false);
});
