import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Core } from '../../src/core/core.js';
import { SysfsTree } from '../../src/sysfs/index.js';
import { busDriver, expectErrno, fixtureCore, mttyLike, read, resolveLink, snapshot, toy, write, U1, U2, MTTY, TOY, names, at } from './fixtures.js';


test('empty core: the skeleton and nothing else', async () => {
  const tree = new SysfsTree(new Core());
  assert.deepEqual(await snapshot(tree), [
    '. dir 755',
    'bus dir 755',
    'bus/mdev dir 755',
    'bus/mdev/devices dir 755',
    'bus/mdev/drivers dir 755',
    'bus/mdev/drivers_autoprobe file 644 "1\\n"',
    'bus/mdev/drivers_probe file 200 ',
    'bus/mdev/uevent file 200 ',
    'class dir 755',
    'class/mdev_bus dir 755',
    'class/vfio-dev dir 755',
    'devices dir 755',
    'kernel dir 755',
    'kernel/iommu_groups dir 755',
    'module dir 755',
  ]);
  assert.equal(at(tree, 'nosuch'), undefined);
  assert.equal(at(tree, 'devices/virtual'), undefined);
});

test('parents: class links, intermediate directories and type directories', async () => {
  const core = await fixtureCore();
  const tree = new SysfsTree(core);
  assert.deepEqual(names(at(tree, 'class/mdev_bus')).sort(), ['0000:00:02.0', 'mtty']);
  assert.deepEqual(at(tree, 'class/mdev_bus/mtty'), { kind: 'symlink', target: '../../devices/virtual/mtty/mtty' });
  assert.deepEqual(at(tree, 'class/mdev_bus/0000:00:02.0'), { kind: 'symlink', target: '../../devices/pci0000:00/0000:00:02.0' });
  assert.deepEqual(names(at(tree, 'devices')), ['pci0000:00', 'virtual']);
  assert.deepEqual(names(at(tree, 'devices/virtual')), ['mtty']);
  assert.deepEqual(names(at(tree, 'devices/virtual/mtty')), ['mtty']);
  assert.deepEqual(names(at(tree, MTTY)), ['mdev_supported_types', 'power', 'subsystem', 'uevent']);
  // mtty's parent is a class device (virtual/mtty/mtty): subsystem -> class/mtty, which links back; the PCI-like toy
  // parent has no class here, so no subsystem link.
  assert.deepEqual(at(tree, `${MTTY}/subsystem`), { kind: 'symlink', target: '../../../../class/mtty' });
  assert.deepEqual(at(tree, 'class/mtty/mtty'), { kind: 'symlink', target: '../../devices/virtual/mtty/mtty' });
  assert.deepEqual(names(at(tree, TOY)), ['mdev_supported_types', 'power', 'uevent']);
  assert.equal(await read(tree, `${MTTY}/uevent`), '');
  assert.equal(await read(tree, `${MTTY}/power/runtime_status`), 'unsupported\n');
  assert.deepEqual(names(at(tree, 'bus/mdev/drivers')), ['mtty', 'toy']);
  assert.deepEqual(at(tree, 'bus/mdev/drivers/mtty/module'), { kind: 'symlink', target: '../../../../module/mtty' });
  assert.deepEqual(at(tree, 'module/mtty/drivers/mdev:mtty'), { kind: 'symlink', target: '../../../bus/mdev/drivers/mtty' });
  assert.deepEqual(names(at(tree, `${MTTY}/mdev_supported_types`)), ['mtty-1', 'mtty-2']);
  // mtty has no description (as the 6.x sample): the file is absent, not empty.
  assert.deepEqual(names(at(tree, `${MTTY}/mdev_supported_types/mtty-1`)), ['create', 'available_instances', 'device_api', 'name', 'devices']);
  assert.equal(at(tree, `${MTTY}/mdev_supported_types/mtty-1/description`), undefined);
  assert.equal(await read(tree, `${MTTY}/mdev_supported_types/mtty-1/available_instances`), '24\n');
  assert.equal(await read(tree, `${MTTY}/mdev_supported_types/mtty-2/available_instances`), '12\n');
  assert.equal(await read(tree, `${MTTY}/mdev_supported_types/mtty-2/device_api`), 'vfio-pci\n');
  assert.equal(await read(tree, `${MTTY}/mdev_supported_types/mtty-2/name`), 'Dual port serial\n');
  const types = `${TOY}/mdev_supported_types`;
  assert.deepEqual(names(at(tree, types)), ['toy-a', 'toy-b']);
  assert.equal(await read(tree, `${types}/toy-a/description`), 'first line\nsecond line\n');
  assert.equal(await read(tree, `${types}/toy-b/description`), 'no newline\n');
  assert.equal(await read(tree, `${types}/toy-b/name`), 'b\n');
  assert.equal(await read(tree, `${types}/toy-a/available_instances`), '2\n');
  assert.equal(at(tree, `${types}/toy-a/create`)?.kind, 'file');
  const create = at(tree, `${types}/toy-a/create`);
  assert.equal(create?.kind === 'file' && create.mode, 0o200);
  assert.equal(create?.kind === 'file' && create.show, undefined);
  assert.equal(at(tree, `${types}/toy-c`), undefined);
  assert.equal(at(tree, 'devices/virtual/mtty/mtty/mdev_supported_types/mtty-1/name/x'), undefined);
  await snapshot(tree); // every listed entry resolves, nothing dangles
});

