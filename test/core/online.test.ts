import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Core } from '../../src/core/core.js';
import { err } from '../../src/errors.js';
import type { MdevDevice } from '../../src/core/types.js';
import { expectErrno, kinds, randomUUID, recordEvents, sleep, spec, type TestState } from './helpers.js';

/** A parent with per-device start/stop that records calls and can fail on one device. */
function hooked(core: Core, name: string, log: string[], failOn?: () => string | undefined, group = false): void {
  const start = async (d: MdevDevice, s: TestState): Promise<void> => {
    await sleep(1);
    if (failOn?.() === d.uuid) throw err('EIO', `start of ${d.uuid} failed`);
    s.started++;
    log.push(`start ${d.uuid}`);
  };
  const stop = (d: MdevDevice, s: TestState): void => {
    s.started--;
    log.push(`stop ${d.uuid}`);
  };
  core.registerParent(
    spec(name, {}, group
      ? {
          startGroup: async (list) => {
            if (list.some((x) => x.device.uuid === failOn?.())) throw err('EIO', 'group start failed');
            log.push(`startGroup ${list.map((x) => x.device.uuid).join(',')}`);
          },
          stopGroup: (list) => void log.push(`stopGroup ${list.map((x) => x.device.uuid).join(',')}`),
        }
      : { start, stop }),
  );
}

test('without start/stop a device is online from creation and setOnline is EOPNOTSUPP', async () => {
  const core = new Core();
  core.registerParent(spec('p'));
  const d = await core.create('p', 'test-1', randomUUID());
  assert.equal(d.online, true);
  await expectErrno(core.setOnline(d.uuid, false), 'EOPNOTSUPP', /no start\/stop/);
  await expectErrno(core.setOnlineGroup([d.uuid], true), 'EOPNOTSUPP');
  await expectErrno(core.setOnline(randomUUID(), true), 'ENODEV');
});

test('with start/stop a device starts offline; online/offline events; same state again is a no-op', async () => {
  const core = new Core();
  const log: string[] = [];
  hooked(core, 'p', log);
  const events = recordEvents(core);
  const d = await core.create('p', 'test-1', randomUUID());
  assert.equal(core.parent('p')!.hasOnline, true);
  assert.equal(d.online, false);
  await core.setOnline(d.uuid, true);
  await core.setOnline(d.uuid, true);
  assert.equal(d.online, true);
  assert.equal((d.driverData as TestState).started, 1);
  await core.setOnline(d.uuid, false);
  assert.equal(d.online, false);
  assert.deepEqual(log, [`start ${d.uuid}`, `stop ${d.uuid}`]);
  assert.deepEqual(kinds(events), [`add:${d.uuid}`, `online:${d.uuid}`, `offline:${d.uuid}`]);
});

test('setOnlineGroup validates everything first: ENODEV, EINVAL for duplicates, EOPNOTSUPP', async () => {
  const core = new Core();
  const log: string[] = [];
  hooked(core, 'p', log);
  core.registerParent(spec('plain'));
  const a = await core.create('p', 'test-1', randomUUID());
  const b = await core.create('p', 'test-1', randomUUID());
  const c = await core.create('plain', 'test-1', randomUUID());
  await expectErrno(core.setOnlineGroup([a.uuid, randomUUID()], true), 'ENODEV');
  await expectErrno(core.setOnlineGroup([a.uuid, b.uuid, a.uuid.toUpperCase()], true), 'EINVAL', /twice/);
  await expectErrno(core.setOnlineGroup([a.uuid, c.uuid], true), 'EOPNOTSUPP');
  assert.deepEqual(log, []);
});

test('per-device group start is all-or-nothing: a failure stops the ones already started', async () => {
  const core = new Core();
  const log: string[] = [];
  let failing: string | undefined;
  hooked(core, 'p', log, () => failing);
  const events = recordEvents(core);
  const ds = await Promise.all([1, 2, 3].map(() => core.create('p', 'test-1', randomUUID())));
  failing = ds[2]!.uuid;
  await expectErrno(core.setOnlineGroup(ds.map((d) => d.uuid), true), 'EIO', /start of/);
  assert.deepEqual(log, [`start ${ds[0]!.uuid}`, `start ${ds[1]!.uuid}`, `stop ${ds[1]!.uuid}`, `stop ${ds[0]!.uuid}`]);
  assert.ok(ds.every((d) => !d.online && (d.driverData as TestState).started === 0));
  assert.deepEqual(kinds(events).filter((k) => !k.startsWith('add')), []);
  failing = undefined;
  log.length = 0;
  await core.setOnlineGroup(ds.map((d) => d.uuid), true);
  assert.ok(ds.every((d) => d.online));
  assert.equal(events.filter((e) => e.kind === 'online').length, 3);
});

