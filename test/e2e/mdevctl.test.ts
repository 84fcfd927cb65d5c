/**
 * The real mdevctl (Debian package, /usr/bin/mdevctl) against umdev's sysfs tree over FUSE, bind-mounted over /sys
 * in a private mount namespace. Expected outputs are golden files in test/e2e/data/ with UUIDs filled in here.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Core } from '../../src/core/core.js';
import { createMttyParent } from '../../src/drivers/mtty/index.js';
import { busDriver, toy, type ToyState } from '../sysfs/fixtures.js';
import { type Mounted, golden, hostSysIsSysfs, mdevctl, mountSysfs, onFirstRead, shell } from './harness.js';
import type { AttrTree } from '../../src/fuse/attr-tree.js';

const U1 = '0b5ab5c0-7a4d-4cfe-9d0b-2f1e3d4c5b6a';
const U2 = 'c0ffee00-1234-4abc-8def-0123456789ab';
const U3 = 'deadbeef-0000-4000-8000-000000000003';
const U4 = 'deadbeef-0000-4000-8000-000000000004';
const TOY = '0000:00:02.0';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A core with the mtty driver (`ports` ports), the toy parent (core pool of 2) and a bus driver. */
async function setup(t: TestContext, opts: { ports?: number; wrap?: (core: Core) => (tree: AttrTree) => AttrTree } = {}): Promise<Mounted> {
  const core = new Core();
  await core.registerDriver(busDriver());
  core.registerParent(createMttyParent({ ports: opts.ports ?? 24 }));
  core.registerParent(toy());
  return mountSysfs(t, core, 'mainline', opts.wrap?.(core));
}

/** mdevctl's `list` output: one line per device, then an empty line (also when nothing is listed). */
function listing(...lines: string[]): string {
  return `${lines.map((l) => `${l}\n`).join('')}\n`;
}

function ok(r: { code: number; stdout: string; stderr: string }, what: string): string {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

test('types: text, --dumpjson and -p, as golden files', async (t) => {
  const m = await setup(t);
  assert.equal(ok(await mdevctl(m, 'types'), 'types'), await golden('types.text'));
  assert.deepEqual(JSON.parse(ok(await mdevctl(m, 'types', '--dumpjson'), 'types --dumpjson')), JSON.parse(await golden('types.json')));
  assert.equal(ok(await mdevctl(m, 'types', '-p', 'mtty'), 'types -p'), await golden('types-mtty.text'));
  assert.equal(ok(await mdevctl(m, 'types', '-p', 'nosuch'), 'types -p nosuch'), '\n');
  // available_instances follows the core: one dual-port device takes two of the 24 ports.
  await m.core.create('mtty', 'mtty-2', U1);
  assert.match(ok(await mdevctl(m, 'types', '-p', 'mtty'), 'types'), /mtty-1\n {4}Available instances: 22\n[^]*mtty-2\n {4}Available instances: 11\n/);
  assert.ok(await hostSysIsSysfs(), 'the bind mount over /sys stayed inside the namespace');
});

test('start, list (every form) and stop', async (t) => {
  const m = await setup(t);
  assert.equal(ok(await mdevctl(m, 'start', '-p', 'mtty', '-t', 'mtty-1', '-u', U1), 'start -u'), '');
  assert.equal(m.core.device(U1)?.type.id, 'mtty-1');
  const generated = ok(await mdevctl(m, 'start', '-p', TOY, '-t', 'toy-b'), 'start without -u').trim();
  assert.match(generated, UUID_RE, 'a generated UUID is printed');
  assert.equal(m.core.device(generated)?.type.id, 'toy-b');
  const vars = { U1, G: generated };
  assert.equal(ok(await mdevctl(m, 'list'), 'list'), await golden('list.text', vars));
  assert.deepEqual(JSON.parse(ok(await mdevctl(m, 'list', '--dumpjson'), 'list --dumpjson')), JSON.parse(await golden('list.json', vars)));
  assert.equal(ok(await mdevctl(m, 'list', '-v'), 'list -v'), await golden('list.text', vars));
  assert.equal(ok(await mdevctl(m, 'list', '-p', 'mtty'), 'list -p'), listing(`${U1} mtty mtty-1 manual`));
  assert.equal(ok(await mdevctl(m, 'list', '-u', U1), 'list -u'), listing(`${U1} mtty mtty-1 manual`));
  assert.deepEqual(JSON.parse(ok(await mdevctl(m, 'list', '-u', U1, '--dumpjson'), 'list -u --dumpjson')), { mdev_type: 'mtty-1', start: 'manual', attrs: [] });
  assert.equal(ok(await mdevctl(m, 'list', '-d'), 'list -d'), listing());
  assert.equal(ok(await mdevctl(m, 'list', '-p', 'nosuch'), 'list -p nosuch'), listing());
  assert.equal(ok(await mdevctl(m, 'list', '-u', generated), 'list'), listing(`${generated} ${TOY} toy-b manual`));

  assert.equal(ok(await mdevctl(m, 'stop', '-u', U1), 'stop'), '');
  assert.equal(m.core.device(U1), undefined, 'gone when stop returns');
  const again = await mdevctl(m, 'stop', '-u', U1);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /No such file or directory \(os error 2\)/);
  ok(await mdevctl(m, 'stop', '-u', generated), 'stop generated');
  assert.equal(m.core.devices().length, 0);
  assert.equal(ok(await mdevctl(m, 'list'), 'list'), listing());
});

