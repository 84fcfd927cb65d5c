import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MttyDevice } from '../../../src/drivers/mtty/device.js';
import { UART } from '../../../src/drivers/mtty/uart.js';
import { VFIO_IRQ_SET as S } from '../../../src/vfio/constants.js';
import { UmdevError } from '../../../src/errors.js';
import { eventChannel, isOpen, type EventChannel } from '../../vfio/event-channel.js';
import { vfioOf } from '../../../src/vfio/pci-device.js';

/** Byte-wide port I/O on one port's BAR, as the 8250 driver (and QEMU for I/O BARs) does it. */
function io(d: MttyDevice, port: number): { out(reg: number, v: number): void; in(reg: number): number } {
  return {
    out: (reg, v) => vfioOf(d).write(port, BigInt(reg), Buffer.from([v])),
    in: (reg) => vfioOf(d).read(port, BigInt(reg), 1)[0]!,
  };
}

function withIntx(t: { after(fn: () => void): void }, d: MttyDevice): EventChannel {
  const ch = eventChannel();
  t.after(() => {
    vfioOf(d).close();
    ch.close();
  });
  vfioOf(d).setIrqs({ index: 0, flags: S.ACTION_TRIGGER | S.DATA_EVENTFD, start: 0, count: 1, fds: [ch.fd] });
  return ch;
}

const unmask = (d: MttyDevice): void => vfioOf(d).setIrqs({ index: 0, flags: S.ACTION_UNMASK | S.DATA_NONE, start: 0, count: 1 });

test('idle registers: IIR 0xC1, LSR 0x60, MSR 0xB3; scratch register and IER probe as autoconfig does', () => {
  const d = new MttyDevice(1);
  const p = io(d, 0);
  assert.equal(p.in(UART.IIR), 0xc1);
  assert.equal(p.in(UART.LSR), 0x60);
  assert.equal(p.in(UART.MSR), 0xb3);
  // serial8250 autoconfig: IER must read 0 after writing 0 and 0x0F after writing 0x0F.
  p.out(UART.IER, 0);
  assert.equal(p.in(UART.IER) & 0x0f, 0);
  p.out(UART.IER, 0x0f);
  assert.equal(p.in(UART.IER) & 0x0f, 0x0f);
  p.out(UART.IER, 0xff);
  assert.equal(p.in(UART.IER), 0x0f, 'IER reads back its low nibble');
  p.out(UART.IER, 0);
  for (const v of [0x55, 0xaa, 0x00]) {
    p.out(UART.SCR, v);
    assert.equal(p.in(UART.SCR), v);
  }
});

test('FIFO probe: after FCR.ENABLE_FIFO the IIR top bits say 16550A', () => {
  const d = new MttyDevice(1);
  const p = io(d, 0);
  p.out(UART.FCR, UART.FCR_ENABLE_FIFO);
  assert.equal(p.in(UART.IIR) >> 6, 3);
  p.out(UART.FCR, 0);
  assert.equal(p.in(UART.IIR) >> 6, 3, 'the sample always reports FIFOs enabled');
});

test('DLAB baud setting: divisor latch through DLL/DLM, then LCR 8N1', () => {
  const d = new MttyDevice(1);
  const p = io(d, 0);
  p.out(UART.LCR, UART.LCR_DLAB | 0x03);
  p.out(UART.DLL, 0x0c);
  p.out(UART.DLM, 0x00);
  assert.equal(p.in(UART.DLL), 0x0c);
  assert.equal(p.in(UART.DLM), 0x00);
  assert.equal(p.in(UART.LCR), 0x83);
  p.out(UART.LCR, 0x03);
  assert.equal(p.in(UART.LCR), 0x03);
  assert.equal(d.ports[0]!.divisor, 12);
  // With DLAB clear the same offsets are RBR/IER again.
  assert.equal(p.in(UART.IER), 0);
  // The sample ORs into the latch: a second DLL write without re-setting DLAB accumulates.
  p.out(UART.LCR, 0x83);
  p.out(UART.DLL, 0x01);
  p.out(UART.DLL, 0x02);
  assert.equal(p.in(UART.DLL), 0x03);
});

test('IER.THRI with an empty FIFO raises INTx once, automasked until UNMASK; IIR shows THRI', (t) => {
  const d = new MttyDevice(1);
  const ch = withIntx(t, d);
  const p = io(d, 0);
  p.out(UART.IER, UART.IER_THRI);
  assert.equal(ch.drain(), 1);
  assert.equal(p.in(UART.IIR), 0xc2);
  p.out(UART.IER, UART.IER_THRI);
  assert.equal(ch.drain(), 0, 'masked until the client unmasks');
  unmask(d);
  p.out(UART.IER, UART.IER_THRI);
  assert.equal(ch.drain(), 1);
});

