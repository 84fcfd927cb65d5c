import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Core } from '../../src/core/core.js';
import { expectErrno, randomUUID, recordEvents, sleep, spec } from './helpers.js';

test('unregisterParent refuses creates synchronously, removes without the veto, then emits unregistered', async () => {
  const core = new Core();
  const events = recordEvents(core);
  let vetoes = 0;
  // An asynchronous vendor remove keeps the unregistration in progress long enough to observe it.
  core.registerParent(spec('p', {}, { requestRemove: () => { vetoes++; throw new Error('never'); }, remove: () => sleep(2) }));
  const a = await core.create('p', 'test-1', randomUUID());
  const b = await core.create('p', 'test-2', randomUUID());
  const done = core.unregisterParent('p');
  // A second call while the first runs joins it instead of failing.
  const again = core.unregisterParent('p');
  assert.equal(core.parent('p')!.unregistering, true);
  await expectErrno(core.create('p', 'test-1', randomUUID()), 'ENODEV', /unregistered/);
  assert.equal(core.device(a.uuid), undefined, 'devices are invisible at once');
  await Promise.all([done, again]);
  assert.equal(vetoes, 0);
  assert.equal(core.parent('p'), undefined);
  const tail = events.slice(-3).map((e) => `${e.kind}:${e.uuid ?? e.parent}`);
  assert.deepEqual(tail.sort(), [`remove:${a.uuid}`, `remove:${b.uuid}`, 'unregistered:p'].sort());
  assert.equal(events.at(-1)!.kind, 'unregistered');
  await expectErrno(core.remove(a.uuid), 'ENODEV');
});

test('unregisterParent with creates and opens in flight: no leak, no hang, waits for the last handle, warns', async () => {
  const core = new Core({ waitWarningMs: 10 });
  const events = recordEvents(core);
  const vendorAlive = new Set<string>();
  core.registerParent(
    spec('p', { maxInstances: 64 }, {
      create: async (d) => {
        await sleep(Math.random() * 5);
        vendorAlive.add(d.uuid);
        return { uuid: d.uuid, started: 0 };
      },
      remove: async (d) => {
        await sleep(Math.random() * 2);
        vendorAlive.delete(d.uuid);
      },
    }),
  );
  const settled = await Promise.allSettled(Array.from({ length: 10 }, () => core.create('p', 'test-1', randomUUID())));
  assert.ok(settled.every((r) => r.status === 'fulfilled'));
  const handles = core.devices().slice(0, 3).map((d) => core.open(d.uuid));
  // Creates still in their vendor step when the unregister starts.
  const inflight = Array.from({ length: 20 }, () => core.create('p', 'test-2', randomUUID()));
  const order: string[] = [];
  const done = core.unregisterParent('p').then(() => order.push('unregistered'));
  // More opens racing with it: all refused.
  for (const d of core.devices()) await expectErrno(() => core.open(d.uuid), 'ENODEV');
  const results = await Promise.allSettled(inflight);
  assert.ok(results.every((r) => r.status === 'rejected' && r.reason.errno === 'ENODEV'));
  await sleep(60);
  assert.equal(order.length, 0, 'still waiting for handles');
  for (const h of handles) {
    await sleep(5);
    order.push('release');
    h.release();
  }
  await done;
  assert.deepEqual(order, ['release', 'release', 'release', 'unregistered']);
  assert.equal(vendorAlive.size, 0, 'every vendor state was torn down');
  assert.equal(core.devices().length, 0);
  assert.equal(core.parent('p'), undefined);
  assert.equal(core.nextGroup(), 0);
  const warnings = events.filter((e) => e.kind === 'warning' && e.parent === 'p' && e.uuid === undefined);
  assert.ok(warnings.length >= 2, `periodic warnings while blocked (${warnings.length})`);
  assert.match(warnings[0]!.message!, /blocked until all are released/);
  // Every device that was added was removed.
  const added = new Set(events.filter((e) => e.kind === 'add').map((e) => e.uuid));
  const removed = new Set(events.filter((e) => e.kind === 'remove').map((e) => e.uuid));
  assert.deepEqual([...added].sort(), [...removed].sort());
});

test('a removal asking the vendor when unregister starts is taken over, not leaked', async () => {
  const core = new Core();
  let answer: () => void = () => {};
  core.registerParent(spec('p', {}, { requestRemove: () => new Promise<void>((r) => (answer = r)) }));
  const d = await core.create('p', 'test-1', randomUUID());
  const removal = core.remove(d.uuid);
  await sleep(1);
  const done = core.unregisterParent('p');
  await sleep(1);
  answer();
  await Promise.all([removal, done]);
  assert.equal(core.parent('p'), undefined);
});
