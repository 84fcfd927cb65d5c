/**
 * What a hostile or careless guest (or VMM) can do to an mvblk device, on the wire with a real client: buffers
 * outside guest memory, descriptor loops, 64k-descriptor chains, memory unmapped while a request uses it, a reset
 * with requests in flight. Each fails the request it concerns (an error status where one can be written, the
 * chain returned either way), never hangs, and leaves the device serving the next request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BLK_S, BLK_T, COMMON, DESC } from '../../../src/drivers/mvblk/virtio.js';
import { Command } from '../../../src/vfio-user/constants.js';
import { startBlk } from './harness.js';
import { RAM_BASE, type VirtioGuest } from './virtio-guest.js';

/** A second window of guest memory the device reaches only by DMA_READ/DMA_WRITE messages, past RAM. */
const MSG_BASE = 0x8000_0000n;
const MSG_BYTES = 1 << 20;

/** A gate the client's DMA answers wait on, and the commands it held. */
function gate(): { wait: (cmd: number) => Promise<void>; open: () => void; held: number[]; reached: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  let reached!: () => void;
  const first = new Promise<void>((r) => (reached = r));
  const held: number[] = [];
  return {
    wait: async (cmd) => {
      held.push(cmd);
      reached();
      await opened;
    },
    open,
    held,
    reached: first,
  };
}

/** A request's status byte, a good request afterwards, and no request left in flight. */
async function stillServes(g: VirtioGuest): Promise<void> {
  const data = randomBytes(4096);
  assert.equal(await g.write(8n, data), BLK_S.OK, 'the device serves the next write');
  const back = await g.read(8n, 4096);
  assert.equal(back.status, BLK_S.OK);
  assert.ok(back.data.equals(data));
}

test('mvblk hostile: buffers outside any mapping fail with IOERR; the device survives', async (t) => {
  const h = await startBlk(t);
  const { uuid, model } = await h.create();
  const g = await h.guest(uuid);
  for (const addr of [0n, 0xdead_0000_0000n, RAM_BASE + BigInt(g.ram.length) - 100n]) {
    for (const type of [BLK_T.IN, BLK_T.OUT]) {
      const r = g.request(0, type, 0n, [{ addr, len: 4096 }], type === BLK_T.IN);
      g.offer(0, r.head);
      g.kick(0);
      const [c] = await g.waitUsed(0, 1);
      assert.equal(c!.head, r.head);
      assert.equal(g.ram[g.at(r.status)], BLK_S.IOERR, `type ${type} at 0x${addr.toString(16)}`);
    }
  }
  // A header outside memory: no status can be trusted, the chain still comes back.
  const status = g.alloc(1);
  const head = g.chain(0, [{ addr: 0x7777_0000n, len: 16, write: false }, { addr: status, len: 1, write: true }]);
  g.offer(0, head);
  g.kick(0);
  assert.equal((await g.waitUsed(0, 1))[0]!.head, head);
  assert.equal(g.ram[g.at(status)], BLK_S.IOERR);
  // Sectors past the end of the disk.
  const past = g.request(0, BLK_T.IN, BigInt(model.capacity), [{ addr: g.alloc(512), len: 512 }], true);
  g.offer(0, past.head);
  g.kick(0);
  await g.waitUsed(0, 1);
  assert.equal(g.ram[g.at(past.status)], BLK_S.IOERR);
  await stillServes(g);
  assert.equal(model.inFlight, 0);
});

test('mvblk hostile: a descriptor loop and 64k-descriptor chains fail without hanging', async (t) => {
  const h = await startBlk(t);
  const { uuid, model } = await h.create();
  const g = await h.guest(uuid);
  const q = g.queues[0]!;
  const hdr = g.alloc(16);
  g.ram.writeUInt32LE(BLK_T.IN, g.at(hdr));
  const status = g.alloc(1);

  // 0 → 1 → 0: header, status, and back to the header.
  g.writeDesc(q.desc, 0, hdr, 16, DESC.NEXT, 1);
  g.writeDesc(q.desc, 1, status, 1, DESC.WRITE | DESC.NEXT, 0);
  q.nextDesc = 2;
  g.ram[g.at(status)] = 0xff;
  g.offer(0, 0);
  g.kick(0);
  const [loop] = await g.waitUsed(0, 1);
  assert.deepEqual(loop, { head: 0, len: 0 }, 'the looping chain is returned with nothing written');
  assert.equal(g.ram[g.at(status)], BLK_S.IOERR, 'its status byte says IOERR');

  // Every descriptor of the table chained in a circle: 256 + 1 visits is a loop.
  for (let i = 0; i < q.size; i++) g.writeDesc(q.desc, i, hdr, 16, DESC.NEXT, (i + 1) % q.size);
  g.offer(0, 5);
  g.kick(0);
  assert.deepEqual((await g.waitUsed(0, 1))[0], { head: 5, len: 0 });

  // An indirect table claiming 65536 descriptors (1 MiB of them), and one of 65535 + 1 that loops inside.
  const table = g.alloc(65536 * 16);
  g.writeDesc(q.desc, 0, table, 65536 * 16, DESC.INDIRECT, 0);
  g.offer(0, 0);
  g.kick(0);
  assert.deepEqual((await g.waitUsed(0, 1))[0], { head: 0, len: 0 }, 'a 64k-entry indirect table is refused');
  for (let i = 0; i < 1024; i++) g.writeDesc(table, i, hdr, 16, DESC.NEXT, (i + 1) % 1024);
  g.writeDesc(q.desc, 0, table, 1024 * 16, DESC.INDIRECT, 0);
  g.offer(0, 0);
  g.kick(0);
  assert.deepEqual((await g.waitUsed(0, 1))[0], { head: 0, len: 0 }, 'a loop inside an indirect table');
  // A nested indirect table, and an index past the table.
  g.writeDesc(table, 0, table, 16, DESC.INDIRECT, 0);
  g.writeDesc(q.desc, 0, table, 16, DESC.INDIRECT, 0);
  g.offer(0, 0);
  g.offer(0, 4000);
  g.kick(0);
  const two = await g.waitUsed(0, 2);
  assert.deepEqual(two.map((c) => c.len), [0, 0]);
  q.nextDesc = 10;
  await stillServes(g);
  assert.equal(model.inFlight, 0);
});

