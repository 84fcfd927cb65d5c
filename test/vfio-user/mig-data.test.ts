import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../../src/native/index.js';
import { VFIO_DEVICE_STATE as S } from '../../src/vfio/constants.js';
import { encodeArgszPair } from '../../src/vfio-user/codec.js';
import { Command, IrqSetFlags as F } from '../../src/vfio-user/constants.js';
import { BAR0, BAR0_SIZE, MSI, Reg, doorbell, expectErrno, startServer } from './fixtures.js';

const read = (argsz: number, size: number, extra = Buffer.alloc(0)) => encodeArgszPair({ argsz, word: size, data: extra });

test('MIG_DATA_READ/WRITE on a device without migration: malformed is EINVAL, well-formed EOPNOTSUPP, connection stays', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  await expectErrno(c.request(Command.MIG_DATA_READ, Buffer.alloc(4)), 'EINVAL');
  await expectErrno(c.request(Command.MIG_DATA_READ, read(4, 16)), 'EINVAL');
  await expectErrno(c.request(Command.MIG_DATA_READ, read(24, 16)), 'EOPNOTSUPP');
  await expectErrno(c.request(Command.MIG_DATA_WRITE, encodeArgszPair({ argsz: 8, word: 16, data: Buffer.alloc(8) })), 'EINVAL');
  await expectErrno(c.request(Command.MIG_DATA_WRITE, encodeArgszPair({ argsz: 16, word: 8, data: Buffer.alloc(8) })), 'EOPNOTSUPP');
  assert.equal((await c.irqInfo(1)).count, 2);
});

test('MIG_DATA_READ: only in PRE_COPY and STOP_COPY; short read then 0 ends the stream; bad argsz and sizes are EINVAL', async (t) => {
  const h = await startServer(t, { migratable: true });
  const c = await h.connect();
  for (const s of [S.RUNNING, S.STOP]) {
    if (s !== S.RUNNING) await c.setMigrationState(s);
    await expectErrno(c.migrationRead(16), 'EINVAL');
  }
  await c.reset(); // the fixture's reset clears BAR0
  await c.write(BAR0, Reg.SCRATCH, Buffer.from([1, 2, 3, 4]));
  await c.setMigrationState(S.PRE_COPY);
  await expectErrno(c.request(Command.MIG_DATA_READ, read(8 + 15, 16)), 'EINVAL'); // argsz does not cover size
  await expectErrno(c.request(Command.MIG_DATA_READ, read(8 + (2 << 20), 2 << 20)), 'EINVAL'); // past max_data_xfer_size
  await expectErrno(c.request(Command.MIG_DATA_READ, read(24, 16, Buffer.alloc(4))), 'EINVAL'); // trailing bytes
  const pre = Buffer.concat([await c.migrationRead(100), await c.migrationRead(100)]);
  const tail = await c.migrationRead(100);
  assert.equal(tail.length, BAR0_SIZE - 200, 'a short read');
  assert.equal((await c.migrationRead(100)).length, 0, 'then 0');
  assert.equal((await c.migrationRead(100)).length, 0, 'and 0 again: reads past the end');
  // The guest still runs in PRE_COPY; what it changes is in the STOP_COPY part.
  await c.write(BAR0, Reg.SCRATCH, Buffer.from([9]));
  await c.setMigrationState(S.STOP_COPY);
  const stop = await c.migrationRead(4096);
  assert.equal(stop.length, BAR0_SIZE);
  assert.deepEqual([...Buffer.concat([pre, tail]).subarray(0, 4)], [1, 2, 3, 4]);
  assert.deepEqual([...stop.subarray(0, 4)], [9, 2, 3, 4]);
  assert.equal((await c.migrationRead(4096)).length, 0);
  await c.setMigrationState(S.STOP);
  await expectErrno(c.migrationRead(16), 'EINVAL');
});

test('MIG_DATA_WRITE: only in RESUMING, exact size, argsz covering it; the stream loads on the way out', async (t) => {
  const h = await startServer(t, { migratable: true });
  const c = await h.connect();
  const snapshot = Buffer.alloc(BAR0_SIZE, 0).fill(0x5a, 0, 4);
  for (const s of [S.RUNNING, S.PRE_COPY, S.STOP_COPY, S.STOP]) {
    await c.reset();
    if (s !== S.RUNNING) await c.setMigrationState(s);
    await expectErrno(c.migrationWrite(snapshot), 'EINVAL');
  }
  await c.setMigrationState(S.RESUMING);
  await expectErrno(c.request(Command.MIG_DATA_WRITE, encodeArgszPair({ argsz: 8 + 16, word: 16, data: Buffer.alloc(15) })), 'EINVAL'); // size ≠ data
  await expectErrno(c.request(Command.MIG_DATA_WRITE, encodeArgszPair({ argsz: 8 + 15, word: 16, data: Buffer.alloc(16) })), 'EINVAL'); // argsz short
  // In chunks, with PRE_COPY's snapshot first: the last complete one wins.
  await c.migrationWrite(Buffer.alloc(BAR0_SIZE, 0x11));
  for (let i = 0; i < BAR0_SIZE; i += 100) await c.migrationWrite(snapshot.subarray(i, i + 100));
  assert.equal((await c.read(BAR0, Reg.SCRATCH, 4)).readUInt32LE(0), 0, 'nothing loaded while RESUMING');
  assert.equal(await c.setMigrationState(S.RUNNING), S.RUNNING);
  assert.equal((await c.read(BAR0, Reg.SCRATCH, 4)).readUInt32LE(0), 0x5a5a5a5a);
});

test('STOP: no interrupt and no DMA; STOP_COPY refuses DMA_MAP and SET_IRQS; a reset during migration resumes the device', async (t) => {
  const h = await startServer(t, { migratable: true });
  const c = await h.connect();
  const efd = native.eventfd(0, { nonblock: true });
  t.after(() => native.close(efd));
  await c.setIrqs({ index: MSI, flags: F.DATA_EVENTFD | F.ACTION_TRIGGER, start: 0, count: 1, fds: [efd] });
  const ram = Buffer.alloc(0x1000);
  c.serveDma(0x40000n, ram);
  await c.dmaMap({ iova: 0x40000n, size: 0x1000n });
  await c.setMigrationState(S.STOP);
  await c.write(BAR0, Reg.IRQ, Buffer.from([1, 0, 0, 0]));
  assert.equal(native.eventfdRead(efd), null, 'no MSI while stopped');
  await expectErrno(doorbell(c, 0x40000n, 0x40800n, 16), 'EBUSY');
  await c.setMigrationState(S.STOP_COPY);
  await expectErrno(c.dmaMap({ iova: 0x80000n, size: 0x1000n }), 'EINVAL');
  await expectErrno(c.setIrqs({ index: MSI, flags: F.DATA_NONE | F.ACTION_TRIGGER, start: 0, count: 0 }), 'EINVAL');
  assert.equal((await c.read(BAR0, Reg.IRQ, 4)).readUInt32LE(0), 1, 'region reads still work');
  await c.reset();
  assert.equal(await c.migrationState(), S.RUNNING);
  await expectErrno(c.migrationRead(16), 'EINVAL');
  await c.write(BAR0, Reg.IRQ, Buffer.from([1, 0, 0, 0]));
  assert.equal(native.eventfdRead(efd), 1n, 'MSI delivered again once running');
  await doorbell(c, 0x40000n, 0x40800n, 16);
  assert.equal(ram[0x800], 1, 'DMA works again');
});