test('a created device: directory, attributes and every link, all resolving', async () => {
  const core = await fixtureCore();
  const tree = new SysfsTree(core);
  await write(tree, `${MTTY}/mdev_supported_types/mtty-2/create`, `${U1}\n`);
  await write(tree, `${TOY}/mdev_supported_types/toy-a/create`, U2.toUpperCase());
  const d1 = core.device(U1);
  const d2 = core.device(U2);
  assert.ok(d1?.iommuGroup !== undefined && d2?.iommuGroup !== undefined);
  const dev = `${MTTY}/${U1}`;
  assert.deepEqual(names(at(tree, dev)), ['driver', 'iommu_group', 'mdev_type', 'online', 'power', 'remove', 'subsystem', 'uevent', 'vfio-dev', 'vendor']);
  assert.deepEqual(at(tree, `${dev}/mdev_type`), { kind: 'symlink', target: '../mdev_supported_types/mtty-2' });
  assert.deepEqual(at(tree, `${dev}/iommu_group`), { kind: 'symlink', target: `../../../../../kernel/iommu_groups/${d1.iommuGroup}` });
  // The vendor's driver, whichever bus driver (here `vfio_mdev`) serves the device.
  assert.deepEqual(at(tree, `${dev}/driver`), { kind: 'symlink', target: '../../../../../bus/mdev/drivers/mtty' });
  const vfio = `vfio${d1.vfioIndex}`;
  assert.deepEqual(names(at(tree, `${dev}/vfio-dev`)), [vfio]);
  assert.deepEqual(at(tree, `${dev}/vfio-dev/${vfio}/device`), { kind: 'symlink', target: `../../../${U1}` });
  assert.deepEqual(at(tree, `class/vfio-dev/${vfio}`), { kind: 'symlink', target: `../../devices/virtual/mtty/mtty/${U1}/vfio-dev/${vfio}` });
  assert.equal(await read(tree, `kernel/iommu_groups/${d1.iommuGroup}/name`), 'vfio-noiommu\n');
  assert.deepEqual(at(tree, `${dev}/subsystem`), { kind: 'symlink', target: '../../../../../bus/mdev' });
  assert.deepEqual(at(tree, `bus/mdev/devices/${U1}`), { kind: 'symlink', target: `../../../devices/virtual/mtty/mtty/${U1}` });
  assert.deepEqual(at(tree, `${MTTY}/mdev_supported_types/mtty-2/devices/${U1}`), { kind: 'symlink', target: `../../../${U1}` });
  assert.deepEqual(at(tree, `bus/mdev/drivers/mtty/${U1}`), { kind: 'symlink', target: `../../../../devices/virtual/mtty/mtty/${U1}` });
  assert.deepEqual(at(tree, `kernel/iommu_groups/${d1.iommuGroup}/devices/${U1}`), {
    kind: 'symlink',
    target: `../../../../devices/virtual/mtty/mtty/${U1}`,
  });
  assert.equal(await read(tree, `${dev}/vendor/sample_mdev_dev`), `This is MDEV ${U1}\n`);
  assert.equal(await read(tree, `${dev}/online`), '1\n');
  assert.equal(await read(tree, `${dev}/uevent`), 'DRIVER=mtty\n');
  assert.equal(at(tree, `${dev}/reset`), undefined, 'mtty has no reset hook');
  assert.equal(await read(tree, `${MTTY}/mdev_supported_types/mtty-1/available_instances`), '22\n');
  assert.equal(await read(tree, `${MTTY}/mdev_supported_types/mtty-2/available_instances`), '11\n');
  assert.deepEqual(names(at(tree, `${MTTY}/mdev_supported_types/mtty-2/devices`)), [U1]);
  assert.deepEqual(names(at(tree, `${MTTY}/mdev_supported_types/mtty-1/devices`)), []);
  assert.equal(at(tree, `${MTTY}/mdev_supported_types/mtty-1/devices/${U1}`), undefined);

  // The toy device: vendor attributes in the device dir and in vendor/, reset, online through start/stop.
  const tdev = `${TOY}/${U2}`;
  assert.deepEqual(names(at(tree, tdev)), ['driver', 'iommu_group', 'mdev_type', 'online', 'power', 'remove', 'reset', 'subsystem', 'uevent', 'vfio-dev', 'knob', 'vendor']);
  assert.deepEqual(at(tree, `${tdev}/iommu_group`), { kind: 'symlink', target: `../../../../kernel/iommu_groups/${d2.iommuGroup}` });
  assert.equal(await read(tree, `${tdev}/online`), '0\n');
  assert.equal(await read(tree, `${tdev}/knob`), '7\n');
  await write(tree, `${tdev}/knob`, '42');
  assert.equal(await read(tree, `${tdev}/knob`), '42\n');
  await write(tree, `${tdev}/reset`, '1');
  assert.equal(await read(tree, `${tdev}/vendor/resets`), '1\n');
  for (const v of ['1', 'y\n', 'on']) {
    await write(tree, `${tdev}/online`, '0');
    await write(tree, `${tdev}/online`, v);
    assert.equal(await read(tree, `${tdev}/online`), '1\n', v);
  }
  await write(tree, `${tdev}/online`, 'n');
  assert.equal(core.device(U2)?.online, false);
  assert.equal(await read(tree, `${TOY}/mdev_supported_types/toy-a/available_instances`), '1\n');
  await write(tree, `${tdev}/uevent`, 'change');

  assert.deepEqual(names(at(tree, 'bus/mdev/devices')).sort(), [U1, U2].sort());
  assert.deepEqual(names(at(tree, 'bus/mdev/drivers')), ['mtty', 'toy']);
  assert.deepEqual(names(at(tree, 'bus/mdev/drivers/mtty')), ['bind', 'module', 'uevent', 'unbind', U1]);
  assert.deepEqual(names(at(tree, 'bus/mdev/drivers/toy')), ['bind', 'module', 'uevent', 'unbind', U2]);
  assert.deepEqual(names(at(tree, 'kernel/iommu_groups')), [d1.iommuGroup, d2.iommuGroup].sort((a, b) => a - b).map(String));
  assert.equal(at(tree, `kernel/iommu_groups/0${d1.iommuGroup}`), undefined, 'only canonical group numbers');
  assert.equal(at(tree, `bus/mdev/devices/${U2.toUpperCase()}`), undefined, 'names are lower case');
  assert.equal(at(tree, `${TOY}/${U1}`), undefined, 'a device appears under its own parent only');

  // Every link in the whole tree resolves to a node (snapshot throws on a dangling one).
  const lines = await snapshot(tree);
  assert.ok(lines.includes(`${dev}/vendor/sample_mdev_dev file 444 ${JSON.stringify(`This is MDEV ${U1}\n`)}`));
  for (const l of lines.filter((x) => x.includes(' -> '))) {
    const [from, target] = l.split(' -> ') as [string, string];
    const to = resolveLink(from.split('/').slice(0, -1), target);
    assert.ok(to && tree.resolve(to), l);
  }
});