test('define, modify, start -u with attributes, list -d, undefine', async (t) => {
  const m = await setup(t);
  ok(await mdevctl(m, 'define', '-u', U3, '-p', TOY, '-t', 'toy-a'), 'define');
  ok(await mdevctl(m, 'modify', '-u', U3, '--addattr', 'knob', '--value', '42'), 'modify --addattr');
  ok(await mdevctl(m, 'modify', '-u', U3, '--auto'), 'modify --auto');
  const saved = JSON.parse(await readFile(join(m.etc, TOY, U3), 'utf8'));
  assert.deepEqual(saved, { mdev_type: 'toy-a', start: 'auto', attrs: [{ knob: '42' }] });
  assert.equal(ok(await mdevctl(m, 'list', '-d'), 'list -d'), listing(`${U3} ${TOY} toy-a auto`));

  // The attribute is written right after the create write returns: the device and its files must be there.
  ok(await mdevctl(m, 'start', '-u', U3), 'start -u of a definition');
  const d = m.core.device(U3);
  assert.equal((d?.driverData as ToyState | undefined)?.knob, 42);
  assert.equal(ok(await mdevctl(m, 'list'), 'list'), listing(`${U3} ${TOY} toy-a auto (defined)`));
  assert.equal(ok(await mdevctl(m, 'list', '-v'), 'list -v'), await golden('list-verbose.text', { U3 }));
  assert.equal(ok(await mdevctl(m, 'list', '-d'), 'list -d'), listing(`${U3} ${TOY} toy-a auto (active)`));

  // define -u of an active device takes parent and type from sysfs (realpath of the bus link and mdev_type).
  ok(await mdevctl(m, 'start', '-p', 'mtty', '-t', 'mtty-2', '-u', U4), 'start');
  ok(await mdevctl(m, 'define', '-u', U4), 'define -u <active>');
  assert.deepEqual(JSON.parse(await readFile(join(m.etc, 'mtty', U4), 'utf8')), { mdev_type: 'mtty-2', start: 'manual', attrs: [] });
  const generated = ok(await mdevctl(m, 'define', '-p', 'mtty', '-t', 'mtty-1'), 'define without -u').trim();
  assert.match(generated, UUID_RE);

  ok(await mdevctl(m, 'stop', '-u', U3), 'stop');
  ok(await mdevctl(m, 'undefine', '-u', U3), 'undefine');
  ok(await mdevctl(m, 'undefine', '-u', U4), 'undefine');
  ok(await mdevctl(m, 'undefine', '-u', generated), 'undefine');
  assert.equal(ok(await mdevctl(m, 'list', '-d'), 'list -d'), listing());
  const notDefined = await mdevctl(m, 'modify', '-u', U3, '--auto');
  assert.equal(notDefined.code, 1);
  assert.match(notDefined.stderr, /is not defined/);
});

