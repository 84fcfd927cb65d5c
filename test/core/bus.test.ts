import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Core } from '../../src/core/core.js';
import { err } from '../../src/errors.js';
import type { BusDriver, MdevDevice } from '../../src/core/types.js';
import { expectErrno, randomUUID, recordEvents, sleep, spec } from './helpers.js';

function drv(name: string, opts: { match?: (d: MdevDevice) => boolean; failFor?: Set<string> } = {}): BusDriver & { log: string[] } {
  const log: string[] = [];
  return {
    name,
    log,
    match: opts.match ?? (() => true),
    probe: async (d) => {
      await sleep(1);
      if (opts.failFor?.has(d.uuid)) throw err('EIO', `probe of ${d.uuid} failed`);
      log.push(`probe ${d.uuid}`);
    },
    remove: (d) => void log.push(`remove ${d.uuid}`),
  };
}

test('a new device is probed by the first matching driver in registration order', async () => {
  const core = new Core();
  core.registerParent(spec('p'));
  const only2 = drv('only-type-2', { match: (d) => d.type.sysfsName === '2' });
  const any = drv('any');
  await core.registerDriver(only2);
  await core.registerDriver(any);
  await expectErrno(core.registerDriver(drv('any')), 'EEXIST');
  await expectErrno(core.registerDriver({ name: '' } as BusDriver), 'EINVAL');
  assert.deepEqual(core.drivers().map((d) => d.name), ['only-type-2', 'any']);
  const d1 = await core.create('p', 'test-1', randomUUID());
  const d2 = await core.create('p', 'test-2', randomUUID());
  assert.equal(d1.driver, 'any');
  assert.equal(d2.driver, 'only-type-2');
  assert.deepEqual(only2.log, [`probe ${d2.uuid}`]);
});

test('registerDriver binds existing unbound devices; a probe failure leaves one unbound with a warning', async () => {
  const core = new Core();
  const events = recordEvents(core);
  core.registerParent(spec('p'));
  const [a, b] = await Promise.all([core.create('p', 'test-1', randomUUID()), core.create('p', 'test-1', randomUUID())]);
  assert.equal(a!.driver, undefined);
  const d = drv('d', { failFor: new Set([b!.uuid]) });
  await core.registerDriver(d);
  assert.equal(a!.driver, 'd');
  assert.equal(b!.driver, undefined);
  assert.deepEqual(d.log, [`probe ${a!.uuid}`]);
  assert.ok(events.some((e) => e.kind === 'warning' && e.uuid === b!.uuid && /probe/.test(e.message!)));
  assert.ok(events.some((e) => e.kind === 'change' && e.uuid === a!.uuid));
});

test('unregisterDriver unbinds its devices; ENODEV for an unknown driver', async () => {
  const core = new Core();
  core.registerParent(spec('p'));
  const d = drv('d');
  await core.registerDriver(d);
  const dev = await core.create('p', 'test-1', randomUUID());
  await expectErrno(core.unregisterDriver('nope'), 'ENODEV');
  await core.unregisterDriver('d');
  assert.equal(dev.driver, undefined);
  assert.deepEqual(d.log, [`probe ${dev.uuid}`, `remove ${dev.uuid}`]);
  assert.deepEqual(core.drivers(), []);
  // Removing the device later does not call the gone driver again.
  await core.remove(dev.uuid);
  assert.equal(d.log.length, 2);
});

test('a removal during a late bind waits for it and then unbinds exactly once', async () => {
  const core = new Core();
  core.registerParent(spec('p'));
  const dev = await core.create('p', 'test-1', randomUUID());
  const d = drv('d');
  const registering = core.registerDriver(d);
  await sleep(0);
  await core.remove(dev.uuid);
  await registering;
  assert.deepEqual(d.log, [`probe ${dev.uuid}`, `remove ${dev.uuid}`]);
});

test('unregisterDriver during a create probe: the device ends unbound, remove called once', async () => {
  const core = new Core();
  core.registerParent(spec('p'));
  const d = drv('d');
  await core.registerDriver(d);
  const creating = core.create('p', 'test-1', randomUUID());
  await sleep(0);
  const unreg = core.unregisterDriver('d');
  const dev = await creating;
  await unreg;
  assert.equal(dev.driver, undefined);
  assert.deepEqual(d.log, [`probe ${dev.uuid}`, `remove ${dev.uuid}`]);
});

test('bind and unbind of one device: the driver runs, a change event follows, the VFIO index is held only while bound', async () => {
  const core = new Core();
  const events = recordEvents(core);
  core.registerParent(spec('p'));
  const d = drv('d', { failFor: new Set() });
  await core.registerDriver(d);
  const a = await core.create('p', 'test-1', randomUUID());
  const b = await core.create('p', 'test-1', randomUUID());
  assert.deepEqual([a.vfioIndex, b.vfioIndex], [0, 1]);
  await core.unbind(a.uuid);
  assert.equal(a.driver, undefined);
  assert.equal(a.vfioIndex, undefined);
  assert.deepEqual(d.log.slice(-1), [`remove ${a.uuid}`]);
  assert.ok(events.some((e) => e.kind === 'change' && e.uuid === a.uuid && /unbound/.test(e.message!)));
  await expectErrno(core.unbind(a.uuid), 'ENODEV');
  await expectErrno(core.unbind(randomUUID()), 'ENODEV');
  await core.bind(a.uuid);
  assert.equal(a.driver, 'd');
  assert.equal(a.vfioIndex, 0, 'the lowest free index again');
  await expectErrno(core.bind(a.uuid), 'EBUSY');
  await expectErrno(core.bind(randomUUID()), 'ENODEV');
});

test('bind: no matching driver is ENODEV and a probe failure is the errno, leaving the device unbound', async () => {
  const core = new Core();
  core.registerParent(spec('p'));
  const dev = await core.create('p', 'test-1', randomUUID());
  await expectErrno(core.bind(dev.uuid), 'ENODEV');
  await core.registerDriver(drv('picky', { match: () => false }));
  await expectErrno(core.bind(dev.uuid), 'ENODEV');
  await core.registerDriver(drv('failing', { failFor: new Set([dev.uuid]) }));
  assert.equal(dev.driver, undefined, 'registerDriver could not bind it either');
  await expectErrno(core.bind(dev.uuid), 'EIO');
  assert.equal(dev.driver, undefined);
  assert.equal(dev.vfioIndex, undefined);
  await core.remove(dev.uuid);
});
