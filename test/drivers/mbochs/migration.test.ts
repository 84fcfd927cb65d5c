import { test } from 'node:test';
import assert from 'node:assert/strict';
import { screenPng } from '../../../src/display/screen.js';
import { DISPI } from '../../../src/drivers/mbochs/dispi.js';
import { MbochsDevice } from '../../../src/drivers/mbochs/index.js';
import { HEADER, PAGE, TAG } from '../../../src/drivers/mbochs/migration.js';
import { FB_BAR } from '../../../src/drivers/mbochs/spec.js';
import { VFIO_DEVICE_STATE as S, VFIO_MIGRATION as M, VFIO_PCI_REGION as R } from '../../../src/vfio/constants.js';
import type { MigrationDriver } from '../../../src/vfio/device-migration.js';
import { context, isErrno, reg, small } from './helpers.js';


function drain(m: MigrationDriver): Buffer {
  const parts: Uint8Array[] = [];
  for (let c = m.read(100_000); c.length > 0; c = m.read(100_000)) parts.push(c);
  return Buffer.concat(parts);
}

/** A source with a client, a 640×480 mode and a pattern drawn into its framebuffer. */
async function drawn(): Promise<MbochsDevice> {
  const d = new MbochsDevice(small);
  await d.open(context);
  reg(d, DISPI.BPP, 32);
  reg(d, DISPI.XRES, 640);
  reg(d, DISPI.YRES, 480);
  reg(d, DISPI.VIRT_WIDTH, 640);
  reg(d, DISPI.ENABLE, DISPI.ENABLED | DISPI.LFB_ENABLED);
  const fb = d.memory(FB_BAR);
  for (let i = 0; i < 640 * 480; i++) fb.writeUInt32LE((i * 2654435761) >>> 8, i * 4);
  return d;
}

/** The stream a fresh device would take: PRE_COPY's, then STOP_COPY's, from `src`. */
async function streams(src: MbochsDevice, between: () => void = () => undefined): Promise<{ pre: Buffer; stop: Buffer }> {
  const m = src.migration!;
  await m.setState(S.PRE_COPY);
  const pre = drain(m);
  between();
  await m.setState(S.STOP_COPY);
  const stop = drain(m);
  await m.setState(S.RUNNING);
  return { pre, stop };
}

async function load(dst: MbochsDevice, ...chunks: Buffer[]): Promise<void> {
  const m = dst.migration!;
  await m.setState(S.RESUMING);
  for (const c of chunks) m.write(c);
  await m.setState(S.RUNNING);
}

test('mbochs migrates its registers and video memory into a device without a client, which the next client maps', async (t) => {
  const src = await drawn();
  const dst = new MbochsDevice(small);
  t.after(() => Promise.all([src.close(), dst.close()]));
  assert.equal(src.migration!.flags, M.STOP_COPY | M.PRE_COPY);
  const changedAt = 300 * PAGE + 12;
  const { pre, stop } = await streams(src, () => src.memory(FB_BAR).writeUInt32LE(0xdeadbeef, changedAt));
  assert.ok(pre.length >= 4 * 1024 * 1024, 'PRE_COPY sends the whole framebuffer');
  // STOP_COPY: only the page changed after PRE_COPY, then the registers and END.
  assert.equal(stop.length, HEADER + PAGE + HEADER + DISPI.COUNT * 2 + HEADER);
  assert.equal(stop.readUInt32LE(0), TAG.PAGES);
  assert.deepEqual([stop.readUInt32LE(4), stop.readUInt32LE(8)], [300, 1]);
  // Split at odd places: records span chunks.
  const whole = Buffer.concat([pre, stop]);
  await load(dst, whole.subarray(0, 7), whole.subarray(7, 4099), whole.subarray(4099));
  assert.equal(dst.opened, false);
  assert.deepEqual(dst.dispi.save(), src.dispi.save());
  assert.ok(dst.memory(FB_BAR).equals(src.memory(FB_BAR)), 'video memory identical');
  assert.equal(dst.memory(FB_BAR).readUInt32LE(changedAt), 0xdeadbeef);
  assert.ok((await screenPng(dst)).equals(await screenPng(src)), 'the same screen');
  // The next client maps the loaded memory.
  await dst.open(context);
  assert.ok(dst.regionInfo(R.BAR0).fd !== undefined);
  assert.ok(dst.memory(FB_BAR).equals(src.memory(FB_BAR)));
});

test('STOP_COPY straight from STOP sends every page', async (t) => {
  const src = await drawn();
  t.after(() => src.close());
  const m = src.migration!;
  await m.setState(S.STOP_COPY);
  const stop = drain(m);
  await m.setState(S.RUNNING);
  assert.equal(stop.length, (4 * 1024 * 1024) / (64 * PAGE) * HEADER + 4 * 1024 * 1024 + HEADER + DISPI.COUNT * 2 + HEADER);
});

test('a hostile stream is refused with EINVAL and leaves the destination as it was', async (t) => {
  const src = await drawn();
  t.after(() => src.close());
  const { pre, stop } = await streams(src);
  const whole = Buffer.concat([pre, stop]);
  const pageRecord = (first: number, count: number): Buffer => {
    const h = Buffer.alloc(HEADER + PAGE);
    h.writeUInt32LE(TAG.PAGES, 0);
    h.writeUInt32LE(first, 4);
    h.writeUInt32LE(count, 8);
    return h;
  };
  const badRegs = Buffer.from(stop);
  badRegs.writeUInt16LE(0x1234, HEADER * 1 + DISPI.ID * 2); // stop holds no pages: REGS first
  const cases: [string, Buffer[], 'write' | 'finish'][] = [
    ['truncated', [whole.subarray(0, whole.length - 1)], 'finish'],
    ['truncated at a record boundary', [pre], 'finish'],
    ['oversized', [whole, Buffer.from([0])], 'write'],
    ['a page past video memory', [pageRecord(1024, 1)], 'write'],
    ['a page count overflowing', [pageRecord(1, 0xffffffff)], 'write'],
    ['an unknown tag', [Buffer.alloc(HEADER, 0x41)], 'write'],
    ['registers of another device', [pre, badRegs], 'finish'],
  ];
  for (const [what, chunks, where] of cases) {
    // The destination has a client and content of its own, which must survive.
    const dst = new MbochsDevice(small);
    await dst.open(context);
    dst.memory(FB_BAR).fill(0x5a);
    reg(dst, DISPI.XRES, 123);
    const before = dst.dispi.save();
    const m = dst.migration!;
    await m.setState(S.RESUMING);
    if (where === 'write') assert.throws(() => chunks.forEach((c) => m.write(c)), isErrno('EINVAL'), what);
    else chunks.forEach((c) => m.write(c));
    await assert.rejects(m.setState(S.RUNNING), isErrno('EINVAL'), what);
    assert.equal(m.state, S.ERROR, what);
    assert.deepEqual(dst.dispi.save(), before, `${what}: registers unchanged`);
    assert.ok(dst.memory(FB_BAR).every((b) => b === 0x5a), `${what}: video memory unchanged`);
    await dst.close();
  }
  // A refused stream into a device without a client creates no video memory.
  const fresh = new MbochsDevice(small);
  await fresh.migration!.setState(S.RESUMING);
  fresh.migration!.write(whole.subarray(0, 5000));
  await assert.rejects(fresh.migration!.setState(S.RUNNING), isErrno('EINVAL'));
  assert.equal(fresh.hasMemory(FB_BAR), false);
});
