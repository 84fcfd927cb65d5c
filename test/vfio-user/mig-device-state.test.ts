import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VFIO_DEVICE_FEATURE as V, VFIO_DEVICE_STATE as S, VFIO_MIGRATION as M } from '../../src/vfio/constants.js';
import { decodeVersion, encodeArgszPair, encodeVersion } from '../../src/vfio-user/codec.js';
import { Command, FeatureFlags as F } from '../../src/vfio-user/constants.js';
import type { VfioUserClient } from '../../src/vfio-user/client.js';
import { BAR0, BAR0_SIZE, expectErrno, startServer } from './fixtures.js';
import { vfioOf } from '../../src/vfio/pci-device.js';

const NAMES = ['ERROR', 'STOP', 'RUNNING', 'STOP_COPY', 'RESUMING', 'RUNNING_P2P', 'PRE_COPY', 'PRE_COPY_P2P'];
const SUPPORTED = [S.STOP, S.RUNNING, S.STOP_COPY, S.RESUMING, S.PRE_COPY];

/** Bring the device to `state` from RUNNING (after a reset); a way out of RESUMING needs a stream to load. */
async function reach(c: VfioUserClient, state: number): Promise<void> {
  await c.reset();
  assert.equal(await c.migrationState(), S.RUNNING, 'reset brings RUNNING');
  if (state !== S.RUNNING) assert.equal(await c.setMigrationState(state), state);
  if (state === S.RESUMING) await c.migrationWrite(Buffer.alloc(BAR0_SIZE, 0x11));
}

test('VERSION announces migration {pgsize, max_bitmap_size} for a device that migrates, and not for one that does not', async (t) => {
  for (const migratable of [true, false]) {
    const h = await startServer(t, { migratable });
    const c = await h.connect({ negotiate: false });
    const r = await c.request(Command.VERSION, encodeVersion({ major: 0, minor: 2, json: { capabilities: {} } }));
    const caps = (decodeVersion(r.body).json as { capabilities: Record<string, unknown> }).capabilities;
    if (migratable) assert.deepEqual(caps.migration, { pgsize: 4096, max_bitmap_size: 1 << 20 });
    else assert.equal(caps.migration, undefined);
  }
});

test('DEVICE_FEATURE MIGRATION: GET gives STOP_COPY|PRE_COPY; SET, short argsz and bad PROBEs are EINVAL', async (t) => {
  const h = await startServer(t, { migratable: true });
  const c = await h.connect();
  assert.equal(await c.migrationFlags(), M.STOP_COPY | M.PRE_COPY);
  const raw = (argsz: number, flags: number, data = Buffer.alloc(0)) => c.request(Command.DEVICE_FEATURE, encodeArgszPair({ argsz, word: flags, data }));
  await expectErrno(raw(8, F.GET | V.MIGRATION), 'EINVAL'); // no room for the u64
  await expectErrno(raw(16, F.SET | V.MIGRATION, Buffer.alloc(8)), 'EINVAL'); // GET only
  await expectErrno(raw(16, F.PROBE | F.SET | V.MIGRATION), 'EINVAL');
  assert.equal((await raw(8, F.PROBE | F.GET | V.MIGRATION)).body.readUInt32LE(4), F.PROBE | F.GET | V.MIGRATION, 'PROBE echoes');
  await raw(8, F.PROBE | F.GET | F.SET | V.MIG_DEVICE_STATE);
  await raw(8, F.PROBE | F.SET | V.DMA_LOGGING_START);
  await expectErrno(raw(8, F.PROBE | F.GET | V.DMA_LOGGING_START), 'EINVAL');
  await expectErrno(raw(16, F.GET | 3), 'EOPNOTSUPP'); // LOW_POWER_ENTRY
  assert.equal(await c.migrationState(), S.RUNNING);
});