test('loopback RX: a THR byte comes back from RBR with a data-ready interrupt, then THRE again', (t) => {
  const d = new MttyDevice(1);
  const ch = withIntx(t, d);
  const p = io(d, 0);
  p.out(UART.FCR, UART.FCR_ENABLE_FIFO | UART.FCR_CLEAR_RCVR | UART.FCR_CLEAR_XMIT);
  p.out(UART.IER, UART.IER_RDI);
  assert.equal(ch.drain(), 0);
  p.out(UART.TX, 0x41);
  assert.equal(ch.drain(), 1, 'count reached the trigger level (forced to 1)');
  assert.equal(p.in(UART.LSR), UART.LSR_DR);
  assert.equal(p.in(UART.IIR), 0xc4);
  unmask(d);
  p.out(UART.TX, 0x42);
  assert.equal(ch.drain(), 0, 'only the byte that reaches the trigger level interrupts');
  assert.equal(p.in(UART.RX), 0x41);
  assert.equal(p.in(UART.RX), 0x42);
  assert.equal(p.in(UART.LSR), 0x60);
  assert.equal(p.in(UART.IIR), 0xc1);
  // Draining the FIFO with THRI enabled raises the transmit-empty interrupt.
  p.out(UART.IER, UART.IER_RDI);
  p.out(UART.TX, 0x43);
  assert.equal(ch.drain(), 1);
  unmask(d);
  d.ports[0]!.regs[UART.IER] = UART.IER_THRI;
  assert.equal(p.in(UART.RX), 0x43);
  assert.equal(ch.drain(), 1);
});

test('before any FCR write the trigger level is 0: IIR reports RDI, no RX interrupt fires', (t) => {
  const d = new MttyDevice(1);
  const ch = withIntx(t, d);
  const p = io(d, 0);
  p.out(UART.IER, UART.IER_RDI);
  assert.equal(p.in(UART.IIR), 0xc4);
  p.out(UART.TX, 0x41);
  assert.equal(ch.drain(), 0);
});

test('FIFO of 16 as a 16550A: 16 bytes fit and come back in order, THRE only once it is empty', () => {
  const d = new MttyDevice(1);
  const p = io(d, 0);
  p.out(UART.FCR, 0x07);
  // Start away from index 0 so the full FIFO wraps (head == tail while full).
  for (let i = 0; i < 5; i++) p.out(UART.TX, 0xf0 + i);
  for (let i = 0; i < 5; i++) assert.equal(p.in(UART.RX), 0xf0 + i);
  for (let i = 0; i < 16; i++) p.out(UART.TX, i);
  assert.equal(d.ports[0]!.count, 16);
  assert.equal(p.in(UART.LSR), UART.LSR_DR, 'full: data ready, transmitter not empty, no overrun');
  for (let i = 0; i < 16; i++) assert.equal(p.in(UART.RX), i, `byte ${i}`);
  assert.equal(p.in(UART.LSR), 0x60);
});

test('overrun: a 17th byte is lost alone, LSR.OE is set with an RLSI interrupt and clears when LSR is read', (t) => {
  const d = new MttyDevice(1);
  const ch = withIntx(t, d);
  const p = io(d, 0);
  p.out(UART.FCR, 0x07);
  for (let i = 0; i < 16; i++) p.out(UART.TX, 0x40 + i);
  p.out(UART.IER, UART.IER_RLSI);
  assert.equal(ch.drain(), 0);
  p.out(UART.TX, 0xee);
  assert.equal(ch.drain(), 1, 'RLSI');
  assert.equal(p.in(UART.IIR), 0xc6);
  assert.equal(p.in(UART.LSR), UART.LSR_DR | UART.LSR_OE);
  assert.equal(p.in(UART.LSR), UART.LSR_DR, 'reading LSR cleared OE');
  assert.equal(p.in(UART.IIR), 0xc1, 'and the line-status interrupt');
  const got = Array.from({ length: 16 }, () => p.in(UART.RX));
  assert.deepEqual(got, Array.from({ length: 16 }, (_, i) => 0x40 + i), 'the FIFO kept its 16 bytes');
  assert.equal(p.in(UART.LSR), 0x60);
  // An accepted byte does not clear a pending OE; only the LSR read does.
  for (let i = 0; i < 17; i++) p.out(UART.TX, i);
  p.in(UART.RX);
  p.out(UART.TX, 0x77);
  assert.equal(p.in(UART.LSR) & UART.LSR_OE, UART.LSR_OE);
});