test('remove: the device and every link to it are gone when the write returns', async () => {
  const core = await fixtureCore();
  const tree = new SysfsTree(core);
  const empty = await snapshot(tree);
  await write(tree, `${MTTY}/mdev_supported_types/mtty-1/create`, U1);
  const remove = at(tree, `${MTTY}/${U1}/remove`);
  await write(tree, `${MTTY}/${U1}/remove`, '0');
  assert.ok(core.device(U1), '0 is a no-op');
  await write(tree, `${MTTY}/${U1}/remove`, '0x1');
  assert.equal(core.device(U1), undefined);
  assert.deepEqual(await snapshot(tree), empty);
  // A node kept across the removal (an open file) now fails instead of acting on something else.
  assert.ok(remove?.kind === 'file' && remove.store);
  await assert.rejects(Promise.resolve(remove.store(Buffer.from('1'))), { errno: 'ENODEV' });
});

test('a device is invisible while the core is creating or removing it', async () => {
  const seen: string[][] = [];
  const box: { tree?: SysfsTree } = {};
  const look = async (): Promise<void> => {
    const lines = await snapshot(box.tree as SysfsTree); // throws on any dangling link
    seen.push(lines.filter((l) => l.includes(U1)));
  };
  const core = new Core();
  await core.registerDriver(busDriver());
  core.registerParent(toy({ onCreate: look, onRemove: look }));
  const tree = new SysfsTree(core);
  box.tree = tree;
  await write(tree, `${TOY}/mdev_supported_types/toy-b/create`, U1);
  assert.ok(at(tree, `${TOY}/${U1}/knob`), 'complete before the create write returns');
  await write(tree, `${TOY}/${U1}/remove`, '1');
  assert.deepEqual(seen, [[], []]);
});

