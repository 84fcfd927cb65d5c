import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Core } from '../../src/core/core.js';
import { err } from '../../src/errors.js';
import type { BusDriver, MdevDevice } from '../../src/core/types.js';
import { expectErrno, kinds, randomUUID, recordEvents, sleep, snapshot, spec } from './helpers.js';

test('create: fields, lookups in any case, add event, instance naming', async () => {
  const core = new Core();
  const events = recordEvents(core);
  core.registerParent(spec('p'));
  const u = randomUUID();
  const d = await core.create('p', 'test-1', `${u.toUpperCase()}\n`);
  assert.equal(d.uuid, u);
  assert.equal(d.name, u);
  assert.equal(d.state, 'active');
  assert.equal(d.type.id, 'test-1');
  assert.equal(d.parent.name, 'p');
  assert.equal(d.online, true, 'no start/stop: online from creation');
  assert.equal(d.iommuGroup, 0);
  assert.deepEqual(d.driverData, { uuid: u, started: 0 });
  assert.equal(core.device(u.toUpperCase()), d);
  assert.equal(core.deviceByName(u), d);
  assert.equal(core.deviceByGroup(0), d);
  assert.deepEqual(core.devices({ parent: 'p' }), [d]);
  assert.deepEqual(core.devices({ type: d.type }), [d]);
  assert.deepEqual(core.devices({ type: core.type('p', 'test-2')! }), []);
  const e = events.find((x) => x.kind === 'add')!;
  assert.deepEqual([e.parent, e.uuid, e.type], ['p', u, 'test-1']);

  const v = randomUUID();
  const d6 = await core.create('p', 'test-2', v, { instance: 2, params: 'a=1' });
  assert.equal(d6.name, `${v}-2`);
  assert.equal(d6.instance, 2);
  assert.equal(d6.params, 'a=1');
  assert.equal(core.deviceByName(`${v}-2`), d6);
  assert.equal(core.deviceByName(v), undefined);
  assert.equal(d6.iommuGroup, 1);
});

test('create argument errors: EINVAL uuid/type/instance, ENODEV parent, EEXIST across parents and states', async () => {
  const core = new Core();
  core.registerParent(spec('a'));
  let release: () => void = () => {};
  core.registerParent(
    spec('b', {}, {
      create: async (d) => {
        await new Promise<void>((r) => (release = r));
        return { uuid: d.uuid, started: 0 };
      },
    }),
  );
  await expectErrno(core.create('a', 'test-1', 'nope'), 'EINVAL');
  await expectErrno(core.create('a', 'test-9', randomUUID()), 'EINVAL', /no type/);
  await expectErrno(core.create('a', 'test-1', randomUUID(), { instance: -1 }), 'EINVAL');
  await expectErrno(core.create('a', 'test-1', randomUUID(), { instance: 1.5 }), 'EINVAL');
  await expectErrno(core.create('zz', 'test-1', randomUUID()), 'ENODEV');
  const u = randomUUID();
  await core.create('a', 'test-1', u);
  await expectErrno(core.create('b', 'test-1', u.toUpperCase()), 'EEXIST');
  // A UUID still creating is taken too.
  const v = randomUUID();
  const pending = core.create('b', 'test-1', v);
  await expectErrno(core.create('a', 'test-1', v), 'EEXIST');
  assert.equal(core.device(v), undefined, 'not visible while creating');
  await expectErrno(core.remove(v), 'EAGAIN');
  await expectErrno(() => core.open(v), 'ENODEV');
  release();
  await pending;
});