test('MIG_DEVICE_STATE: every arc between supported states, multi-step paths and same-state requests', async (t) => {
  const h = await startServer(t, { migratable: true });
  const c = await h.connect();
  for (const from of SUPPORTED) {
    for (const to of SUPPORTED) {
      await reach(c, from);
      const what = `${NAMES[from]} → ${NAMES[to]}`;
      if (from === S.STOP_COPY && to === S.PRE_COPY) {
        // The kernel's table leads STOP_COPY → PRE_COPY through ERROR: refused, nothing changes.
        await expectErrno(c.setMigrationState(to), 'EINVAL');
        assert.equal(await c.migrationState(), from, what);
        continue;
      }
      assert.equal(await c.setMigrationState(to), to, what);
      assert.equal(await c.migrationState(), to, what);
    }
  }
});

test('MIG_DEVICE_STATE: P2P states, ERROR, unknown states and malformed requests are EINVAL with the state unchanged', async (t) => {
  const h = await startServer(t, { migratable: true });
  const c = await h.connect();
  await c.setMigrationState(S.PRE_COPY);
  for (const bad of [S.ERROR, S.RUNNING_P2P, S.PRE_COPY_P2P, 8, 0xffffffff]) await expectErrno(c.setMigrationState(bad), 'EINVAL');
  const raw = (argsz: number, flags: number, data: Buffer) => c.request(Command.DEVICE_FEATURE, encodeArgszPair({ argsz, word: flags, data }));
  const stop = Buffer.from([S.STOP, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
  await expectErrno(raw(12, F.SET | V.MIG_DEVICE_STATE, stop), 'EINVAL'); // argsz below 16
  await expectErrno(raw(16, F.SET | V.MIG_DEVICE_STATE, stop.subarray(0, 4)), 'EINVAL'); // short data
  await expectErrno(raw(16, F.GET | F.SET | V.MIG_DEVICE_STATE, stop), 'EINVAL'); // GET and SET without PROBE
  await expectErrno(raw(16, F.SET | V.MIG_DEVICE_STATE | 1 << 19, stop), 'EINVAL'); // unknown flag bit
  await expectErrno(raw(8, F.GET | V.MIG_DEVICE_STATE, Buffer.alloc(0)), 'EINVAL'); // GET with no room
  assert.equal(await c.migrationState(), S.PRE_COPY, 'nothing changed');
  const r = await raw(16, F.SET | V.MIG_DEVICE_STATE, stop);
  assert.equal(r.body.readUInt32LE(0), 16, 'reply argsz');
  assert.equal(r.body.readUInt32LE(8), S.STOP);
  assert.equal(r.body.readInt32LE(12), -1, 'data_fd is -1: data moves with MIG_DATA_*');
});

test('MIG_DEVICE_STATE: a failed arc lands in ERROR, from which only DEVICE_RESET leads out', async (t) => {
  const h = await startServer(t, { migratable: true });
  const c = await h.connect();
  await c.setMigrationState(S.RESUMING);
  await c.migrationWrite(Buffer.alloc(BAR0_SIZE - 1)); // one byte short of a snapshot
  await expectErrno(c.setMigrationState(S.RUNNING), 'EINVAL');
  assert.equal(await c.migrationState(), S.ERROR);
  for (const s of SUPPORTED) await expectErrno(c.setMigrationState(s), 'EINVAL');
  assert.equal(await c.migrationState(), S.ERROR);
  await c.reset();
  assert.equal(await c.migrationState(), S.RUNNING);
  assert.equal((await c.read(BAR0, 0, 4)).readUInt32LE(0), 0, 'the bad stream was not loaded');
});

test('MIG_DEVICE_STATE: while umdevd holds the migration the client is refused with EBUSY; a reset takes it back', async (t) => {
  const h = await startServer(t, { migratable: true });
  const c = await h.connect();
  const m = vfioOf(h.device).migration!;
  const claim = m.claim('umdevd');
  await claim.setState(S.PRE_COPY);
  await expectErrno(c.setMigrationState(S.RUNNING), 'EBUSY');
  assert.equal(await c.migrationState(), S.PRE_COPY);
  await c.reset();
  assert.equal(m.owner, undefined);
  await assert.rejects(claim.setState(S.STOP_COPY), (e: unknown) => (e as { errno?: string }).errno === 'EBUSY');
  assert.equal(await c.setMigrationState(S.STOP), S.STOP);
});