test('nested parents and a parent at the top of devices/', async () => {
  const core = new Core();
  core.registerParent(mttyLike(4, 'outer', 'outer'));
  core.registerParent(mttyLike(4, 'inner', 'outer/sub/inner'));
  const tree = new SysfsTree(core);
  assert.deepEqual(names(at(tree, 'devices')), ['outer']);
  assert.deepEqual(names(at(tree, 'devices/outer')), ['mdev_supported_types', 'power', 'uevent', 'sub']);
  assert.deepEqual(at(tree, 'class/mdev_bus/inner'), { kind: 'symlink', target: '../../devices/outer/sub/inner' });
  await write(tree, 'devices/outer/sub/inner/mdev_supported_types/mtty-1/create', U1);
  assert.deepEqual(names(at(tree, 'devices/outer/sub/inner')), ['mdev_supported_types', 'power', 'uevent', U1]);
  assert.deepEqual(at(tree, `devices/outer/sub/inner/${U1}/subsystem`), { kind: 'symlink', target: '../../../../../bus/mdev' });
  assert.equal(at(tree, `devices/outer/${U1}`), undefined);
  assert.equal(at(tree, 'devices/outer/nosuch'), undefined);
  await snapshot(tree);
});

test('onChange reports the paths that appear and vanish, bus link first', async () => {
  const core = await fixtureCore();
  const tree = new SysfsTree(core);
  const changes: string[] = [];
  const off = tree.onChange((c) => changes.push(`${c.kind} ${c.path.join('/')}`));
  await write(tree, `${MTTY}/mdev_supported_types/mtty-1/create`, U1);
  const g = core.device(U1)?.iommuGroup;
  await write(tree, `${MTTY}/${U1}/remove`, '1');
  off();
  await write(tree, `${MTTY}/mdev_supported_types/mtty-1/create`, U2);
  const adds = changes.filter((c) => c.startsWith('add '));
  const removes = changes.filter((c) => c.startsWith('remove '));
  assert.ok(adds.includes(`add ${MTTY}/${U1}`), changes.join('\n'));
  assert.equal(removes[0], `remove bus/mdev/devices/${U1}`);
  assert.ok(removes.includes(`remove ${MTTY}/${U1}`));
  assert.ok(removes.includes(`remove ${MTTY}/mdev_supported_types/mtty-1/devices/${U1}`));
  if (g !== undefined) assert.ok(removes.includes(`remove kernel/iommu_groups/${g}`));
  assert.ok(!changes.some((c) => c.includes(U2)), 'nothing after unsubscribe');
});

