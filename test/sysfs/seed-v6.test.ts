import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SysfsTree } from '../../src/sysfs/index.js';
import { expectErrno, fixtureCore, read, snapshot, write , U1, U2, MTTY, TOY, names, at } from './fixtures.js';


test('v6 layout: parent files, class/mdev, no mainline directories', async () => {
  const core = await fixtureCore();
  const tree = new SysfsTree(core, { layout: 'v6' });
  assert.equal(tree.layout, 'v6');
  assert.deepEqual(names(at(tree, 'class')), ['mdev']);
  assert.deepEqual(names(at(tree, 'class/mdev')), ['mdev_start', 'mdev_stop']);
  const start = at(tree, 'class/mdev/mdev_start');
  assert.ok(start?.kind === 'file' && start.mode === 0o200 && !start.show);
  assert.equal(at(tree, 'class/mdev_bus'), undefined);
  assert.deepEqual(names(at(tree, TOY)), ['mdev_supported_types', 'mdev_create', 'mdev_destroy']);
  const types = at(tree, `${TOY}/mdev_supported_types`);
  assert.ok(types?.kind === 'file' && types.mode === 0o444);
  assert.equal(await read(tree, `${TOY}/mdev_supported_types`), 'toy-a: first\ntoy-b: second\n');
  assert.equal(await read(tree, `${MTTY}/mdev_supported_types`), 'mtty-1\nmtty-2\n');
  const create = at(tree, `${MTTY}/mdev_create`);
  assert.ok(create?.kind === 'file' && create.mode === 0o200);
  await snapshot(tree);
});

test('v6: mdev_create UUID:instance[:params], devices named UUID-instance, mdev_destroy', async () => {
  const core = await fixtureCore();
  const tree = new SysfsTree(core, { layout: 'v6' });
  const empty = await snapshot(tree);
  await write(tree, `${TOY}/mdev_create`, `${U1}:0\n`);
  const d1 = core.device(U1);
  assert.equal(d1?.name, `${U1}-0`);
  assert.equal(d1?.type.id, 'toy-a', 'no params: the first type');
  const dev = `${TOY}/${U1}-0`;
  assert.deepEqual(names(at(tree, dev)), ['driver', 'iommu_group', 'online', 'reset', 'subsystem', 'uevent', 'knob', 'vendor']);
  assert.deepEqual(at(tree, `bus/mdev/devices/${U1}-0`), { kind: 'symlink', target: `../../../devices/pci0000:00/0000:00:02.0/${U1}-0` });
  assert.equal(await read(tree, `${dev}/uevent`), 'DRIVER=vfio_mdev\nMDEV_TYPE=toy-a\nMDEV_INSTANCE=0\n');
  assert.equal(at(tree, `${TOY}/${U1}`), undefined);

  await write(tree, `${TOY}/mdev_create`, `${U2.toUpperCase()}:7:toy-b,speed=9600\n`);
  const d2 = core.device(U2);
  assert.equal(d2?.name, `${U2}-7`);
  assert.equal(d2?.type.id, 'toy-b', 'params starting with a type id select it');
  assert.equal(d2?.params, 'toy-b,speed=9600', 'the vendor gets the params as written');
  assert.equal(d2?.instance, 7);
  await snapshot(tree);

  await expectErrno(write(tree, `${TOY}/mdev_create`, `${U1}:1`), 'EEXIST');
  await expectErrno(write(tree, `${MTTY}/mdev_create`, `${U1}:0`), 'EEXIST');
  await expectErrno(write(tree, `${TOY}/mdev_destroy`, `${U1}:1`), 'ENODEV');
  await expectErrno(write(tree, `${MTTY}/mdev_destroy`, `${U1}:0`), 'ENODEV');
  await write(tree, `${TOY}/mdev_destroy`, `${U1}:0\n`);
  await write(tree, `${TOY}/mdev_destroy`, `${U2}:0x7`);
  assert.deepEqual(await snapshot(tree), empty);
});

test('v6: class/mdev/mdev_start and mdev_stop take a UUID', async () => {
  const core = await fixtureCore();
  const tree = new SysfsTree(core, { layout: 'v6' });
  await write(tree, `${TOY}/mdev_create`, `${U1}:0`);
  assert.equal(await read(tree, `${TOY}/${U1}-0/online`), '0\n');
  await write(tree, 'class/mdev/mdev_start', `${U1}\n`);
  assert.equal(await read(tree, `${TOY}/${U1}-0/online`), '1\n');
  await write(tree, 'class/mdev/mdev_stop', U1.toUpperCase());
  assert.equal(await read(tree, `${TOY}/${U1}-0/online`), '0\n');
  await expectErrno(write(tree, 'class/mdev/mdev_start', U2), 'EINVAL');
});

test('v6: every bad write is refused and changes nothing', async () => {
  const core = await fixtureCore();
  const tree = new SysfsTree(core, { layout: 'v6' });
  await write(tree, `${TOY}/mdev_create`, `${U1}:0`);
  const before = await snapshot(tree);
  const cases: [string, string, string][] = [
    [`${TOY}/mdev_create`, U2, 'EINVAL'],
    [`${TOY}/mdev_create`, `${U2}:`, 'EINVAL'],
    [`${TOY}/mdev_create`, `${U2}:x:toy-a`, 'EINVAL'],
    [`${TOY}/mdev_create`, `${U2}:4294967296`, 'ERANGE'],
    [`${TOY}/mdev_create`, `${U2.slice(1)}:0`, 'EINVAL'],
    [`${TOY}/mdev_create`, '', 'EINVAL'],
    [`${TOY}/mdev_destroy`, U1, 'EINVAL'],
    [`${TOY}/mdev_destroy`, `${U1}:`, 'EINVAL'],
    [`${TOY}/mdev_destroy`, `${U1}:0:0`, 'EINVAL'],
    [`${TOY}/mdev_destroy`, `x:0`, 'EINVAL'],
    ['class/mdev/mdev_start', '', 'EINVAL'],
    ['class/mdev/mdev_start', `${U1}:0`, 'EINVAL'],
    ['class/mdev/mdev_stop', 'x', 'EINVAL'],
    [`${TOY}/${U1}-0/online`, 'x', 'EINVAL'],
    [`${TOY}/${U1}-0/reset`, '0', 'EINVAL'],
  ];
  for (const [path, value, errno] of cases) {
    await expectErrno(write(tree, path, value), errno);
    assert.deepEqual(await snapshot(tree), before, `${path} <- ${JSON.stringify(value)}`);
  }
});

test('v6: an unbind reports the device\'s driver link, whose target names the bus driver', async () => {
  const core = await fixtureCore();
  const tree = new SysfsTree(core, { layout: 'v6' });
  await write(tree, `${TOY}/mdev_create`, `${U1}:0`);
  const dev = `${TOY}/${U1}-0`;
  assert.deepEqual(at(tree, `${dev}/driver`), { kind: 'symlink', target: '../../../../bus/mdev/drivers/vfio_mdev' });
  const changes: string[] = [];
  const off = tree.onChange((c) => changes.push(`${c.kind} ${c.path.join('/')}`));
  await core.unregisterDriver('vfio_mdev');
  assert.ok(changes.includes(`remove ${dev}/driver`), changes.join('\n'));
  assert.ok(changes.includes(`remove bus/mdev/drivers/vfio_mdev/${U1}-0`), changes.join('\n'));
  assert.equal(at(tree, `${dev}/driver`), undefined);
  off();
});
