/**
 * An mtty-2 device served by the real vfio-user bus driver over a real UNIX socket, driven by the real client the
 * way Linux's 8250 driver (behind a VMM) would: identify the card through config space, size and place its BARs,
 * probe each UART, set the baud rate, enable interrupts, transmit with a THRE interrupt on an eventfd, receive the
 * loopback with an RX interrupt, use the second port independently, switch to MSI, and reset.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Core } from '../../src/core/core.js';
import { UmdevError } from '../../src/errors.js';
import { UART } from '../../src/drivers/mtty/uart.js';
import { native } from '../../src/native/index.js';
import { VFIO_DEVICE_FLAGS, VFIO_IRQ_INFO, VFIO_IRQ_SET as S, VFIO_PCI_REGION as R, VFIO_REGION_INFO_FLAG as F } from '../../src/vfio/constants.js';
import { VfioUserBusDriver, VfioUserClient } from '../../src/vfio-user/index.js';
import { uartLoopback } from '../../src/tools/uart-loopback.js';
import { exec } from '../process.js';
import { mttyCore } from './mtty-core.js';
import { UMDEV_UART } from './umdevd-process.js';

const UUID = '8e0b4a3c-1f2d-4c5e-9a7b-6d5c4b3a2f10';
const le32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};

/** An eventfd the test keeps; the client sends a copy of it with SET_IRQS. */
function eventfd(t: { after(fn: () => void): void }): { fd: number; take(): number } {
  const fd = native.eventfd(0, { nonblock: true });
  t.after(() => native.close(fd));
  return { fd, take: () => Number(native.eventfdRead(fd) ?? 0n) };
}

/** An mtty device of `type` served by the real vfio-user bus driver; torn down after. */
async function serveMtty(t: { after(fn: () => unknown): void }, type: 'mtty-1' | 'mtty-2'): Promise<{ core: Core; bus: VfioUserBusDriver }> {
  const served = await mttyCore(t, 'umdev-mtty-e2e-');
  const dev = await served.core.create('mtty', type, UUID);
  assert.equal(dev.driver, 'vfio-user');
  return served;
}