test('onChange: devices that existed before subscribing, and parents coming and going', async () => {
  const core = await fixtureCore();
  const tree = new SysfsTree(core);
  await write(tree, `${MTTY}/mdev_supported_types/mtty-1/create`, U1);
  const changes: string[] = [];
  const off = tree.onChange((c) => changes.push(`${c.kind} ${c.path.join('/')}`));
  await write(tree, `${MTTY}/${U1}/remove`, '1');
  assert.ok(changes.includes(`remove ${MTTY}/mdev_supported_types/mtty-1/devices/${U1}`), changes.join('\n'));
  assert.ok(changes.includes('remove bus/mdev/drivers/mtty/' + U1), changes.join('\n'));
  changes.length = 0;
  core.registerParent(mttyLike(2, 'second', 'virtual/mtty/second'));
  assert.deepEqual(changes, ['add class/mdev_bus/second', 'add class/mtty/second', 'add devices/virtual/mtty/second']);
  changes.length = 0;
  await core.unregisterParent('second');
  assert.deepEqual(changes, ['remove class/mdev_bus/second', 'remove class/mtty/second', 'remove devices/virtual/mtty/second']);
  off();
});

test('onChange: the last parent of a driver, a class or an intermediate directory takes that directory along', async () => {
  const core = await fixtureCore();
  const tree = new SysfsTree(core);
  const changes: string[] = [];
  const off = tree.onChange((c) => changes.push(`${c.kind} ${c.path.join('/')}`));
  await core.unregisterParent('0000:00:02.0');
  assert.deepEqual(changes, [
    'remove class/mdev_bus/0000:00:02.0',
    'remove devices/pci0000:00/0000:00:02.0',
    'remove devices/pci0000:00',
    'remove bus/mdev/drivers/toy',
    'remove module/toy',
  ]);
  for (const p of ['devices/pci0000:00', 'bus/mdev/drivers/toy', 'module/toy']) assert.equal(at(tree, p), undefined, p);
  changes.length = 0;
  await core.unregisterParent('mtty');
  for (const p of ['devices/virtual/mtty', 'devices/virtual', 'bus/mdev/drivers/mtty', 'module/mtty', 'class/mtty']) {
    assert.ok(changes.includes(`remove ${p}`), `${p}:\n${changes.join('\n')}`);
  }
  changes.length = 0;
  core.registerParent(toy());
  assert.deepEqual(changes.filter((c) => !c.startsWith('add ')), [], 'a parent coming removes nothing');
  assert.ok(changes.includes('add bus/mdev/drivers/toy'), changes.join('\n'));
  off();
});