test('two concurrent creates of one UUID: exactly one wins, the other gets EEXIST', async () => {
  const core = new Core();
  core.registerParent(spec('p', {}, { create: async (d) => (await sleep(2), { uuid: d.uuid, started: 0 }) }));
  const u = randomUUID();
  const results = await Promise.allSettled([core.create('p', 'test-1', u), core.create('p', 'test-2', u)]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  assert.equal(lost.reason.errno, 'EEXIST');
  assert.equal(core.devices().length, 1);
});

test('1000 concurrent creates on a 24-instance pool: exactly 24 succeed, the rest EUSERS', async () => {
  const core = new Core();
  const p = core.registerParent(
    spec('p', { maxInstances: 24 }, { create: async (d) => (await sleep(Math.random() * 5), { uuid: d.uuid, started: 0 }) }),
  );
  const results = await Promise.allSettled(Array.from({ length: 1000 }, (_, i) => core.create('p', i % 2 ? 'test-1' : 'test-2', randomUUID())));
  const ok = results.filter((r) => r.status === 'fulfilled');
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  assert.equal(ok.length, 24);
  assert.ok(failed.every((r) => r.reason.errno === 'EUSERS'));
  assert.equal(core.availableInstances(p.types[0]!), 0);
  assert.equal(new Set(core.devices().map((d) => d.iommuGroup)).size, 24);
  await Promise.all(core.devices().map((d) => core.remove(d.uuid)));
  assert.equal(core.availableInstances(p.types[0]!), 24);
  assert.equal(core.nextGroup(), 0);
});

test('1000 concurrent creates against a vendor pool: exactly its size succeed, the rest get its ENOSPC', async () => {
  const core = new Core();
  let free = 24;
  core.registerParent(
    spec('p', { maxInstances: undefined }, {
      getAvailable: () => free,
      create: async (d) => {
        await sleep(Math.random() * 5);
        if (free === 0) throw err('ENOSPC', 'no ports left');
        free--;
        return { uuid: d.uuid, started: 0 };
      },
    }),
  );
  const results = await Promise.allSettled(Array.from({ length: 1000 }, () => core.create('p', 'test-1', randomUUID())));
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 24);
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  assert.ok(failed.every((r) => r.reason.errno === 'ENOSPC'));
  assert.equal(core.devices().length, 24);
});

/** A bus driver whose probe can be told to fail, synchronously or not. */
function driver(name: string, fail: { sync?: boolean; async?: boolean } = {}): BusDriver & { bound: string[] } {
  const bound: string[] = [];
  return {
    name,
    bound,
    match: () => true,
    probe: (d: MdevDevice) => {
      if (fail.sync) throw err('EIO', 'probe failed');
      if (fail.async) return sleep(1).then(() => Promise.reject(err('ENOMEM', 'probe failed later')));
      bound.push(d.uuid);
    },
    remove: (d: MdevDevice) => {
      bound.splice(bound.indexOf(d.uuid), 1);
    },
  };
}

test('a failure at each create step rolls back exactly: state, pool, groups, events', async () => {
  const cases: [string, (core: Core) => Promise<void> | void, string, Partial<Parameters<typeof spec>[2]>][] = [
    ['vendor create throws', () => {}, 'EIO', { create: () => { throw err('EIO', 'vendor says no'); } }],
    ['vendor create rejects', () => {}, 'ENOSPC', { create: async () => { await sleep(1); throw err('ENOSPC', 'full'); } }],
    ['probe throws', (c) => c.registerDriver(driver('d', { sync: true })), 'EIO', {}],
    ['probe rejects', (c) => c.registerDriver(driver('d', { async: true })), 'ENOMEM', {}],
  ];
  for (const [why, setup, errno, ops] of cases) {
    const core = new Core();
    const vendorRemoved: string[] = [];
    core.registerParent(spec('p', { maxInstances: 4 }, { remove: (d) => void vendorRemoved.push(d.uuid), ...ops }));
    // Leave a hole in the group ids (0 free, 1 held) so the rollback has to give the right one back.
    const first = await core.create('p', 'test-1', randomUUID(), { instance: 0 }).catch(() => undefined);
    const second = await core.create('p', 'test-1', randomUUID()).catch(() => undefined);
    if (first !== undefined && second !== undefined) await core.remove(first.uuid);
    vendorRemoved.length = 0;
    await setup(core);
    const before = snapshot(core);
    const events = recordEvents(core);
    const u = randomUUID();
    await expectErrno(core.create('p', 'test-1', u), errno as 'EIO').catch((e: Error) => {
      throw new Error(`${why}: ${e.message}`);
    });
    assert.deepEqual(snapshot(core), before, why);
    assert.deepEqual(kinds(events), [], `${why}: no events but warnings`);
    assert.equal(vendorRemoved.includes(u), why.startsWith('probe'), `${why}: vendor remove runs only if vendor create did`);
    // The UUID is free again.
    assert.equal(core.device(u), undefined);
    await expectErrno(core.create('p', 'test-1', u), errno as 'EIO');
  }
});

