import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IrqController } from '../../src/vfio/irqs.js';
import { VFIO_IRQ_INFO as I, VFIO_IRQ_SET as S, VFIO_PCI_IRQ } from '../../src/vfio/constants.js';
import { UmdevError } from '../../src/errors.js';
import { native } from '../../src/native/index.js';
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
      { index: VFIO_PCI_IRQ.REQ, count: 1, flags: I.EVENTFD | I.NORESIZE },
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
  expectErrno(() => irq.setIrqs({ index: 0, flags: S.ACTION_UNMASK | S.DATA_EVENTFD, start: 0, count: 1, fds: [ch!.fd] }), 'ENOTTY');
  assert.equal(isOpen(ch!.fd), true, 'the trigger eventfd survives a refused unmask eventfd that is the same fd');
  expectErrno(() => irq.setIrqs({ index: 0, flags: S.ACTION_MASK | S.DATA_NONE, start: 0, count: 2 }), 'EINVAL');
});

test('MASK/UNMASK with DATA_NONE succeed before INTx has an eventfd; a new eventfd starts unmasked', (t) => {
  const [ch] = channels(t, 1);
  const irq = controller();
  t.after(() => irq.close());
  irq.setIrqs({ index: 0, flags: S.ACTION_MASK | S.DATA_NONE, start: 0, count: 1 });
  irq.setIrqs({ index: 0, flags: S.ACTION_UNMASK | S.DATA_NONE, start: 0, count: 1 });
  irq.setIrqs({ index: 0, flags: S.ACTION_MASK | S.DATA_BOOL, start: 0, count: 1, bools: [true] });
  irq.setIrqs({ index: 0, flags: TRIG_FD, start: 0, count: 1, fds: [ch!.fd] });
  assert.equal(irq.trigger(0), true);
  assert.equal(ch!.drain(), 1);
});

/** A watch the test fires by hand; records what is watched and what was stopped. */
function fakeWatch() {
  const live = new Map<number, () => void>();
  const stopped: number[] = [];
  return {
    live,
    stopped,
    watch: (fd: number, cb: () => void) => {
      live.set(fd, cb);
      return { stop: () => (live.delete(fd), stopped.push(fd)) };
    },
  };
}

const UNMASK_FD = S.ACTION_UNMASK | S.DATA_EVENTFD;

test('INTx unmask eventfd: each signal is drained and unmasks; replaced, removed, disabled and closed release it', (t) => {
  const [trig, u1, u2, u3, u4] = channels(t, 5);
  const w = fakeWatch();
  const irq = new IrqController({ numIrqs: 5, indexes: [{ index: 0, count: 1, flags: I.EVENTFD | I.MASKABLE | I.AUTOMASKED }], watch: w.watch });
  t.after(() => irq.close());
  // vfio_pci_set_intx_unmask: only with INTx enabled; the refused fd is still the controller's to close.
  expectErrno(() => irq.setIrqs({ index: 0, flags: UNMASK_FD, start: 0, count: 1, fds: [u1!.fd] }), 'EINVAL');
  assert.equal(isOpen(u1!.fd), false);
  irq.setIrqs({ index: 0, flags: TRIG_FD, start: 0, count: 1, fds: [trig!.fd] });
  irq.setIrqs({ index: 0, flags: UNMASK_FD, start: 0, count: 1, fds: [u2!.fd] });
  assert.deepEqual([...w.live.keys()], [u2!.fd]);
  assert.equal(irq.trigger(0), true);
  assert.equal(irq.trigger(0), false, 'automasked');
  native.eventfdWrite(u2!.fd, 3n);
  w.live.get(u2!.fd)!();
  assert.equal(u2!.drain(), 0, 'the counter was drained');
  assert.equal(irq.intxMasked, false);
  assert.equal(irq.trigger(0), true, 'unmasked by the eventfd');
  assert.equal(trig!.drain(), 2);
  w.live.get(u2!.fd)!();
  assert.equal(irq.intxMasked, false, 'a spurious wakeup (counter already 0) is harmless');
  // Replaced: the old one is unwatched and closed.
  irq.setIrqs({ index: 0, flags: UNMASK_FD, start: 0, count: 1, fds: [u3!.fd] });
  assert.deepEqual([w.stopped, isOpen(u2!.fd), [...w.live.keys()]], [[u2!.fd], false, [u3!.fd]]);
  // fd -1 (or no fd over vfio-user) removes it.
  irq.setIrqs({ index: 0, flags: UNMASK_FD, start: 0, count: 1, fds: [-1] });
  assert.deepEqual([w.live.size, isOpen(u3!.fd)], [0, false]);
  // Disabling INTx takes it along.
  irq.setIrqs({ index: 0, flags: UNMASK_FD, start: 0, count: 1, fds: [u4!.fd] });
  irq.setIrqs({ index: 0, flags: TRIG_NONE, start: 0, count: 0 });
  assert.deepEqual([w.live.size, isOpen(u4!.fd)], [0, false]);
  assert.equal(isOpen(trig!.fd), false);
});

