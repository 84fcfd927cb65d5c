/**
 * MSI-X masking on the wire, with the device's table programmed by the client: a masked vector's completion
 * interrupt is held in the PBA and delivered on unmask; the function mask (MSI-X control bit 14) holds every
 * vector. A VMM that emulates the table itself (QEMU) never writes it, and its vectors are never held.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BLK_S } from '../../../src/drivers/mvblk/virtio.js';
import { startBlk } from './harness.js';

const MSIX_BAR = 1;

/** The eventfd counts are taken by the event loop: wait (bounded) until `n` have been, then assert. */
async function interrupts(q: { interrupts: number }, n: number): Promise<void> {
  for (let i = 0; i < 100 && q.interrupts < n; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(q.interrupts, n);
}
const CONFIG = 7;

/** Vector 1's table entry written by the client, masked: from now on its mask bit is honoured. Returns the entry. */
async function programMasked(c: { write(region: number, offset: number, data: Buffer): Promise<unknown> }): Promise<Buffer> {
  const entry = Buffer.alloc(16);
  entry.writeUInt32LE(0xfee00000, 0);
  entry.writeUInt32LE(0x41, 8);
  entry.writeUInt32LE(1, 12); // masked
  await c.write(MSIX_BAR, 16, entry);
  return entry;
}

test('MSI-X: a masked vector is held in the PBA and delivered when unmasked; the function mask holds all', async (t) => {
  const h = await startBlk(t);
  const { uuid } = await h.create();
  const g = await h.guest(uuid);
  const c = g.client;
  const q = g.queues[0]!;
  // Queue 0 uses vector 1; PBA of a 2-vector table at 32.
  assert.equal(await g.write(0n, Buffer.alloc(512, 1)), BLK_S.OK);
  for (let i = 0; i < 100 && q.interrupts < 1; i++) await new Promise((res) => setTimeout(res, 10));
  const seen = q.interrupts;
  assert.ok(seen >= 1, 'an unprogrammed table delivers (the VMM masks, not this copy)');

  const entry = await programMasked(c);
  const r = g.read(0n, 512);
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(q.interrupts, seen, 'no interrupt while masked');
  assert.equal((await c.read(MSIX_BAR, 32, 8)).readBigUInt64LE(0), 2n, 'vector 1 pending in the PBA');
  entry.writeUInt32LE(0, 12);
  await c.write(MSIX_BAR, 16 + 12, entry.subarray(12, 16));
  assert.equal((await r).status, BLK_S.OK, 'the request completes');
  await interrupts(q, seen + 1);
  assert.equal((await c.read(MSIX_BAR, 32, 8)).readBigUInt64LE(0), 0n, 'nothing pending');

  // The function mask, in the MSI-X capability's control word.
  let cap = (await c.read(CONFIG, 0x34, 1))[0]!;
  while ((await c.read(CONFIG, cap, 1))[0] !== 0x11) cap = (await c.read(CONFIG, cap + 1, 1))[0]!;
  const control = (await c.read(CONFIG, cap + 2, 2)).readUInt16LE(0);
  const word = Buffer.alloc(2);
  word.writeUInt16LE(control | 0xc000);
  await c.write(CONFIG, cap + 2, word);
  const r2 = g.read(0n, 512);
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(q.interrupts, seen + 1, 'no interrupt while the function is masked');
  word.writeUInt16LE((control | 0x8000) & ~0x4000);
  await c.write(CONFIG, cap + 2, word);
  assert.equal((await r2).status, BLK_S.OK);
  await interrupts(q, seen + 2);
});

test('MSI-X: a reset leaves the table as a function reset does: entries masked and unwritten, nothing pending', async (t) => {
  const h = await startBlk(t);
  const { uuid } = await h.create();
  const g = await h.guest(uuid);
  const c = g.client;
  await programMasked(c);
  const r = g.read(0n, 512);
  for (let i = 0; i < 100 && (await c.read(MSIX_BAR, 32, 8)).readBigUInt64LE(0) === 0n; i++) await new Promise((res) => setTimeout(res, 10));
  assert.equal((await c.read(MSIX_BAR, 32, 8)).readBigUInt64LE(0), 2n, 'vector 1 pending before the reset');
  await r;
  await c.reset();
  const after = await c.read(MSIX_BAR, 16, 16);
  assert.equal(after.readUInt32LE(0), 0, 'the address the client wrote is gone');
  assert.equal(after.readUInt32LE(8), 0, 'and its data');
  assert.equal(after.readUInt32LE(12), 1, 'the entry is masked');
  assert.equal((await c.read(MSIX_BAR, 32, 8)).readBigUInt64LE(0), 0n, 'nothing pending');
  // Unwritten again, the vector's masking is the VMM's: the next client's completions are delivered (a table left
  // as it was would hold them, masked, in the PBA).
  g.close();
  c.close();
  const again = await h.guest(uuid);
  const q = again.queues[0]!;
  assert.equal(await again.write(0n, Buffer.alloc(512, 2)), BLK_S.OK);
  await interrupts(q, 1);
});