test('a failing undo step is reported as a warning and the original error is rethrown', async () => {
  const core = new Core();
  const events = recordEvents(core);
  core.registerParent(spec('p', {}, { remove: () => { throw new Error('vendor remove broke'); } }));
  await core.registerDriver(driver('d', { sync: true }));
  await expectErrno(core.create('p', 'test-1', randomUUID()), 'EIO', /probe failed/);
  const w = events.filter((e) => e.kind === 'warning');
  assert.equal(w.length, 1);
  assert.match(w[0]!.message!, /vendor remove broke/);
  assert.equal(core.devices().length, 0);
});

test('handles: open needs an active device, release is idempotent, openCount is live', async () => {
  const core = new Core();
  core.registerParent(spec('p'));
  await expectErrno(() => core.open(randomUUID()), 'ENODEV');
  const d = await core.create('p', 'test-1', randomUUID());
  const h1 = core.open(d.uuid);
  const h2 = core.open(d.uuid.toUpperCase());
  assert.equal(h1.device, d);
  assert.equal(d.openCount, 2);
  h1.release();
  h1.release();
  assert.equal(h1.released, true);
  assert.equal(d.openCount, 1);
  h2.release();
  assert.equal(d.openCount, 0);
});

test('remove: ENODEV unknown, vendor veto EBUSY changes nothing, force skips the veto', async () => {
  const core = new Core();
  let vetoes = 0;
  core.registerParent(spec('p', {}, { requestRemove: async () => { vetoes++; await sleep(1); throw err('EBUSY', 'in use by a VM'); } }));
  await expectErrno(core.remove(randomUUID()), 'ENODEV');
  const d = await core.create('p', 'test-1', randomUUID());
  const before = snapshot(core);
  const events = recordEvents(core);
  const pending = core.remove(d.uuid);
  assert.equal(core.device(d.uuid), d, 'still visible while the vendor decides');
  await expectErrno(core.remove(d.uuid), 'EAGAIN');
  await expectErrno(pending, 'EBUSY');
  assert.deepEqual(snapshot(core), before);
  assert.deepEqual(kinds(events), []);
  await core.remove(d.uuid, { force: true });
  assert.equal(vetoes, 1);
  assert.equal(core.device(d.uuid), undefined);
  assert.deepEqual(kinds(events), [`remove:${d.uuid}`]);
});

test('non-forced remove waits for the last handle, warning meanwhile; the device is invisible at once', async () => {
  const core = new Core({ waitWarningMs: 10 });
  const events = recordEvents(core);
  const order: string[] = [];
  core.registerParent(spec('p', {}, { remove: () => void order.push('vendor remove') }));
  const d = await core.create('p', 'test-1', randomUUID());
  const h = core.open(d.uuid);
  const removal = core.remove(d.uuid).then(() => order.push('removed'));
  assert.equal(d.state, 'removing');
  assert.equal(core.device(d.uuid), undefined);
  await expectErrno(() => core.open(d.uuid), 'ENODEV');
  await expectErrno(core.remove(d.uuid), 'EAGAIN');
  await expectErrno(core.create('p', 'test-1', d.uuid), 'EEXIST');
  await sleep(50);
  order.push('release');
  h.release();
  await removal;
  assert.deepEqual(order, ['release', 'vendor remove', 'removed']);
  const warnings = events.filter((e) => e.kind === 'warning');
  assert.ok(warnings.length >= 2, `expected periodic warnings, got ${warnings.length}`);
  assert.match(warnings[0]!.message!, /blocked until all are released/);
});

test('forced remove revokes every handle and proceeds', async () => {
  const core = new Core({ waitWarningMs: 10 });
  core.registerParent(spec('p'));
  const d = await core.create('p', 'test-1', randomUUID());
  const h1 = core.open(d.uuid);
  const h2 = core.open(d.uuid);
  const told: string[] = [];
  h1.onRevoke((reason) => told.push(`h1 ${reason}`));
  const off = h2.onRevoke(() => told.push('h2'));
  off();
  await core.remove(d.uuid, { force: true });
  assert.equal(told.length, 1);
  assert.match(told[0]!, /^h1 .*removed/);
  assert.equal(h1.released, true);
  assert.equal(h2.released, true);
  assert.equal(d.openCount, 0);
  assert.equal(core.devices().length, 0);
});