test('INTx unmask eventfd: close() releases it; not an eventfd is EINVAL; MASK eventfd and no watcher are ENOTTY', (t) => {
  const [trig, u1, u2, u3, u4] = channels(t, 5);
  const w = fakeWatch();
  const irq = new IrqController({ numIrqs: 5, indexes: [{ index: 0, count: 1, flags: I.EVENTFD | I.MASKABLE | I.AUTOMASKED }], watch: w.watch });
  irq.setIrqs({ index: 0, flags: TRIG_FD, start: 0, count: 1, fds: [trig!.fd] });
  irq.setIrqs({ index: 0, flags: UNMASK_FD, start: 0, count: 1, fds: [u1!.fd] });
  irq.close();
  assert.deepEqual([w.live.size, isOpen(u1!.fd), isOpen(trig!.fd)], [0, false, false]);
  const [t2] = channels(t, 1);
  irq.setIrqs({ index: 0, flags: TRIG_FD, start: 0, count: 1, fds: [t2!.fd] });
  const memfd = native.memfdCreate('not-an-eventfd', 8);
  expectErrno(() => irq.setIrqs({ index: 0, flags: UNMASK_FD, start: 0, count: 1, fds: [memfd] }), 'EINVAL');
  assert.equal(isOpen(memfd), false);
  expectErrno(() => irq.setIrqs({ index: 0, flags: S.ACTION_MASK | S.DATA_EVENTFD, start: 0, count: 1, fds: [u2!.fd] }), 'ENOTTY');
  assert.equal(isOpen(u2!.fd), false);
  irq.close();
  const bare = new IrqController({ numIrqs: 5, indexes: [{ index: 0, count: 1, flags: I.EVENTFD | I.MASKABLE }] });
  bare.setIrqs({ index: 0, flags: TRIG_FD, start: 0, count: 1, fds: [u3!.fd] });
  expectErrno(() => bare.setIrqs({ index: 0, flags: UNMASK_FD, start: 0, count: 1, fds: [u4!.fd] }), 'ENOTTY');
  assert.equal(isOpen(u4!.fd), false);
  bare.close();
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
  expectErrno(() => irq.setIrqs({ index: 3, flags: TRIG_NONE, start: 0, count: 1 }), 'ENOTTY');
  expectErrno(() => irq.setIrqs({ index: 2, flags: TRIG_FD, start: 3, count: 2, fds: [-1, -1] }), 'EINVAL');
  expectErrno(() => irq.setIrqs({ index: 0, flags: TRIG_FD, start: 1, count: 1, fds: [-1] }), 'EINVAL');
  expectErrno(() => irq.setIrqs({ index: 0, flags: S.ACTION_TRIGGER | S.DATA_NONE | S.DATA_BOOL, start: 0, count: 1 }), 'EINVAL');
  expectErrno(() => irq.setIrqs({ index: 0, flags: S.DATA_NONE, start: 0, count: 1 }), 'ENOTTY');
  expectErrno(() => irq.setIrqs({ index: 0, flags: 0x100 | TRIG_NONE, start: 0, count: 1 }), 'EINVAL');
  expectErrno(() => irq.setIrqs({ index: 0, flags: TRIG_FD, start: 0, count: 1, fds: [] }), 'EINVAL');
  expectErrno(() => irq.setIrqs({ index: 0, flags: TRIG_FD, start: 0, count: 1, fds: [987654] }), 'EBADF');
  expectErrno(() => irq.info(5), 'EINVAL');
  assert.deepEqual(irq.info(3), { index: 3, flags: I.EVENTFD | I.NORESIZE, count: 0 }, 'an index the device lacks has no vectors');
  const memfd = native.memfdCreate('not-an-eventfd', 8);
  expectErrno(() => irq.setIrqs({ index: 1, flags: TRIG_FD, start: 0, count: 1, fds: [memfd] }), 'EINVAL');
  assert.equal(isOpen(memfd), false, 'a refused fd is closed');
  assert.deepEqual(irq.info(0), { index: 0, flags: I.EVENTFD | I.MASKABLE | I.AUTOMASKED, count: 1 });
  assert.equal(irq.activeIndex, undefined, 'nothing was left half-set');
  assert.equal(isOpen(a!.fd), true);
});

