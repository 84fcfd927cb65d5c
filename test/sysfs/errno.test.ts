import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Core } from '../../src/core/core.js';
import { err, isUmdevError } from '../../src/errors.js';
import { SysfsTree } from '../../src/sysfs/index.js';
import type { AttrNode } from '../../src/fuse/attr-tree.js';
import { busDriver, expectErrno, fixtureCore, mttyLike, read, snapshot, toy, write } from './fixtures.js';

const U1 = '11111111-2222-4333-8444-555555555555';
const U2 = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const U3 = '01234567-89ab-4cde-8f01-23456789abcd';
const MTTY = 'devices/virtual/mtty/mtty';
const TOY = 'devices/pci0000:00/0000:00:02.0';
const M1 = `${MTTY}/mdev_supported_types/mtty-1`;
const TA = `${TOY}/mdev_supported_types/toy-a`;

test('create errnos: length, UUID, duplicates anywhere, pools', async () => {
  const core = await fixtureCore();
  const tree = new SysfsTree(core);
  const before = await snapshot(tree);
  for (const bad of ['', U1.slice(1), `${U1}\n\n`, `${U1}xy`, 'x'.repeat(36), `${U1.slice(0, 35)}-`]) {
    await expectErrno(write(tree, `${M1}/create`, bad), 'EINVAL');
  }
  assert.deepEqual(await snapshot(tree), before);
  await write(tree, `${M1}/create`, U1);
  await expectErrno(write(tree, `${M1}/create`, U1), 'EEXIST');
  await expectErrno(write(tree, `${M1}/create`, `${U1.toUpperCase()}\n`), 'EEXIST');
  await expectErrno(write(tree, `${TA}/create`, U1), 'EEXIST');
  // The toy uses the core pool (2 instances): the third create is EUSERS, whatever the type.
  await write(tree, `${TA}/create`, U2);
  await write(tree, `${TOY}/mdev_supported_types/toy-b/create`, U3);
  assert.equal(await read(tree, `${TA}/available_instances`), '0\n');
  const full = await snapshot(tree);
  await expectErrno(write(tree, `${TA}/create`, '99999999-2222-4333-8444-555555555555'), 'EUSERS');
  assert.deepEqual(await snapshot(tree), full);
});

test('create: a vendor errno (mtty ENOSPC) passes through unchanged', async () => {
  const core = new Core();
  const spec = mttyLike(3);
  core.registerParent(spec);
  const tree = new SysfsTree(core);
  await write(tree, `${MTTY}/mdev_supported_types/mtty-2/create`, U1);
  assert.equal(await read(tree, `${MTTY}/mdev_supported_types/mtty-2/available_instances`), '0\n');
  assert.equal(await read(tree, `${M1}/available_instances`), '1\n');
  const before = await snapshot(tree);
  await expectErrno(write(tree, `${MTTY}/mdev_supported_types/mtty-2/create`, U2), 'ENOSPC');
  assert.deepEqual(await snapshot(tree), before);
  assert.equal(spec.used(), 2, 'the failed create left nothing behind in the vendor');
});

test('create while the parent is unregistering: ENODEV', async () => {
  const core = new Core();
  core.registerParent(mttyLike());
  const tree = new SysfsTree(core);
  const create = tree.resolve(`${M1}/create`.split('/'));
  assert.ok(create?.kind === 'file' && create.store);
  const gone = core.unregisterParent('mtty');
  await expectErrno(Promise.resolve().then(() => create.store?.(Buffer.from(U1))), 'ENODEV');
  await gone;
  assert.equal(tree.resolve(M1.split('/')), undefined);
  assert.equal(tree.resolve(['class', 'mdev_bus', 'mtty']), undefined);
  await expectErrno(Promise.resolve().then(() => create.store?.(Buffer.from(U1))), 'ENODEV');
});

test('remove, online, reset, uevent and vendor errnos', async () => {
  const stopError = err('EBUSY', 'vendor refuses to stop');
  const hooks: { stopError?: Error } = {};
  const core = new Core();
  // Bound, so the vendor's attributes (the driver's groups in mainline) are there.
  await core.registerDriver(busDriver());
  core.registerParent(mttyLike());
  core.registerParent(toy(hooks));
  const tree = new SysfsTree(core);
  await write(tree, `${M1}/create`, U1);
  await write(tree, `${TA}/create`, U2);
  await write(tree, `${TOY}/${U2}/online`, '1');
  const before = await snapshot(tree);
  for (const bad of ['', 'yes', '-1', '1 ', ' 1', '0x', '08', '1\n\n', '99999999999999999999999']) {
    await expectErrno(write(tree, `${MTTY}/${U1}/remove`, bad), 'EINVAL');
  }
  for (const bad of ['', '2', 'x', '-1', 'o', 'ox']) await expectErrno(write(tree, `${TOY}/${U2}/online`, bad), 'EINVAL');
  for (const bad of ['0', '2', 'y', '']) await expectErrno(write(tree, `${TOY}/${U2}/reset`, bad), 'EINVAL');
  for (const bad of ['', 'bogus']) await expectErrno(write(tree, `${TOY}/${U2}/uevent`, bad), 'EINVAL');
  for (const bad of ['abc', '101', '']) await expectErrno(write(tree, `${TOY}/${U2}/knob`, bad), 'EINVAL');
  assert.deepEqual(await snapshot(tree), before);

  // The core's (and the vendor's) errno of online passes through unchanged.
  hooks.stopError = stopError;
  await expectErrno(write(tree, `${TOY}/${U2}/online`, '0'), 'EBUSY');
  assert.equal(await read(tree, `${TOY}/${U2}/online`), '1\n');
  let direct = '';
  try {
    await core.setOnline(U1, false);
  } catch (e) {
    direct = isUmdevError(e) ? e.errno : String(e);
  }
  if (direct !== '') await expectErrno(write(tree, `${MTTY}/${U1}/online`, '0'), direct);
  assert.deepEqual(await snapshot(tree), before);
});

/** Values no writable file of the tree accepts. */
const BAD = ['', '\n', 'x', 'garbage\n', '-1', '2x', `:${U1}`, 'o', '\u00ff'.repeat(40)];

test('every bad value to every writable file is refused and leaves the whole tree unchanged', async () => {
  const core = await fixtureCore();
  const tree = new SysfsTree(core);
  await write(tree, `${M1}/create`, U1);
  await write(tree, `${TA}/create`, U2);
  const before = await snapshot(tree);
  const writable: string[] = [];
  const collect = (path: string[], node: AttrNode | undefined): void => {
    if (node?.kind === 'file' && node.store) writable.push(path.join('/'));
    if (node?.kind === 'dir') for (const e of node.entries()) if (e.kind !== 'symlink') collect([...path, e.name], tree.resolve([...path, e.name]));
  };
  collect([], tree.resolve([]));
  // Both devices' remove/online/uevent, the toy's reset and knob, every type's create (12), and the driver core's:
  // the bus's drivers_autoprobe/drivers_probe/uevent, each driver's bind/uevent/unbind and module uevent, each parent's
  // uevent and power/{async,autosuspend_delay_ms,control}, the same power files and uevent of each device and of its
  // vfio-dev/vfioN, and each IOMMU group's type (35).
  assert.equal(writable.length, 47, writable.join('\n'));
  for (const path of writable) {
    for (const bad of BAD) {
      await assert.rejects(write(tree, path, bad), (e: unknown) => isUmdevError(e), `${path} accepted ${JSON.stringify(bad)}`);
      assert.deepEqual(await snapshot(tree), before, `${path} <- ${JSON.stringify(bad)}`);
    }
  }
});
