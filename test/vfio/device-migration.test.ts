import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UmdevError } from '../../src/errors.js';
import { MttyDevice } from '../../src/drivers/mtty/device.js';
import { UART } from '../../src/drivers/mtty/uart.js';
import { VFIO_DEVICE_STATE as S, VFIO_MIGRATION as M } from '../../src/vfio/constants.js';
import type { MigrationDriver } from '../../src/vfio/device-migration.js';
import { vfioOf } from '../../src/vfio/pci-device.js';

const out = (d: MttyDevice, reg: number, v: number): void => void vfioOf(d).write(0, BigInt(reg), Buffer.from([v]));
const inb = (d: MttyDevice, reg: number): number => vfioOf(d).read(0, BigInt(reg), 1)[0]!;

/** Read the whole outgoing stream in chunks of `chunk` bytes. */
function drain(m: MigrationDriver, chunk: number): Buffer {
  const parts: Uint8Array[] = [];
  for (let got = m.read(chunk); got.length > 0; got = m.read(chunk)) parts.push(got);
  return Buffer.concat(parts);
}

test('mtty migrates through the driver: PRE_COPY, then STOP_COPY, in 7-byte chunks, into a fresh device', async () => {
  const src = new MttyDevice(2);
  const m = vfioOf(src).migration!;
  assert.equal(m.flags, M.STOP_COPY | M.PRE_COPY);
  assert.equal(m.state, S.RUNNING);
  out(src, UART.FCR, 0x07);
  out(src, UART.TX, 0x41);
  await m.setState(S.PRE_COPY);
  assert.deepEqual(m.precopyInfo(), { initial: 96, dirty: 0 });
  const pre = m.read(40);
  // The guest keeps running during pre-copy: this byte is only in the stop-copy snapshot.
  out(src, UART.TX, 0x42);
  await m.setState(S.STOP_COPY);
  const stream = Buffer.concat([pre, drain(m, 7)]);
  assert.equal(stream.length, 96 * 2, 'the rest of the pre-copy snapshot, then the final one');
  await m.setState(S.STOP);

  const dst = new MttyDevice(2);
  await vfioOf(dst).migration!.setState(S.STOP);
  await vfioOf(dst).migration!.setState(S.RESUMING);
  for (let i = 0; i < stream.length; i += 7) vfioOf(dst).migration!.write(stream.subarray(i, i + 7));
  await vfioOf(dst).migration!.setState(S.RUNNING);
  assert.equal(vfioOf(dst).migration!.state, S.RUNNING);
  assert.deepEqual([inb(dst, UART.RX), inb(dst, UART.RX)], [0x41, 0x42], 'the final state arrived');
});

test('a truncated stream fails the way out of RESUMING and leaves the device unchanged, in ERROR', async () => {
  const src = new MttyDevice(1);
  out(src, UART.SCR, 0x5a);
  await vfioOf(src).migration!.setState(S.STOP_COPY);
  const stream = drain(vfioOf(src).migration!, 1000);
  const dst = new MttyDevice(1);
  await vfioOf(dst).migration!.setState(S.RESUMING);
  vfioOf(dst).migration!.write(stream.subarray(0, stream.length - 1));
  await assert.rejects(vfioOf(dst).migration!.setState(S.STOP), (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL' && e.message.includes('inside a snapshot'));
  assert.equal(vfioOf(dst).migration!.state, S.ERROR);
  assert.equal(inb(dst, UART.SCR), 0);
});

test('data calls outside their states are EINVAL', async () => {
  const d = new MttyDevice(1);
  const m = vfioOf(d).migration!;
  assert.throws(() => m.read(8), (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL');
  assert.throws(() => m.write(Buffer.alloc(1)), (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL');
  assert.throws(() => m.precopyInfo(), (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL');
  await assert.rejects(m.setState(S.RUNNING_P2P), (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL');
  assert.equal(m.state, S.RUNNING, 'an unsupported target changes nothing');
});