test('without FCR.ENABLE_FIFO the FIFO holds one byte', () => {
  const d = new MttyDevice(1);
  const p = io(d, 0);
  p.out(UART.FCR, UART.FCR_CLEAR_RCVR);
  p.out(UART.TX, 1);
  p.out(UART.TX, 2);
  assert.equal(p.in(UART.LSR), UART.LSR_DR | UART.LSR_OE);
  assert.equal(p.in(UART.RX), 1);
});

test('MCR with IER.MSI raises one interrupt for OUT2 and another for RTS/DTR; MSR honours AFE', (t) => {
  const d = new MttyDevice(1);
  const msi = eventChannel();
  t.after(() => {
    vfioOf(d).close();
    msi.close();
  });
  vfioOf(d).setIrqs({ index: 1, flags: S.ACTION_TRIGGER | S.DATA_EVENTFD, start: 0, count: 1, fds: [msi.fd] });
  const p = io(d, 0);
  p.out(UART.IER, UART.IER_MSI);
  p.out(UART.MCR, UART.MCR_OUT2 | UART.MCR_RTS | UART.MCR_DTR);
  assert.equal(msi.drain(), 2);
  assert.equal(p.in(UART.IIR), 0xc1, 'the modem-status source is IIR value 0x00, so nothing shows');
  p.out(UART.FCR, UART.FCR_CLEAR_RCVR);
  p.out(UART.MCR, UART.MCR_AFE);
  p.out(UART.TX, 1);
  assert.equal(p.in(UART.MSR), 0xa2, 'AFE with a full (1-byte) FIFO drops CTS');
});

test('the two ports of mtty-2 are independent but share the interrupt', (t) => {
  const d = new MttyDevice(2);
  const ch = withIntx(t, d);
  const p0 = io(d, 0);
  const p1 = io(d, 1);
  p0.out(UART.FCR, 0x07);
  p1.out(UART.FCR, 0x07);
  p0.out(UART.SCR, 0x11);
  p1.out(UART.SCR, 0x22);
  p0.out(UART.TX, 0xa0);
  p1.out(UART.IER, UART.IER_RDI);
  p1.out(UART.TX, 0xb1);
  assert.equal(ch.drain(), 1, 'port 1 raised the shared INTx');
  assert.deepEqual([p0.in(UART.SCR), p1.in(UART.SCR)], [0x11, 0x22]);
  assert.equal(p1.in(UART.RX), 0xb1);
  assert.equal(p1.in(UART.LSR), 0x60);
  assert.equal(p0.in(UART.LSR), UART.LSR_DR);
  assert.equal(p0.in(UART.RX), 0xa0);
});

test('wider BAR accesses act on the first byte of each aligned chunk, as the sample', () => {
  const d = new MttyDevice(1);
  vfioOf(d).write(0, 7n, Buffer.from([0x99]));
  vfioOf(d).write(0, 6n, Buffer.from([0x00, 0x77]));
  assert.equal(vfioOf(d).read(0, 7n, 1)[0], 0x99, 'a 2-byte chunk at MSR hands MSR its first byte; SCR never sees 0x77');
  const wide = vfioOf(d).read(0, 4n, 4);
  assert.deepEqual([...wide], [0x00, 0, 0, 0], 'one register (MCR) per dword chunk');
});

test('MSI instead of INTx: every trigger is delivered (no automask), and INTx is refused while MSI is on', (t) => {
  const d = new MttyDevice(1);
  const msi = eventChannel();
  const intx = eventChannel();
  t.after(() => {
    vfioOf(d).close();
    msi.close();
    intx.close();
  });
  vfioOf(d).setIrqs({ index: 1, flags: S.ACTION_TRIGGER | S.DATA_EVENTFD, start: 0, count: 1, fds: [msi.fd] });
  assert.throws(
    () => vfioOf(d).setIrqs({ index: 0, flags: S.ACTION_TRIGGER | S.DATA_EVENTFD, start: 0, count: 1, fds: [intx.fd] }),
    (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL',
  );
  assert.throws(() => vfioOf(d).setIrqs({ index: 1, flags: S.ACTION_MASK | S.DATA_NONE, start: 0, count: 1 }), (e: unknown) => e instanceof UmdevError && e.errno === 'ENOTTY');
  vfioOf(d).setIrqs({ index: 2, flags: S.ACTION_TRIGGER | S.DATA_NONE, start: 0, count: 0 }); // disabling MSI-X, which mtty lacks, is a no-op
  assert.equal(d.irqIndex, 1);
  const p = io(d, 0);
  p.out(UART.IER, UART.IER_THRI);
  p.out(UART.IER, UART.IER_THRI);
  assert.equal(msi.drain(), 2);
  vfioOf(d).close();
  assert.equal(isOpen(msi.fd), false, 'close() releases the eventfd');
  p.out(UART.IER, UART.IER_THRI);
  assert.equal(msi.drain(), 0);
});
