/** The ResourceSlice schema check, the slices umdev-k8s builds, slot naming, preferred allocation and the config. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { preferredAllocation, containerAllocation } from '../../src/k8s/device-plugin/allocation.js';
import { defaultConfig, parseConfig, resolveResources } from '../../src/k8s/config.js';
import { Holdings } from '../../src/k8s/inventory/holdings.js';
import { Inventory } from '../../src/k8s/inventory/inventory.js';
import { PoolShapes } from '../../src/k8s/inventory/pools.js';
import { SlotIndex, slotId, slotUuid } from '../../src/k8s/inventory/slots.js';
import { buildSlices } from '../../src/k8s/dra/resource-slice.js';
import { poolProblems, resourceSliceProblems } from '../../src/k8s/dra/slice-schema.js';
import type { UmdevSnapshot } from '../../src/k8s/umdev/watch.js';
import { parseCommandLine } from '../../src/k8s/args.js';
import { createLogger } from '../../src/log.js';
import { StaticView, device, mttyTypes } from './static-view.js';

const FOREIGN = '5b0c2f9e-7a41-4d3c-9e1f-2a6b8c0d4e13';
const SNAP: UmdevSnapshot = { up: true, types: mttyTypes(), devices: [] };
const quiet = createLogger({ level: 'error', sink: { write: () => true } });

function inventory(snap: UmdevSnapshot, counters = true): Inventory {
  const cfg = defaultConfig({ NODE_NAME: 'node-a' }, 'h');
  return new Inventory(cfg, new StaticView(snap), new Holdings(), new PoolShapes(), quiet, { devicePlugin: false, dra: true, counters });
}

function good(): Record<string, unknown> {
  // Learn the whole pool first, then show one existing device (made with mdevctl).
  const inv = inventory(SNAP);
  inv.dra();
  return buildSlices('umdev.io', 'node-a', 1, inv.dra()).find((s) => s.spec.devices !== undefined) as unknown as Record<string, unknown>;
}

test('a built pool: valid resource.k8s.io/v1 slices, the counters in a slice of their own, every slot consuming its ports', () => {
  const slices = buildSlices('umdev.io', 'node-a', 1, inventory(SNAP).dra());
  for (const s of slices) assert.deepEqual(resourceSliceProblems(s), [], s.metadata.name);
  assert.deepEqual(poolProblems(slices), []);
  assert.equal(slices.length, 2);
  assert.deepEqual(slices[0]!.spec.sharedCounters, [{ name: 'mtty', counters: { units: { value: '24' } } }]);
  assert.equal(slices[0]!.spec.devices, undefined);
  const devices = slices[1]!.spec.devices!;
  assert.equal(devices.length, 24 + 12);
  const d2 = devices.find((d) => d.name === 'mtty-mtty-2-0')!;
  assert.deepEqual(d2.consumesCounters, [{ counterSet: 'mtty', counters: { units: { value: '2' } } }]);
  assert.deepEqual(d2.attributes.uuid, { string: slotUuid('mtty', 'mtty-2', 0) });
  assert.deepEqual(d2.attributes.slot, { bool: true });
  assert.ok(slices.every((s) => s.spec.pool.resourceSliceCount === 2 && s.spec.pool.generation === 1));
});

test('every set of slots the counters let the scheduler pick fits the pool (default mtty pool, enumerated)', () => {
  const slices = buildSlices('umdev.io', 'node-a', 1, inventory(SNAP).dra());
  const capacity = Number(slices[0]!.spec.sharedCounters![0]!.counters.units!.value);
  const cost = new Map(slices[1]!.spec.devices!.map((d) => [d.attributes.type && 'string' in d.attributes.type ? d.attributes.type.string : '', Number(d.consumesCounters![0]!.counters.units!.value)]));
  const count = (t: string): number => slices[1]!.spec.devices!.filter((d) => 'string' in d.attributes.type! && d.attributes.type.string === t).length;
  let sets = 0;
  for (let a = 0; a <= count('mtty-1'); a++) {
    for (let b = 0; b <= count('mtty-2'); b++) {
      if (a * cost.get('mtty-1')! + b * cost.get('mtty-2')! > capacity) continue;
      sets++;
      assert.ok(a + 2 * b <= 24, `${a} mtty-1 and ${b} mtty-2 take ${a + 2 * b} of 24 ports`);
    }
  }
  assert.equal(sets, 169);
});

test('an existing device is offered under its UUID, consumes nothing, and its ports come off the counter', () => {
  const inv = inventory(SNAP);
  inv.dra();
  const view = (inv.watch as StaticView);
  view.set({ up: true, types: mttyTypes(22), devices: [device(FOREIGN, 'mtty', 'mtty-2')] });
  const offer = inv.dra();
  assert.deepEqual(offer.counterSets, [{ name: 'mtty', parent: 'mtty', units: 22 }]);
  const f = offer.devices.find((d) => d.name === FOREIGN);
  assert.ok(f !== undefined && f.consumes === undefined && !f.slot);
  const slices = buildSlices('umdev.io', 'node-a', 3, offer);
  for (const s of slices) assert.deepEqual(resourceSliceProblems(s), []);
});

test('without shared counters the DRA side is a static partition that fits what is free', () => {
  const inv = inventory(SNAP, false);
  const offer = inv.dra();
  assert.equal(offer.counterSets.length, 0);
  const ports = offer.devices.reduce((n, d) => n + (d.type === 'mtty-2' ? 2 : 1), 0);
  assert.deepEqual([offer.devices.filter((d) => d.type === 'mtty-1').length, offer.devices.filter((d) => d.type === 'mtty-2').length], [12, 6]);
  assert.equal(ports, 24);
  (inv.watch as StaticView).set({ up: true, types: mttyTypes(20), devices: [device(FOREIGN, 'mtty', 'mtty-2'), device('6b0c2f9e-7a41-4d3c-9e1f-2a6b8c0d4e13', 'mtty', 'mtty-2')] });
  const after = inv.dra().devices.filter((d) => d.slot).reduce((n, d) => n + (d.type === 'mtty-2' ? 2 : 1), 0);
  assert.equal(after, 20, 'slots shrink by the ports two mdevctl devices took');
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
    ['bad quantity', (s) => ((s.spec as { devices: { capacity?: Record<string, unknown> }[] }).devices[0]!.capacity = { poolInstances: { value: '12 ports' } }), /quantity/],
    ['devices and sharedCounters in one slice', (s) => ((s.spec as Record<string, unknown>).sharedCounters = [{ name: 'mtty', counters: { units: { value: '24' } } }]), /only one of sharedCounters or devices/],
    ['65 devices consuming counters', (s) => { (s.spec as { devices: object[] }).devices = Array.from({ length: 65 }, (_, i) => ({ name: `d${i}`, consumesCounters: [{ counterSet: 'm', counters: { units: { value: '1' } } }] })); }, /at most 64/],
    ['three consumptions', (s) => ((s.spec as { devices: Record<string, unknown>[] }).devices[0]!.consumesCounters = ['a', 'b', 'c'].map((c) => ({ counterSet: c, counters: { units: { value: '1' } } }))), /at most 2 entries/],
    ['consumption of a set twice', (s) => ((s.spec as { devices: Record<string, unknown>[] }).devices[0]!.consumesCounters = ['a', 'a'].map((c) => ({ counterSet: c, counters: { units: { value: '1' } } }))), /duplicate counter set/],
    ['consumption without counters', (s) => ((s.spec as { devices: Record<string, unknown>[] }).devices[0]!.consumesCounters = [{ counterSet: 'a', counters: {} }]), /at least one counter/],
    ['counter name not a label', (s) => ((s.spec as { devices: Record<string, unknown>[] }).devices[0]!.consumesCounters = [{ counterSet: 'a', counters: { Units: { value: '1' } } }]), /DNS label/],
    ['counter value not a quantity', (s) => ((s.spec as { devices: Record<string, unknown>[] }).devices[0]!.consumesCounters = [{ counterSet: 'a', counters: { units: { value: 'two' } } }]), /quantity/],
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
  const counters = (sets: unknown): unknown => ({ ...good(), spec: { driver: 'umdev.io', nodeName: 'node-a', pool: { name: 'node-a', generation: 1, resourceSliceCount: 1 }, sharedCounters: sets } });
  const set = (name: string): object => ({ name, counters: { units: { value: '24' } } });
  assert.deepEqual(resourceSliceProblems(counters([set('mtty')])), []);
  assert.match(resourceSliceProblems(counters(Array.from({ length: 9 }, (_, i) => set(`s${i}`)))).join(), /at most 8/);
  assert.match(resourceSliceProblems(counters([set('a'), set('a')])).join(), /duplicate counter set/);
  assert.match(resourceSliceProblems(counters([set('Bad_Name')])).join(), /sharedCounters\[0\]\.name/);
  assert.match(resourceSliceProblems(counters([{ name: 'a', counters: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`c${i}`, { value: '1' }])) }])).join(), /at most 32 counters/);
  // Across a pool: a consumption must name a set and counter the pool has.
  const slices = buildSlices('umdev.io', 'node-a', 1, inventory(SNAP).dra());
  const broken = structuredClone(slices);
  (broken[1]!.spec.devices as unknown as { consumesCounters: { counterSet: string }[] }[])[0]!.consumesCounters[0]!.counterSet = 'other';
  assert.match(poolProblems(broken).join(), /counter set "other", which the pool lacks/);
  assert.match(poolProblems([slices[0]!, slices[0]!]).join(), /defined twice|resourceSliceCount/);
});

test('slots: stable names and name-based UUIDs, recognized again by UUID', () => {
  assert.equal(slotUuid('mtty', 'mtty-2', 0), slotUuid('mtty', 'mtty-2', 0));
  assert.notEqual(slotUuid('mtty', 'mtty-2', 0), slotUuid('mtty', 'mtty-2', 1));
  assert.match(slotUuid('mtty', 'mtty-2', 0), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(slotId('My Parent', 'x_y', 3), 'my-parent-x-y-3');
  assert.ok(slotId('p'.repeat(100), 't', 12).length <= 63);
  const slots = new SlotIndex();
  assert.equal(slots.indexOf('mtty', 'mtty-2', slotUuid('mtty', 'mtty-2', 7), 10), 7);
  assert.equal(slots.indexOf('mtty', 'mtty-2', slotUuid('mtty', 'mtty-2', 7), 5), undefined, 'beyond the bound');
  assert.equal(slots.indexOf('mtty', 'mtty-2', FOREIGN, 100), undefined);
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
  assert.deepEqual(resolveResources(c, SNAP.types), [{ name: 'umdev.io/serial', dynamic: false, api: 'both', types: [{ parent: 'mtty', type: 'mtty-2' }] }]);
  const pools = parseConfig({ pools: [{ parent: 'mtty', capacity: 24, consumes: { 'mtty-1': 1, 'mtty-2': 2 }, devicePluginSlots: { 'mtty-1': 4 }, draSlots: { 'mtty-2': 10 } }] }, base, '/');
  assert.equal(pools.pools?.[0]?.consumes?.get('mtty-2'), 2);
  assert.throws(() => parseConfig({ pools: [{ parent: 'mtty', capacity: 24, consumes: { 'mtty-1': 1, 'mtty-2': 2 }, devicePluginSlots: { 'mtty-1': 8 }, draSlots: { 'mtty-2': 9 } }] }, base, '/'), /take 26 units; the pool holds 24/);
  assert.throws(() => parseConfig(JSON.parse('{"pools": [{"parent": "mtty", "consumes": {"__proto__": 0}}], "dra": {"sharedCounters": "maybe"}}'), base, '/'), (e: Error) => {
    assert.match(e.message, /consumes\["__proto__"\]/);
    assert.match(e.message, /dra\.sharedCounters/);
    return true;
  });
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