test('group hooks: one vendor call with the list; across parents a later failure undoes the earlier parent', async () => {
  const core = new Core();
  const log: string[] = [];
  let failing: string | undefined;
  hooked(core, 'g', log, () => failing, true);
  hooked(core, 'h', log, () => failing);
  const [a, b] = await Promise.all([core.create('g', 'test-1', randomUUID()), core.create('g', 'test-2', randomUUID())]);
  const c = await core.create('h', 'test-1', randomUUID());
  failing = c.uuid;
  await expectErrno(core.setOnlineGroup([a!.uuid, b!.uuid, c.uuid], true), 'EIO');
  assert.deepEqual(log, [`startGroup ${a!.uuid},${b!.uuid}`, `stopGroup ${a!.uuid},${b!.uuid}`]);
  assert.ok(![a!, b!, c].some((d) => d.online));
  failing = undefined;
  log.length = 0;
  await core.setOnline(a!.uuid, true);
  assert.deepEqual(log, [`startGroup ${a!.uuid}`], 'a single device uses the group hook when it is the only one');
  await core.setOnlineGroup([a!.uuid, b!.uuid], true);
  assert.deepEqual(log, [`startGroup ${a!.uuid}`, `startGroup ${b!.uuid}`], 'devices already online are skipped');
});

test('reset goes to the vendor; ENOTTY without a reset hook; ENODEV for unknown devices', async () => {
  const core = new Core();
  const resets: string[] = [];
  core.registerParent(spec('r', {}, { reset: (d) => void resets.push(d.uuid) }));
  core.registerParent(spec('n'));
  const d = await core.create('r', 'test-1', randomUUID());
  const e = await core.create('n', 'test-1', randomUUID());
  assert.equal(core.parent('r')!.hasReset, true);
  await core.reset(d.uuid);
  assert.deepEqual(resets, [d.uuid]);
  await expectErrno(core.reset(e.uuid), 'ENOTTY');
  await expectErrno(core.reset(randomUUID()), 'ENODEV');
});

test('removal stops an online device after a start in flight finishes', async () => {
  const core = new Core();
  const log: string[] = [];
  hooked(core, 'p', log);
  const d = await core.create('p', 'test-1', randomUUID());
  const starting = core.setOnline(d.uuid, true);
  // Let the start reach the vendor (it then waits 1 ms) before the removal begins.
  await new Promise((r) => setImmediate(r));
  assert.equal(log.length, 0);
  await core.remove(d.uuid);
  await starting;
  assert.deepEqual(log, [`start ${d.uuid}`, `stop ${d.uuid}`]);
  assert.equal((d.driverData as TestState).started, 0);
  await expectErrno(core.setOnline(d.uuid, true), 'ENODEV');
});

test('ordering is per parent: a slow start on one parent holds up neither another parent nor a group over both forever', { timeout: 20_000 }, async () => {
  const core = new Core();
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const log: string[] = [];
  core.registerParent(spec('slow', {}, { start: async () => gate, stop: () => undefined }));
  core.registerParent(spec('fast', {}, { start: () => void log.push('fast start'), stop: () => undefined, reset: () => void log.push('fast reset') }));
  const s = randomUUID();
  const f = randomUUID();
  await core.create('slow', 'test-1', s);
  await core.create('fast', 'test-1', f);
  const slowStart = core.setOnline(s, true).then(() => log.push('slow start'));
  // With one core-wide queue these two would wait for the gate.
  await core.reset(f);
  await core.setOnline(f, true);
  assert.deepEqual(log, ['fast reset', 'fast start']);
  // A group over both parents waits for the slow parent's start, then runs.
  const group = core.setOnlineGroup([s, f], false).then(() => log.push('group stop'));
  await sleep(5);
  assert.deepEqual(log, ['fast reset', 'fast start'], 'the group waits for the slow start');
  open();
  await Promise.all([slowStart, group]);
  assert.deepEqual(log, ['fast reset', 'fast start', 'slow start', 'group stop']);
  assert.equal(core.device(s)?.online, false);
});