test('disabling (count 0, TRIGGER|DATA_NONE) an inactive index or one the device lacks succeeds', (t) => {
  const [a] = channels(t, 1);
  const irq = controller();
  t.after(() => irq.close());
  for (const index of [0, 1, 2, 3, 4]) irq.setIrqs({ index, flags: TRIG_NONE, start: 0, count: 0 });
  irq.setIrqs({ index: 1, flags: TRIG_FD, start: 0, count: 1, fds: [a!.fd] });
  irq.setIrqs({ index: 0, flags: TRIG_NONE, start: 0, count: 0 });
  irq.setIrqs({ index: 4, flags: TRIG_NONE, start: 0, count: 0 });
  assert.equal(irq.activeIndex, 1, 'disabling another index leaves MSI on');
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

/** A second descriptor of the same open file (what the client keeps of an eventfd it passes): sent over SCM_RIGHTS. */
function dupFd(fd: number): number {
  const [a, b] = native.socketpair();
  try {
    native.sendMsg(a, [Buffer.from([0])], [fd]);
    const r = native.recvMsg(b, Buffer.alloc(1), 0, 1, 1);
    assert.equal(r?.fds.length, 1);
    return r!.fds[0]!;
  } finally {
    native.close(a);
    native.close(b);
  }
}

test('delivery never blocks: a blocking eventfd whose counter the client filled drops the signal', (t) => {
  const irqs = controller();
  const fd = native.eventfd(0); // blocking, as a hostile client may pass it
  const client = dupFd(fd);
  t.after(() => {
    irqs.close();
    native.close(client);
  });
  irqs.setIrqs({ index: VFIO_PCI_IRQ.MSI, flags: TRIG_FD, start: 0, count: 1, fds: [fd] });
  native.eventfdWrite(client, 0xfffffffffffffffen);
  assert.equal(irqs.trigger(VFIO_PCI_IRQ.MSI), false, 'full: dropped, not blocked');
  assert.equal(native.eventfdRead(client), 0xfffffffffffffffen);
  assert.equal(irqs.trigger(VFIO_PCI_IRQ.MSI), true);
  assert.equal(native.eventfdRead(client), 1n);
});

test('REQ is a side channel (vfio_pci_set_ctx_trigger_single): beside an active MSI, signalled, removed, validated', (t) => {
  const irqs = controller();
  t.after(() => irqs.close());
  const [msi, req, other] = channels(t, 3);
  irqs.setIrqs({ index: VFIO_PCI_IRQ.MSI, flags: TRIG_FD, start: 0, count: 1, fds: [msi!.fd] });
  irqs.setIrqs({ index: VFIO_PCI_IRQ.REQ, flags: TRIG_FD, start: 0, count: 1, fds: [req!.fd] });
  assert.equal(irqs.activeIndex, VFIO_PCI_IRQ.MSI, 'REQ does not take the place of MSI');
  assert.equal(irqs.trigger(VFIO_PCI_IRQ.REQ), true);
  assert.equal(req!.drain(), 1);
  irqs.setIrqs({ index: VFIO_PCI_IRQ.REQ, flags: TRIG_NONE, start: 0, count: 1 });
  irqs.setIrqs({ index: VFIO_PCI_IRQ.REQ, flags: S.ACTION_TRIGGER | S.DATA_BOOL, start: 0, count: 1, bools: [true] });
  assert.equal(req!.drain(), 2, 'loopback by DATA_NONE and DATA_BOOL');
  expectErrno(() => irqs.setIrqs({ index: VFIO_PCI_IRQ.REQ, flags: TRIG_FD, start: 1, count: 1, fds: [other!.fd] }), 'EINVAL');
  expectErrno(() => irqs.setIrqs({ index: VFIO_PCI_IRQ.REQ, flags: S.ACTION_MASK | S.DATA_NONE, start: 0, count: 1 }), 'EINVAL');
  irqs.setIrqs({ index: VFIO_PCI_IRQ.REQ, flags: TRIG_NONE, start: 0, count: 0 });
  assert.equal(irqs.trigger(VFIO_PCI_IRQ.REQ), false, 'removed');
  assert.equal(isOpen(req!.fd), false, 'and closed');
  assert.equal(irqs.trigger(VFIO_PCI_IRQ.MSI), true, 'MSI untouched');
});