test('mvblk hostile: an available index far ahead stops the queue with NEEDS_RESET until a reset', async (t) => {
  const h = await startBlk(t);
  const { uuid } = await h.create();
  const g = await h.guest(uuid);
  const q = g.queues[0]!;
  g.ram.writeUInt16LE((q.availIdx + 1000) & 0xffff, g.at(q.avail) + 2);
  g.kick(0);
  for (let i = 0; i < 200 && !((await g.readCommon(COMMON.STATUS, 1)) & 0x40); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok((await g.readCommon(COMMON.STATUS, 1)) & 0x40, 'NEEDS_RESET is set');
  await g.status(0);
  assert.equal(await g.readCommon(COMMON.STATUS, 1), 0, 'a reset clears it');
});

test('mvblk: DMA_UNMAP of memory a request is using answers only after that request ended, and it failed', async (t) => {
  const h = await startBlk(t);
  const { uuid, model } = await h.create();
  const g = await h.guest(uuid);
  const c = g.client;
  const buf = Buffer.alloc(MSG_BYTES, 0x5a);
  const held = gate();
  const unserve = c.serveDma(MSG_BASE, buf, (cmd) => held.wait(cmd));
  await c.dmaMap({ iova: MSG_BASE, size: BigInt(MSG_BYTES) });
  // A third window nothing uses: its unmap is answered at once even while the request waits.
  const idle = Buffer.alloc(4096);
  c.serveDma(MSG_BASE + 0x1000_0000n, idle);
  await c.dmaMap({ iova: MSG_BASE + 0x1000_0000n, size: 4096n });

  // A read whose data goes to the message window: the device's DMA_WRITE is held by the client.
  const r = g.request(0, BLK_T.IN, 0n, [{ addr: MSG_BASE, len: 8192 }], true);
  g.offer(0, r.head);
  g.kick(0);
  await held.reached;
  assert.deepEqual(held.held, [Command.DMA_WRITE]);
  assert.equal(model.inFlight, 1);
  await c.dmaUnmap({ iova: MSG_BASE + 0x1000_0000n, size: 4096n });
  assert.deepEqual(g.takeUsed(0), [], 'an unrelated unmap did not wait for the request, nor end it');

  const unmapped = c.dmaUnmap({ iova: MSG_BASE, size: BigInt(MSG_BYTES) }).then(() => g.takeUsed(0));
  const used = await unmapped;
  assert.equal(used.length, 1, 'the request was completed before the unmap was answered');
  assert.equal(used[0]!.head, r.head);
  assert.equal(g.ram[g.at(r.status)], BLK_S.IOERR, 'and it failed: its buffer went away under it');
  // The client forgets the window as it unmapped it; the held access is then refused, and no other came.
  unserve();
  held.open();
  await new Promise((res) => setTimeout(res, 20));
  assert.deepEqual(held.held, [Command.DMA_WRITE], 'no DMA reached the window after it was unmapped');
  assert.ok(buf.every((b) => b === 0x5a), 'and its memory is untouched');
  assert.equal(model.inFlight, 0);
  await stillServes(g);
});

test('mvblk: a reset with a request in flight waits for it; status reads 0 after, and the device works again', async (t) => {
  const h = await startBlk(t);
  const { uuid, model } = await h.create();
  const g = await h.guest(uuid);
  const c = g.client;
  const buf = Buffer.alloc(MSG_BYTES);
  const held = gate();
  c.serveDma(MSG_BASE, buf, (cmd) => held.wait(cmd));
  await c.dmaMap({ iova: MSG_BASE, size: BigInt(MSG_BYTES) });
  const data = randomBytes(4096);
  data.copy(buf);
  const r = g.request(0, BLK_T.OUT, 100n, [{ addr: MSG_BASE, len: 4096 }], false);
  g.offer(0, r.head);
  g.kick(0);
  await held.reached;

  let resetDone = false;
  const reset = g.status(0).then(() => (resetDone = true));
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(resetDone, false, 'the reset waits for the request in flight');
  assert.equal(model.inFlight, 1);
  held.open();
  await reset;
  assert.equal(model.inFlight, 0, 'drained');
  assert.equal(await g.readCommon(COMMON.STATUS, 1), 0, 'status reads 0 once the reset is done');
  assert.equal(g.ram[g.at(r.status)], BLK_S.OK, 'the request completed before the reset took effect');

  // The VFIO reset drains the same way; then a fresh driver setup serves again.
  await c.reset();
  g.close();
  await c.close();
  const again = await h.guest(uuid);
  const back = await again.read(100n, 4096);
  assert.ok(back.data.equals(data), 'the write made before the reset is on the disk');
});