test('removal order: driver unbound, handles, vendor stop, group detached, vendor remove, then remove event', async () => {
  const core = new Core();
  const order: string[] = [];
  core.registerParent(
    spec('p', {}, {
      start: () => void order.push('start'),
      stop: () => void order.push('stop'),
      remove: (d) => void order.push(`vendor remove group=${String(d.iommuGroup)}`),
    }),
  );
  await core.registerDriver({ name: 'd', match: () => true, probe: () => {}, remove: () => void order.push('driver remove') });
  core.subscribe(() => order.push('event'), ['remove']);
  const d = await core.create('p', 'test-1', randomUUID());
  await core.setOnline(d.uuid, true);
  const h = core.open(d.uuid);
  h.onRevoke(() => order.push('revoke'));
  await core.remove(d.uuid, { force: true });
  assert.deepEqual(order, ['start', 'driver remove', 'revoke', 'stop', 'vendor remove group=undefined', 'event']);
});

test('after removal every lookup misses, listings shrink, and the group id is reused only once free', async () => {
  const core = new Core();
  core.registerParent(spec('p'));
  core.registerParent(spec('q'));
  const a = await core.create('p', 'test-1', randomUUID(), { instance: 3 });
  const b = await core.create('p', 'test-2', randomUUID());
  const c = await core.create('q', 'test-1', randomUUID());
  assert.deepEqual(core.devices({ parent: 'p' }).map((d) => d.uuid).sort(), [a.uuid, b.uuid].sort());
  assert.deepEqual(core.devices({ parent: 'q', type: core.type('p', 'test-1')! }), []);
  assert.equal(core.devices().length, 3);
  const group = a.iommuGroup!;
  await core.remove(a.uuid);
  assert.equal(core.device(a.uuid), undefined);
  assert.equal(core.deviceByName(a.name), undefined);
  assert.equal(core.deviceByGroup(group), undefined);
  assert.equal(a.iommuGroup, undefined);
  assert.equal(a.state, 'removing', 'a removed record stays a removed view, never active again');
  assert.deepEqual(core.devices({ parent: 'p' }), [b]);
  assert.deepEqual(core.devices({ parent: 'nope' }), []);
  const d = await core.create('q', 'test-2', randomUUID());
  assert.equal(d.iommuGroup, group, 'the lowest free id');
  assert.notEqual(d.iommuGroup, b.iommuGroup);
  assert.notEqual(d.iommuGroup, c.iommuGroup);
  assert.equal(core.deviceByGroup(-1), undefined);
  assert.equal(core.deviceByGroup(1.5), undefined);
});

test('non-forced remove of a device still open after releaseTimeoutMs fails EBUSY and leaves the device as it was', async () => {
  const core = new Core({ waitWarningMs: 10, releaseTimeoutMs: 60 });
  const unbound: string[] = [];
  core.registerParent(spec('p'));
  await core.registerDriver({ name: 'd', match: () => true, probe: () => {}, remove: (dev) => void unbound.push(dev.uuid) });
  const d = await core.create('p', 'test-1', randomUUID());
  const h = core.open(d.uuid);
  const asked: number[] = [];
  h.onRequest((n) => asked.push(n));
  const removal = core.remove(d.uuid);
  assert.deepEqual(asked, [0], 'the holder is asked to release at once');
  assert.equal(core.device(d.uuid), undefined, 'invisible while waiting');
  await sleep(20);
  assert.deepEqual(unbound, [], 'the bus driver keeps serving the holder while the removal waits');
  await expectErrno(removal, 'EBUSY');
  assert.ok(asked.length >= 3 && asked.every((n, i) => n === i), `asked again every wait interval: ${asked.join(',')}`);
  assert.equal(d.state, 'active');
  assert.equal(core.device(d.uuid)?.uuid, d.uuid, 'visible again');
  assert.equal(d.driver, 'd', 'still bound');
  assert.equal(h.released, false);
  core.open(d.uuid).release();
  // Released in time: the second removal goes through.
  const again = core.remove(d.uuid);
  await sleep(20);
  h.release();
  await again;
  assert.equal(core.device(d.uuid), undefined);
  assert.deepEqual(unbound, [d.uuid]);
});