test('an mtty-2 over vfio-user, driven like the 8250 driver', async (t) => {
  const { core, bus } = await serveMtty(t, 'mtty-2');
  const client = await VfioUserClient.connect(bus.socketPath(UUID));
  t.after(() => client.close());

  // Device, region and IRQ info as the sample reports them.
  assert.deepEqual(await client.deviceInfo(), { flags: VFIO_DEVICE_FLAGS.PCI | VFIO_DEVICE_FLAGS.RESET, numRegions: 9, numIrqs: 5 });
  const cfgInfo = await client.regionInfo(R.CONFIG);
  assert.equal(cfgInfo.size, 0x100n);
  // QEMU reads config space in dwords; the last one is at 0xfc.
  assert.equal((await client.read(R.CONFIG, 0xfc, 4)).length, 4);
  const whole = await client.read(R.CONFIG, 0, 256);
  assert.equal(whole.readUInt32LE(0), 0x32534348);
  assert.equal(whole.toString('latin1', 0x60, 0x60 + 15), 'PCI Serial/UART');
  assert.deepEqual([...whole.subarray(0xf0)], new Array<number>(16).fill(0));
  assert.equal(cfgInfo.flags & (F.READ | F.WRITE), F.READ | F.WRITE);
  for (const bar of [0, 1]) assert.equal((await client.regionInfo(bar)).size, 8n);
  assert.equal((await client.regionInfo(2)).size, 0n);
  const intxInfo = await client.irqInfo(0);
  assert.equal(intxInfo.flags, VFIO_IRQ_INFO.EVENTFD | VFIO_IRQ_INFO.MASKABLE | VFIO_IRQ_INFO.AUTOMASKED);
  assert.equal(intxInfo.count, 1);

  // Identify: 8250_pci matches on vendor/device/subsystem and class 0x0700xx.
  const hdr = await client.read(R.CONFIG, 0, 0x40);
  assert.equal(hdr.readUInt16LE(0), 0x4348);
  assert.equal(hdr.readUInt16LE(2), 0x3253);
  assert.equal(hdr.readUIntLE(9, 3), 0x070002);
  assert.equal(hdr[0x08], 0x10);
  assert.equal(hdr.readUInt32LE(0x2c), 0x32534348);
  assert.equal(hdr[0x3d], 1, 'INTA#');
  assert.equal(hdr[0x34], 0, 'no capability list: no MSI capability for a guest to find');

  // Size and place the two I/O BARs as the PCI core does.
  for (const [off, base] of [[0x10, 0xc000], [0x14, 0xc008]] as const) {
    await client.write(R.CONFIG, off, le32(0xffffffff));
    const mask = (await client.read(R.CONFIG, off, 4)).readUInt32LE();
    assert.equal(mask, 0xfffffff9);
    assert.equal((~(mask & ~0x3) + 1) >>> 0, 8, 'an 8-byte I/O BAR');
    await client.write(R.CONFIG, off, le32(base));
    assert.equal((await client.read(R.CONFIG, off, 4)).readUInt32LE(), base | 1);
  }
  await client.write(R.CONFIG, 0x3c, Buffer.from([10]));
  assert.equal((await client.read(R.CONFIG, 0x3c, 2)).toString('hex'), '0a01');

  const port = (bar: number): { out(reg: number, v: number): Promise<void>; in(reg: number): Promise<number> } => ({
    out: (reg, v) => client.write(bar, reg, Buffer.from([v])),
    in: async (reg) => (await client.read(bar, reg, 1))[0]!,
  });
  const p0 = port(0);
  const p1 = port(1);

  // autoconfig: scratch register, IER probe, FIFO probe (IIR bits 7:6 = 3 → 16550A).
  for (const p of [p0, p1]) {
    await p.out(UART.SCR, 0xa5);
    assert.equal(await p.in(UART.SCR), 0xa5);
    await p.out(UART.IER, 0);
    assert.equal((await p.in(UART.IER)) & 0x0f, 0);
    await p.out(UART.IER, 0x0f);
    assert.equal((await p.in(UART.IER)) & 0x0f, 0x0f);
    await p.out(UART.IER, 0);
    await p.out(UART.FCR, UART.FCR_ENABLE_FIFO);
    assert.equal((await p.in(UART.IIR)) >> 6, 3);
    // 115200 / 9600 = 12, 8N1.
    await p.out(UART.LCR, UART.LCR_DLAB | 0x03);
    await p.out(UART.DLL, 12);
    await p.out(UART.DLM, 0);
    assert.deepEqual([await p.in(UART.DLL), await p.in(UART.DLM)], [12, 0]);
    await p.out(UART.LCR, 0x03);
    await p.out(UART.FCR, UART.FCR_ENABLE_FIFO | UART.FCR_CLEAR_RCVR | UART.FCR_CLEAR_XMIT);
    await p.out(UART.MCR, UART.MCR_DTR | UART.MCR_RTS | UART.MCR_OUT2);
    assert.equal(await p.in(UART.LSR), 0x60);
  }

  // INTx through an eventfd: THRE interrupt on enabling THRI with an empty transmitter.
  const intx = eventfd(t);
  await client.setIrqs({ index: 0, flags: S.ACTION_TRIGGER | S.DATA_EVENTFD, start: 0, count: 1, fds: [intx.fd] });
  await p0.out(UART.IER, UART.IER_RDI | UART.IER_THRI);
  assert.equal(intx.take(), 1, 'THRE interrupt');
  assert.equal(await p0.in(UART.IIR), 0xc2);
  const unmask = (): Promise<void> => client.setIrqs({ index: 0, flags: S.ACTION_UNMASK | S.DATA_NONE, start: 0, count: 1 });
  await unmask();

  // Transmit "ok": the first byte reaches the RX trigger level (1) and interrupts; the loopback reads it back.
  await p0.out(UART.TX, 0x6f);
  assert.equal(intx.take(), 1, 'RX data-ready interrupt');
  assert.equal(await p0.in(UART.IIR), 0xc4);
  await unmask();
  await p0.out(UART.TX, 0x6b);
  let got = '';
  while ((await p0.in(UART.LSR)) & UART.LSR_DR) got += String.fromCharCode(await p0.in(UART.RX));
  assert.equal(got, 'ok');
  assert.equal(intx.take(), 1, 'draining the FIFO with THRI enabled raises THRE');
  await unmask();

  // The second port is independent and shares the INTx line.
  assert.equal(await p1.in(UART.LSR), 0x60);
  await p1.out(UART.IER, UART.IER_RDI);
  await p1.out(UART.TX, 0x31);
  assert.equal(intx.take(), 1);
  assert.equal(await p0.in(UART.LSR), 0x60, 'port 0 saw nothing');
  assert.equal(await p1.in(UART.RX), 0x31);
  await unmask();

  // MSI: refused while INTx is on; after INTx is disabled every interrupt arrives (no automask).
  const msi = eventfd(t);
  await assert.rejects(
    client.setIrqs({ index: 1, flags: S.ACTION_TRIGGER | S.DATA_EVENTFD, start: 0, count: 1, fds: [msi.fd] }),
    (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL',
  );
  await client.setIrqs({ index: 0, flags: S.ACTION_TRIGGER | S.DATA_NONE, start: 0, count: 0 });
  await client.setIrqs({ index: 1, flags: S.ACTION_TRIGGER | S.DATA_EVENTFD, start: 0, count: 1, fds: [msi.fd] });
  await p1.out(UART.TX, 0x32);
  await p1.out(UART.IER, UART.IER_RDI | UART.IER_THRI);
  assert.equal(await p1.in(UART.RX), 0x32);
  assert.equal(msi.take(), 2, 'RX at the trigger level, then THRE when the read empties the FIFO');
  assert.equal(intx.take(), 0, 'INTx is off');

  // Reset: accepted; as the sample, the UART keeps its state (scratch, divisor).
  await client.reset();
  assert.equal(await p0.in(UART.SCR), 0xa5);
  assert.equal(await p0.in(UART.LCR), 0x03);

  await client.close();
  await core.remove(UUID);
  assert.equal(fs.existsSync(bus.socketPath(UUID)), false, 'the socket goes with the device');
});

test('UART loopback over vfio-user is byte-exact for 1, 15, 16, 17, 64 and 4096 bytes', async (t) => {
  const { bus } = await serveMtty(t, 'mtty-1');
  for (const n of [1, 15, 16, 17, 64, 4096]) {
    const data = Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff));
    const r = await uartLoopback(bus.socketPath(UUID), data);
    assert.equal(r.received.length, n, `${n} bytes came back`);
    assert.ok(r.received.equals(data), `${n} bytes came back unchanged`);
  }
});