test('resolve never lists devices: one O(1) core lookup per path component', async () => {
  const core = await fixtureCore();
  const tree = new SysfsTree(core);
  for (let i = 0; i < 20; i++) await core.create('mtty', 'mtty-1', `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
  const g = core.devices()[0];
  assert.ok(g?.iommuGroup !== undefined);
  const u = g.name;
  const listings = { n: 0 };
  const devices = core.devices.bind(core);
  core.devices = (...args: Parameters<Core['devices']>) => {
    listings.n++;
    return devices(...args);
  };
  for (const p of [
    `${MTTY}/${u}/vendor/sample_mdev_dev`,
    `${MTTY}/${u}/iommu_group`,
    `${MTTY}/mdev_supported_types/mtty-1/devices/${u}`,
    `${MTTY}/mdev_supported_types/mtty-1/available_instances`,
    `bus/mdev/devices/${u}`,
    `bus/mdev/drivers/mtty/${u}`,
    `kernel/iommu_groups/${g.iommuGroup}/devices/${u}`,
    `class/mdev_bus/mtty`,
  ]) {
    assert.ok(at(tree, p), p);
    const n = at(tree, p);
    if (n?.kind === 'file' && n.show) await n.show();
  }
  assert.equal(listings.n, 0);
  assert.equal(names(at(tree, 'bus/mdev/devices')).length, 20);
  assert.equal(listings.n, 1, 'a listing is one O(n) call');
});

test('onChange: a device bound after its add reports its driver link when unbound and when removed', async () => {
  const core = new Core();
  core.registerParent(mttyLike());
  const tree = new SysfsTree(core);
  const changes: string[] = [];
  const off = tree.onChange((c) => changes.push(`${c.kind} ${c.path.join('/')}`));
  await core.create('mtty', 'mtty-1', U1);
  assert.ok(!changes.some((c) => c.includes('bus/mdev/drivers/')), 'unbound at add');
  changes.length = 0;
  await core.registerDriver(busDriver('late'));
  // Bound: the vendor's driver link, the vendor's attributes and the VFIO device appear.
  for (const p of [`bus/mdev/drivers/mtty/${U1}`, `${MTTY}/${U1}/driver`, `${MTTY}/${U1}/vendor`, `${MTTY}/${U1}/vfio-dev/vfio0`, 'class/vfio-dev/vfio0']) {
    assert.ok(changes.includes(`add ${p}`), `${p}:\n${changes.join('\n')}`);
  }
  assert.ok(!changes.some((c) => c.startsWith('remove ')), changes.join('\n'));
  changes.length = 0;
  await core.unregisterDriver('late');
  assert.ok(changes.includes(`remove bus/mdev/drivers/mtty/${U1}`), changes.join('\n'));
  assert.ok(changes.includes(`remove ${MTTY}/${U1}/vendor`), changes.join('\n'));
  assert.equal(at(tree, `${MTTY}/${U1}/vendor`), undefined, 'vendor attributes exist only while bound');
  await core.registerDriver(busDriver('again'));
  changes.length = 0;
  await core.remove(U1);
  assert.ok(changes.includes(`remove bus/mdev/drivers/mtty/${U1}`), changes.join('\n'));
  assert.equal(changes.filter((c) => c.includes('drivers/mtty/')).length, 1, 'an unbound driver is not reported again');
  assert.equal(changes[0], `remove bus/mdev/devices/${U1}`, 'the bus link still goes first');
  off();
  await core.unregisterDriver('again');
});

test('extensions off: no online or reset, everything else as with them', async () => {
  const core = await fixtureCore();
  const strict = new SysfsTree(core, { extensions: false });
  const full = new SysfsTree(core);
  await write(full, `${TOY}/mdev_supported_types/toy-a/create`, U2);
  const tdev = `${TOY}/${U2}`;
  assert.deepEqual(names(at(strict, tdev)), ['driver', 'iommu_group', 'mdev_type', 'power', 'remove', 'subsystem', 'uevent', 'vfio-dev', 'knob', 'vendor']);
  const own = /\/(online|reset) /;
  assert.deepEqual((await snapshot(full)).filter((l) => !own.test(l)), await snapshot(strict));
  assert.ok((await snapshot(full)).some((l) => own.test(l)));
});

test('drivers/<vendor>/unbind and bind: detach and re-attach one device; wrong names are ENODEV, a second bind EBUSY', async () => {
  const core = await fixtureCore();
  const tree = new SysfsTree(core);
  await write(tree, `${MTTY}/mdev_supported_types/mtty-1/create`, U1);
  await write(tree, `${TOY}/mdev_supported_types/toy-a/create`, U2);
  await write(tree, 'bus/mdev/drivers/mtty/unbind', `${U1}\n`);
  assert.equal(core.device(U1)?.driver, undefined);
  assert.deepEqual(names(at(tree, `${MTTY}/${U1}`)), ['iommu_group', 'mdev_type', 'online', 'power', 'remove', 'subsystem', 'uevent']);
  assert.equal(await read(tree, `${MTTY}/${U1}/uevent`), '');
  assert.deepEqual(names(at(tree, 'bus/mdev/drivers/mtty')), ['bind', 'module', 'uevent', 'unbind']);
  await expectErrno(write(tree, 'bus/mdev/drivers/mtty/unbind', U1), 'ENODEV');
  await expectErrno(write(tree, 'bus/mdev/drivers/mtty/unbind', U2), 'ENODEV');
  await expectErrno(write(tree, 'bus/mdev/drivers/mtty/bind', U2), 'ENODEV');
  await expectErrno(write(tree, 'bus/mdev/drivers/mtty/bind', `${U1}\n\n`), 'ENODEV');
  await write(tree, 'bus/mdev/drivers/mtty/bind', U1);
  assert.equal(await read(tree, `${MTTY}/${U1}/uevent`), 'DRIVER=mtty\n');
  assert.ok(at(tree, `${MTTY}/${U1}/vendor/sample_mdev_dev`));
  await expectErrno(write(tree, 'bus/mdev/drivers/mtty/bind', U1), 'EBUSY');
  await write(tree, 'bus/mdev/drivers/mtty/unbind', U1);
  await write(tree, 'bus/mdev/drivers_probe', U1);
  assert.equal(core.device(U1)?.driver, 'vfio_mdev', 'drivers_probe offers an unbound device to the drivers');
  await expectErrno(write(tree, 'bus/mdev/drivers_probe', 'nosuch'), 'ENODEV');
});
