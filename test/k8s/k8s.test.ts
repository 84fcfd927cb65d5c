/** The ResourceSlice schema check, the slices umdev-k8s builds, slot naming, preferred allocation and the config. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preferredAllocation, containerAllocation } from '../../src/k8s/allocation.js';
import { defaultConfig, parseConfig, resolveResources } from '../../src/k8s/config.js';
import { SlotIndex, slotId, slotUuid } from '../../src/k8s/inventory.js';
import { buildSlices, offeredForDra } from '../../src/k8s/resource-slice.js';
import { resourceSliceProblems } from '../../src/k8s/dra/slice-schema.js';
import type { UmdevSnapshot } from '../../src/k8s/umdev-watch.js';
import { parseCommandLine } from '../../src/k8s/args.js';

const SNAP: UmdevSnapshot = {
  up: true,
  types: [
    { parent: 'mtty', id: 'mtty-1', name: 'Single port serial', deviceApi: 'vfio-pci', availableInstances: 22 },
    { parent: 'mtty', id: 'mtty-2', name: 'Dual port serial', deviceApi: 'vfio-pci', availableInstances: 11 },
  ],
  devices: [
    {
      uuid: '5b0c2f9e-7a41-4d3c-9e1f-2a6b8c0d4e13',
      name: '5b0c2f9e-7a41-4d3c-9e1f-2a6b8c0d4e13',
      parent: 'mtty',
      type: 'mtty-2',
      state: 'active',
      online: true,
      iommuGroup: 0,
      driver: 'vfio-user',
      openCount: 0,
      socket: '/run/x.sock',
    },
  ],
};

const cfg = { resourcePrefix: 'umdev.io' };

function good(): Record<string, unknown> {
  return buildSlices('umdev.io', 'node-a', 1, SNAP, offeredForDra(cfg, SNAP, new SlotIndex('t')))[0] as unknown as Record<string, unknown>;
}

test('a built slice is a valid resource.k8s.io/v1 ResourceSlice with existing devices and free slots', () => {
  const s = good() as { spec: { devices: { name: string; attributes: Record<string, unknown> }[] } };
  assert.deepEqual(resourceSliceProblems(s), []);
  assert.equal(s.spec.devices.length, 22 + 11 + 1);
  const existing = s.spec.devices.find((d) => d.name === SNAP.devices[0]!.uuid);
  assert.deepEqual(existing?.attributes.uuid, { string: SNAP.devices[0]!.uuid });
  assert.deepEqual(existing?.attributes.slot, { bool: false });
});

test('the schema check refuses what the API server refuses', () => {
  const cases: [string, (s: Record<string, unknown>) => void, RegExp][] = [
    ['bad apiVersion', (s) => (s.apiVersion = 'resource.k8s.io/v1beta1'), /apiVersion/],
    ['device name not a DNS label', (s) => ((s.spec as { devices: { name: string }[] }).devices[0]!.name = 'Bad_Name'), /devices\[0\]\.name/],
    ['duplicate device', (s) => { const d = (s.spec as { devices: object[] }).devices; d.push({ ...d[0]! }); }, /duplicate/],
    ['129 devices', (s) => { (s.spec as { devices: object[] }).devices = Array.from({ length: 129 }, (_, i) => ({ name: `d${i}` })); }, /at most 128/],
    ['65 devices with taints', (s) => { (s.spec as { devices: object[] }).devices = Array.from({ length: 65 }, (_, i) => ({ name: `d${i}`, taints: [] })); }, /at most 64/],
    ['attribute name with two slashes', (s) => ((s.spec as { devices: { attributes: Record<string, unknown> }[] }).devices[0]!.attributes['a/b/c'] = { string: 'x' }), /attributes/],
    ['attribute id over 32', (s) => ((s.spec as { devices: { attributes: Record<string, unknown> }[] }).devices[0]!.attributes['x'.repeat(33)] = { bool: true }), /C identifier/],
    ['string over 64', (s) => ((s.spec as { devices: { attributes: Record<string, unknown> }[] }).devices[0]!.attributes.parent = { string: 'x'.repeat(65) }), /64/],
    ['two values', (s) => ((s.spec as { devices: { attributes: Record<string, unknown> }[] }).devices[0]!.attributes.parent = { string: 'x', bool: true }), /exactly one/],
    ['bad version', (s) => ((s.spec as { devices: { attributes: Record<string, unknown> }[] }).devices[0]!.attributes.v = { version: '1.2' }), /semantic/],
    ['bad quantity', (s) => ((s.spec as { devices: { capacity: Record<string, unknown> }[] }).devices[0]!.capacity.poolInstances = { value: '12 ports' }), /quantity/],
    ['33 attributes and capacities', (s) => { const d = (s.spec as { devices: { attributes: Record<string, unknown> }[] }).devices[0]!; for (let i = 0; i < 30; i++) d.attributes[`a${i}`] = { int: i }; }, /at most 32/],
    ['no node selection', (s) => delete (s.spec as Record<string, unknown>).nodeName, /exactly one of nodeName/],
    ['two node selections', (s) => ((s.spec as Record<string, unknown>).allNodes = true), /exactly one of nodeName/],
    ['zero slice count', (s) => ((s.spec as { pool: { resourceSliceCount: number } }).pool.resourceSliceCount = 0), /resourceSliceCount/],
    ['driver over 63', (s) => ((s.spec as { driver: string }).driver = `${'a'.repeat(60)}.io1`), /spec\.driver/],
    ['unknown field', (s) => ((s.spec as Record<string, unknown>).extra = 1), /unknown field/],
  ];
  for (const [what, mutate, expected] of cases) {
    const s = structuredClone(good());
    mutate(s);
    const problems = resourceSliceProblems(s);
    assert.ok(problems.some((p) => expected.test(p)), `${what}: ${JSON.stringify(problems)}`);
  }
});

test('slots: stable names and name-based UUIDs; an existing slot device keeps its slot name', () => {
  assert.equal(slotUuid('s', 'mtty', 'mtty-2', 0), slotUuid('s', 'mtty', 'mtty-2', 0));
  assert.notEqual(slotUuid('s', 'mtty', 'mtty-2', 0), slotUuid('other', 'mtty', 'mtty-2', 0));
  assert.match(slotUuid('s', 'mtty', 'mtty-2', 0), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(slotId('My Parent', 'x_y', 3), 'my-parent-x-y-3');
  assert.ok(slotId('p'.repeat(100), 't', 12).length <= 63);
  const slots = new SlotIndex('s');
  const u = slotUuid('s', 'mtty', 'mtty-2', 0);
  const snap: UmdevSnapshot = { ...SNAP, devices: [{ ...SNAP.devices[0]!, uuid: u }] };
  const offered = slots.offer(snap, SNAP.types[1]!, true);
  assert.deepEqual(offered.map((d) => d.id).slice(0, 3), ['mtty-mtty-2-0', 'mtty-mtty-2-1', 'mtty-mtty-2-2']);
  assert.equal(offered[0]!.device?.uuid, u);
  assert.equal(offered.length, 12);
  assert.equal(slots.offer(snap, SNAP.types[1]!, false).length, 1, 'a static type offers only what exists');
});

test('preferred allocation keeps devices on the parent of the must-include ones, else the fullest parent', () => {
  const parent = (id: string): string => id.split(':')[0]!;
  assert.deepEqual(preferredAllocation({ available_deviceIDs: ['a:1', 'b:1', 'b:2', 'a:2'], must_include_deviceIDs: ['a:2'], allocation_size: 2 }, parent), ['a:2', 'a:1']);
  assert.deepEqual(preferredAllocation({ available_deviceIDs: ['a:1', 'b:1', 'b:2', 'b:3'], must_include_deviceIDs: [], allocation_size: 2 }, parent), ['b:1', 'b:2']);
  assert.deepEqual(preferredAllocation({ available_deviceIDs: ['a:1', 'b:1'], must_include_deviceIDs: [], allocation_size: 2 }, parent).length, 2);
});

test('Allocate answer: socket mounts and UMDEV_ environment', () => {
  const r = containerAllocation('umdev.io/mtty-mtty-2', '/var/run/umdev', [{ uuid: 'ab-cd', socket: '/h/ab-cd.sock' }]);
  assert.deepEqual(r.envs, { UMDEV_DEVICE_UMDEV_IO_MTTY_MTTY_2: 'ab-cd', UMDEV_SOCKET_AB_CD: '/var/run/umdev/ab-cd.sock' });
  assert.deepEqual(r.mounts, [{ container_path: '/var/run/umdev/ab-cd.sock', host_path: '/h/ab-cd.sock', read_only: false }]);
});

test('config: rules map types onto resources; bad fields are reported with their path', () => {
  const base = defaultConfig({ NODE_NAME: 'n1' }, 'host');
  assert.equal(base.dra.nodeName, 'n1');
  assert.deepEqual(resolveResources(base, SNAP.types).map((r) => r.name), ['umdev.io/mtty-mtty-1', 'umdev.io/mtty-mtty-2']);
  const c = parseConfig({ resources: [{ type: 'mtty-2', name: 'serial', dynamic: false }] }, base, '/');
  assert.deepEqual(resolveResources(c, SNAP.types), [{ name: 'umdev.io/serial', dynamic: false, types: [{ parent: 'mtty', type: 'mtty-2' }] }]);
  assert.throws(() => parseConfig({ resources: [{ type: 'x', name: 'no/slash' }], dra: { driver: 'Bad Name' }, bogus: 1 }, base, '/'), (e: Error) => {
    assert.match(e.message, /resources\[0\]\.name/);
    assert.match(e.message, /dra\.driver/);
    assert.match(e.message, /bogus: unknown key/);
    return true;
  });
});

test('command line', () => {
  assert.deepEqual(parseCommandLine(['--help']), { kind: 'help' });
  const r = parseCommandLine(['--dra', '--node-name', 'n', '--no-device-plugin', '--dry-run']);
  assert.equal(r.kind, 'run');
  assert.ok(r.kind === 'run' && r.dra === true && r.devicePlugin === false && r.dryRun && r.nodeName === 'n');
  assert.throws(() => parseCommandLine(['--nope']), /Unknown option/);
  assert.throws(() => parseCommandLine(['--log-level', 'loud']), /log-level/);
});