test('umdev-uart: --help is usage on stdout with status 0; a bad socket names its errno once', async (t) => {
  const help = await exec(process.execPath, [UMDEV_UART, '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: umdev-uart \[--state-dir DIR\] UUID\|SOCKET/);
  assert.equal(help.stderr, '');
  const bad = await exec(process.execPath, [UMDEV_UART]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^usage:/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'umdev-uart-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const missing = await exec(process.execPath, [UMDEV_UART, path.join(dir, 'none.sock')]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr.match(/ENOENT/g)?.length, 1, `errno once in: ${missing.stderr}`);
});

test('INTx over vfio-user as QEMU under KVM drives it: IRQ info, disables, early masks, an unmask eventfd', async (t) => {
  const { bus } = await serveMtty(t, 'mtty-1');
  const client = await VfioUserClient.connect(bus.socketPath(UUID));
  t.after(() => client.close());
  const p0 = { out: (reg: number, v: number) => client.write(0, reg, Buffer.from([v])) };
  // MSI-X and ERR exist with no vectors, as vfio-pci reports them; REQ has one; past num_irqs is EINVAL.
  for (const index of [2, 3]) {
    assert.deepEqual(await client.irqInfo(index), { index, flags: VFIO_IRQ_INFO.EVENTFD | VFIO_IRQ_INFO.NORESIZE, count: 0 });
  }
  assert.deepEqual(await client.irqInfo(4), { index: 4, flags: VFIO_IRQ_INFO.EVENTFD | VFIO_IRQ_INFO.NORESIZE, count: 1 });
  await assert.rejects(client.irqInfo(5), (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL');
  // QEMU disables every index at reset, enabled or not, implemented or not.
  for (const index of [0, 1, 2, 3, 4]) await client.setIrqs({ index, flags: S.ACTION_TRIGGER | S.DATA_NONE, start: 0, count: 0 });
  // IRQ_INFO says MASKABLE, so MASK/UNMASK work before INTx has an eventfd.
  await client.setIrqs({ index: 0, flags: S.ACTION_MASK | S.DATA_NONE, start: 0, count: 1 });
  await client.setIrqs({ index: 0, flags: S.ACTION_UNMASK | S.DATA_NONE, start: 0, count: 1 });

  const intx = eventfd(t);
  const unmask = native.eventfd(0, { nonblock: true });
  t.after(() => native.close(unmask));
  await client.setIrqs({ index: 0, flags: S.ACTION_TRIGGER | S.DATA_EVENTFD, start: 0, count: 1, fds: [intx.fd] });
  await client.setIrqs({ index: 0, flags: S.ACTION_UNMASK | S.DATA_EVENTFD, start: 0, count: 1, fds: [unmask] });
  await p0.out(UART.IER, UART.IER_THRI);
  assert.equal(intx.take(), 1, 'first THRE interrupt');
  await p0.out(UART.IER, UART.IER_THRI);
  assert.equal(intx.take(), 0, 'automasked');
  // The guest's EOI: KVM signals the unmask eventfd; the server drains it and unmasks.
  native.eventfdWrite(unmask, 1n);
  let second = 0;
  for (let i = 0; i < 100 && second === 0; i++) {
    await new Promise((r) => setTimeout(r, 5));
    await p0.out(UART.IER, UART.IER_THRI);
    second = intx.take();
  }
  assert.equal(second, 1, 'the second interrupt arrives after the unmask eventfd fired');
  assert.equal(native.eventfdRead(unmask), null, 'the server drained the unmask eventfd');
  // No fd tears it down: a signal no longer unmasks, and nobody drains it.
  await client.setIrqs({ index: 0, flags: S.ACTION_UNMASK | S.DATA_EVENTFD, start: 0, count: 1 });
  native.eventfdWrite(unmask, 1n);
  await new Promise((r) => setTimeout(r, 50));
  await p0.out(UART.IER, UART.IER_THRI);
  assert.equal(intx.take(), 0, 'still masked');
  assert.equal(native.eventfdRead(unmask), 1n);
});

test('a plain remove signals the client REQ eventfd, as QEMU registers it, and completes once the client lets go', async (t) => {
  const { core, bus } = await serveMtty(t, 'mtty-1');
  const client = await VfioUserClient.connect(bus.socketPath(UUID));
  const req = native.eventfd(0, { nonblock: true });
  t.after(() => native.close(req));
  await client.setIrqs({ index: 4, flags: S.ACTION_TRIGGER | S.DATA_EVENTFD, start: 0, count: 1, fds: [req] });
  const removal = core.remove(UUID);
  let signalled: bigint | null = null;
  for (let i = 0; i < 200 && signalled === null; i++) {
    await new Promise((r) => setTimeout(r, 5));
    signalled = native.eventfdRead(req);
  }
  assert.equal(signalled, 1n, 'REQ signalled');
  assert.equal(client.closed, false, 'the client is asked, not cut off');
  await client.close();
  await removal;
  assert.equal(core.device(UUID), undefined);
});