test('a refused attribute write makes mdevctl roll the device back through remove', async (t) => {
  const m = await setup(t);
  ok(await mdevctl(m, 'define', '-u', U1, '-p', 'mtty', '-t', 'mtty-1'), 'define');
  ok(await mdevctl(m, 'modify', '-u', U1, '--addattr', 'vendor/sample_mdev_dev', '--value', 'x'), 'modify');
  const r = await mdevctl(m, 'start', '-u', U1);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Failed to write x to attribute vendor\/sample_mdev_dev/);
  assert.match(r.stderr, /Permission denied \(os error 13\)/);
  assert.equal(m.core.device(U1), undefined, 'rolled back');
  ok(await mdevctl(m, 'modify', '-u', U1, '--delattr', '-i', '0'), 'delattr');
  ok(await mdevctl(m, 'modify', '-u', U1, '--addattr', 'nosuch', '--value', 'x'), 'modify');
  const r2 = await mdevctl(m, 'start', '-u', U1);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /Invalid attribute 'nosuch'/);
  assert.equal(m.core.devices().length, 0, 'rolled back');
});

test('start-parent-mdevs starts the auto definitions of one parent', async (t) => {
  const m = await setup(t);
  ok(await mdevctl(m, 'define', '-u', U1, '-p', 'mtty', '-t', 'mtty-1', '--auto'), 'define');
  ok(await mdevctl(m, 'define', '-u', U2, '-p', 'mtty', '-t', 'mtty-2'), 'define manual');
  ok(await mdevctl(m, 'define', '-u', U3, '-p', TOY, '-t', 'toy-a', '--auto'), 'define other parent');
  ok(await mdevctl(m, 'start-parent-mdevs', 'mtty'), 'start-parent-mdevs');
  assert.deepEqual(
    m.core.devices().map((d) => d.uuid),
    [U1],
  );
  assert.equal(ok(await mdevctl(m, 'list'), 'list'), listing(`${U1} mtty mtty-1 auto (defined)`));
  // A second run finds the device active: the failure is only logged, the exit is still 0.
  const again = await mdevctl(m, 'start-parent-mdevs', 'mtty');
  assert.equal(again.code, 0);
  assert.match(again.stderr, /WARN/);
});

test('errors: the kernel errno reaches mdevctl\'s message (EEXIST, ENOSPC, EUSERS) and nothing leaks', async (t) => {
  await t.test('duplicate UUID created between the check and the write: EEXIST', async (t) => {
    const pending: Promise<unknown>[] = [];
    const m = await setup(t, { wrap: (core) => onFirstRead('mtty-1/available_instances', () => pending.push(core.create('mtty', 'mtty-2', U2))) });
    const r = await mdevctl(m, 'start', '-p', 'mtty', '-t', 'mtty-1', '-u', U2);
    await Promise.all(pending);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`Failed to create mdev ${U2}, type mtty-1 on mtty`));
    assert.match(r.stderr, /File exists \(os error 17\)/);
    assert.equal(m.core.device(U2)?.type.id, 'mtty-2', 'the first one stays');
  });
  await t.test('mtty out of ports: ENOSPC', async (t) => {
    const pending: Promise<unknown>[] = [];
    const m = await setup(t, { ports: 1, wrap: (core) => onFirstRead('mtty-1/available_instances', () => pending.push(core.create('mtty', 'mtty-1', U2))) });
    const r = await mdevctl(m, 'start', '-p', 'mtty', '-t', 'mtty-1', '-u', U1);
    await Promise.all(pending);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /No space left on device \(os error 28\)/);
    assert.deepEqual(m.core.devices().map((d) => d.uuid), [U2]);
  });
  await t.test('core pool exhausted: EUSERS', async (t) => {
    const pending: Promise<unknown>[] = [];
    const m = await setup(t, { wrap: (core) => onFirstRead('toy-a/available_instances', () => pending.push(core.create(TOY, 'toy-b', U2))) });
    await m.core.create(TOY, 'toy-a', U3);
    const r = await mdevctl(m, 'start', '-p', TOY, '-t', 'toy-a', '-u', U1);
    await Promise.all(pending);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Too many users \(os error 87\)/);
    assert.equal(m.core.device(U1), undefined);
    // Now the tree itself says 0, and mdevctl refuses before writing.
    const r2 = await mdevctl(m, 'start', '-p', TOY, '-t', 'toy-a', '-u', U1);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /No available instances of toy-a on 0000:00:02.0/);
  });
  await t.test('mdevctl\'s own checks read the tree: bad UUID, existing device, unknown parent and type', async (t) => {
    const m = await setup(t);
    const bad = await mdevctl(m, 'start', '-p', 'mtty', '-t', 'mtty-1', '-u', 'not-a-uuid');
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /not-a-uuid/);
    ok(await mdevctl(m, 'start', '-p', 'mtty', '-t', 'mtty-1', '-u', U1), 'start');
    const dup = await mdevctl(m, 'start', '-p', 'mtty', '-t', 'mtty-1', '-u', U1);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /Device already exists/);
    const otherType = await mdevctl(m, 'start', '-p', 'mtty', '-t', 'mtty-2', '-u', U1);
    assert.match(otherType.stderr, /Device exists with different type/);
    const noParent = await mdevctl(m, 'start', '-p', 'MTTY', '-t', 'mtty-1');
    assert.match(noParent.stderr, /Unable to find parent device 'MTTY'. Did you mean 'mtty'\?/);
    const noType = await mdevctl(m, 'start', '-p', 'mtty', '-t', 'mtty-9');
    assert.match(noType.stderr, /Parent mtty does not support mdev type mtty-9/);
    assert.deepEqual(m.core.devices().map((d) => d.uuid), [U1]);
  });
  assert.ok(await hostSysIsSysfs());
});

