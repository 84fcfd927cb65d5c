import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MttyDevice } from '../../../src/drivers/mtty/device.js';
import { MTTY_MAGIC } from '../../../src/drivers/mtty/migration.js';
import { UART } from '../../../src/drivers/mtty/uart.js';
import { UmdevError } from '../../../src/errors.js';
import { vfioOf } from '../../../src/vfio/pci-device.js';

const out = (d: MttyDevice, port: number, reg: number, v: number): void => void vfioOf(d).write(port, BigInt(reg), Buffer.from([v]));
const inb = (d: MttyDevice, port: number, reg: number): number => vfioOf(d).read(port, BigInt(reg), 1)[0]!;

function expectEinval(fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL');
}

test('stream layout: 24-byte header then 36-byte struct serial_port per port (60 and 96 bytes)', () => {
  const d = new MttyDevice(2);
  out(d, 0, UART.FCR, 0x07);
  out(d, 0, UART.LCR, 0x83);
  out(d, 0, UART.DLL, 0x0c);
  out(d, 0, UART.LCR, 0x03);
  out(d, 0, UART.IER, UART.IER_RDI);
  out(d, 0, UART.TX, 0x41);
  out(d, 0, UART.TX, 0x42);
  out(d, 1, UART.SCR, 0x5a);
  const s = d.save();
  assert.equal(s.length, 96);
  assert.equal(d.migrationDataSize, 96);
  assert.equal(new MttyDevice(1).save().length, 60);
  assert.equal(s.readBigUInt64LE(0), MTTY_MAGIC);
  assert.deepEqual([s.readUInt32LE(8), s.readUInt32LE(12), s.readUInt32LE(16), s.readUInt32LE(20)], [1, 0, 2, 0]);
  const p0 = s.subarray(24, 60);
  assert.equal(p0[UART.IER], UART.IER_RDI, 'uart_reg[] first');
  assert.equal(p0[UART.LCR], 0x03);
  assert.deepEqual([p0[8], p0[9]], [0x41, 0x42], 'fifo[16] at 8');
  assert.deepEqual([p0[24], p0[25], p0[26]], [2, 0, 2], 'head, tail, count');
  assert.deepEqual([p0[27], p0[28]], [0, 0], 'dlab, overrun');
  assert.equal(p0.readUInt16LE(30), 0x0c, 'divisor at 30 after one pad byte');
  assert.deepEqual([p0[32], p0[33], p0[34]], [0x07, 16, 1], 'fcr, max_fifo_size, intr_trigger_level');
  assert.equal(s[24 + 36 + UART.SCR], 0x5a);
});

test('save/restore with bytes pending in the FIFO: the target reads them back', () => {
  const src = new MttyDevice(2);
  out(src, 0, UART.FCR, 0x07);
  out(src, 1, UART.FCR, 0x07);
  for (const b of Buffer.from('hello')) out(src, 0, UART.TX, b);
  out(src, 1, UART.TX, 0x21);
  assert.equal(inb(src, 0, UART.RX), 'h'.charCodeAt(0));
  const stream = src.save();
  const dst = new MttyDevice(2);
  dst.restore(stream);
  assert.deepEqual(dst.save(), stream);
  let got = '';
  while (inb(dst, 0, UART.LSR) & UART.LSR_DR) got += String.fromCharCode(inb(dst, 0, UART.RX));
  assert.equal(got, 'ello');
  assert.equal(inb(dst, 1, UART.RX), 0x21);
  assert.equal(inb(src, 0, UART.RX), 'e'.charCodeAt(0), 'the source is untouched by the save');
});

test('restore refuses a bad magic, version, flags, port count or size, and changes nothing', () => {
  const src = new MttyDevice(1);
  out(src, 0, UART.SCR, 0x77);
  const good = src.save();
  const dst = new MttyDevice(1);
  const before = dst.save();
  const bad = (mutate: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(good);
    mutate(b);
    return b;
  };
  expectEinval(() => dst.restore(bad((b) => b.writeBigUInt64LE(1n, 0))));
  expectEinval(() => dst.restore(bad((b) => b.writeUInt32LE(2, 8))));
  expectEinval(() => dst.restore(bad((b) => b.writeUInt32LE(1, 12))));
  expectEinval(() => dst.restore(bad((b) => b.writeUInt32LE(2, 16))));
  expectEinval(() => dst.restore(bad((b) => b.writeUInt32LE(1, 20))));
  expectEinval(() => dst.restore(bad((b) => (b[24 + 24] = 16))));
  expectEinval(() => dst.restore(good.subarray(0, 59)));
  expectEinval(() => dst.restore(Buffer.concat([good, Buffer.alloc(1)])));
  expectEinval(() => new MttyDevice(2).restore(good));
  assert.deepEqual(dst.save(), before);
  dst.restore(good);
  assert.equal(inb(dst, 0, UART.SCR), 0x77);
});

test('a bad second port leaves the first untouched', () => {
  const src = new MttyDevice(2);
  out(src, 0, UART.SCR, 0x11);
  const s = src.save();
  s[24 + 36 + 26] = 99;
  const dst = new MttyDevice(2);
  expectEinval(() => dst.restore(s));
  assert.equal(inb(dst, 0, UART.SCR), 0);
});
