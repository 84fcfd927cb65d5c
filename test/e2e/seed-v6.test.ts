/**
 * The seed v6 layout over FUSE, driven the way its documentation shows: plain shell writes to `mdev_create`,
 * `class/mdev/mdev_start`, `mdev_stop` and `mdev_destroy`, and a read of `mdev_supported_types`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Core } from '../../src/core/core.js';
import { createMttyParent } from '../../src/drivers/mtty/index.js';
import { busDriver, toy } from '../sysfs/fixtures.js';
import { mountSysfs, shell } from './harness.js';

const U1 = '0b5ab5c0-7a4d-4cfe-9d0b-2f1e3d4c5b6a';
const U2 = 'c0ffee00-1234-4abc-8def-0123456789ab';
const TOY = '$MNT/devices/pci0000:00/0000:00:02.0';

test('seed v6 through the shell: mdev_create, mdev_start, mdev_stop, mdev_destroy', async (t) => {
  const core = new Core();
  await core.registerDriver(busDriver());
  core.registerParent(createMttyParent());
  core.registerParent(toy());
  const m = await mountSysfs(t, core, 'v6');
  const env = { U1, U2 };
  const r = await shell(
    m,
    [
      `cat ${TOY}/mdev_supported_types`,
      `cat $MNT/devices/virtual/mtty/mtty/mdev_supported_types`,
      `echo "$U1:0" > ${TOY}/mdev_create`,
      `echo "$U2:3:toy-b,speed=9600" > ${TOY}/mdev_create`,
      `ls ${TOY}`,
      `cat ${TOY}/$U1-0/online`,
      `echo "$U1" > $MNT/class/mdev/mdev_start`,
      `cat ${TOY}/$U1-0/online`,
      `cat ${TOY}/$U2-3/uevent`,
      `readlink $MNT/bus/mdev/devices/$U2-3`,
      `echo "$U1" > $MNT/class/mdev/mdev_stop`,
      `cat ${TOY}/$U1-0/online`,
      `echo "$U1:0" > ${TOY}/mdev_destroy`,
      `ls $MNT/bus/mdev/devices`,
    ].join(' && '),
    env,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      'toy-a: first',
      'toy-b: second',
      'mtty-1',
      'mtty-2',
      `${U1}-0`,
      `${U2}-3`,
      'mdev_create',
      'mdev_destroy',
      'mdev_supported_types',
      '0',
      '1',
      'DRIVER=vfio_mdev',
      'MDEV_TYPE=toy-b',
      'MDEV_INSTANCE=3',
      `../../../devices/pci0000:00/0000:00:02.0/${U2}-3`,
      '0',
      `${U2}-3`,
      '',
    ].join('\n'),
  );
  assert.equal(core.device(U2)?.params, 'toy-b,speed=9600');
  assert.equal(core.device(U1), undefined);

  // coreutils echo/printf, not dash's builtins: those print "I/O error" for any failed write, hiding the errno.
  const errors: [string, RegExp][] = [
    [`/bin/echo "$U1" > ${TOY}/mdev_create`, /Invalid argument/],
    [`/bin/echo "$U1:x" > ${TOY}/mdev_create`, /Invalid argument/],
    [`/bin/echo "$U1:4294967296" > ${TOY}/mdev_create`, /Numerical result out of range/],
    [`/bin/echo "$U2:0" > ${TOY}/mdev_create`, /File exists/],
    [`/bin/echo "$U2:0" > ${TOY}/mdev_destroy`, /No such device/],
    [`/bin/echo "$U1" > $MNT/class/mdev/mdev_start`, /Invalid argument/],
    [`/bin/echo nonsense > $MNT/class/mdev/mdev_stop`, /Invalid argument/],
    [`cat $MNT/class/mdev/mdev_start`, /Permission denied/],
    [`/bin/echo x > ${TOY}/mdev_supported_types`, /Permission denied/],
  ];
  for (const [script, expected] of errors) {
    const e = await shell(m, script, env);
    assert.notEqual(e.code, 0, script);
    assert.match(e.stderr, expected, script);
  }
  const d = await shell(m, `echo "$U2:3" > ${TOY}/mdev_destroy`, env);
  assert.equal(d.code, 0, d.stderr);
  assert.deepEqual(await readdir(join(m.mnt, 'bus/mdev/devices')), []);
  assert.equal(core.devices().length, 0);
});