test('the mounted tree through a plain shell: create, links, remove, errnos, nothing dangling', async (t) => {
  const m = await setup(t);
  const M1 = '$MNT/devices/virtual/mtty/mtty/mdev_supported_types/mtty-1';
  const r = await shell(
    m,
    [
      `echo ${U1} > ${M1}/create`,
      `cat ${M1}/available_instances`,
      `readlink $MNT/bus/mdev/devices/${U1}`,
      `readlink $MNT/class/mdev_bus/mtty`,
      `basename $(realpath $MNT/bus/mdev/devices/${U1}/mdev_type)`,
      `cat $MNT/bus/mdev/devices/${U1}/vendor/sample_mdev_dev`,
      `cat $MNT/bus/mdev/devices/${U1}/uevent`,
      `ls $(realpath $MNT/bus/mdev/devices/${U1}/iommu_group)/devices`,
      `find $MNT -xtype l | wc -l`,
      `echo 0 > $MNT/bus/mdev/devices/${U1}/remove && ls $MNT/bus/mdev/devices`,
      `echo 1 > $MNT/bus/mdev/devices/${U1}/remove && ls $MNT/bus/mdev/devices | wc -l`,
    ].join(' && '),
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    [
      '23',
      `../../../devices/virtual/mtty/mtty/${U1}`,
      '../../devices/virtual/mtty/mtty',
      'mtty-1',
      `This is MDEV ${U1}`,
      // The vendor's driver, whichever bus driver serves it; 6.12's mdev bus adds no MDEV_TYPE=.
      'DRIVER=mtty',
      U1,
      '0',
      U1,
      '0',
      '',
    ].join('\n'),
  );
  // coreutils echo/printf, not dash's builtins: those print "I/O error" for any failed write, hiding the errno.
  const errors: [string, RegExp][] = [
    [`/bin/echo bad > ${M1}/create`, /Invalid argument/],
    [`/usr/bin/printf %s ${U1}xx > ${M1}/create`, /Invalid argument/],
    [`/bin/echo 1 > ${M1}/available_instances`, /Permission denied/],
    [`cat ${M1}/create`, /Permission denied/],
    [`/bin/echo 1 > ${M1}/newfile`, /Permission denied/],
  ];
  for (const [script, expected] of errors) {
    const e = await shell(m, script);
    assert.notEqual(e.code, 0, script);
    assert.match(e.stderr, expected, script);
  }
  assert.equal(m.core.devices().length, 0);
  assert.deepEqual(await readdir(join(m.mnt, 'bus/mdev/devices')), []);
});
