/** The shared inventory without a daemon: pool shapes learned, partitions, holds across the two APIs, hostile keys. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultConfig, parseConfig, type K8sConfig } from '../../src/k8s/config.js';
import { Holdings } from '../../src/k8s/inventory/holdings.js';
import { Inventory } from '../../src/k8s/inventory/inventory.js';
import { planPool } from '../../src/k8s/inventory/partition.js';
import { PoolShapes } from '../../src/k8s/inventory/pools.js';
import { slotUuid } from '../../src/k8s/inventory/slots.js';
import { createLogger } from '../../src/log.js';
import { StaticView, device, mttyTypes } from './static-view.js';

const quiet = createLogger({ level: 'error', sink: { write: () => true } });
const FOREIGN = '5b0c2f9e-7a41-4d3c-9e1f-2a6b8c0d4e13';

function both(cfg: K8sConfig = defaultConfig({ NODE_NAME: 'n' }, 'h')): { inv: Inventory; view: StaticView; holdings: Holdings } {
  const view = new StaticView({ up: true, types: mttyTypes(), devices: [] });
  const holdings = new Holdings();
  const inv = new Inventory(cfg, view, holdings, new PoolShapes(cfg.pools), quiet, { devicePlugin: true, dra: true, counters: true });
  return { inv, view, holdings };
}

test('pool shapes: learned from a whole pool, kept while devices exist, configured costs need no whole pool', () => {
  const shapes = new PoolShapes();
  assert.equal(shapes.observe({ up: true, types: mttyTypes(22), devices: [device(FOREIGN, 'mtty', 'mtty-2')] }), false, 'not whole: nothing learned');
  assert.equal(shapes.shape('mtty'), undefined);
  assert.equal(shapes.observe({ up: true, types: mttyTypes(), devices: [] }), true);
  assert.deepEqual(shapes.shape('mtty'), { parent: 'mtty', capacity: 24, consumes: new Map([['mtty-1', 1], ['mtty-2', 2]]) });
  const again = new PoolShapes([], shapes.saved());
  assert.equal(again.shape('mtty')?.capacity, 24, 'a saved shape is read back');
  const mbochs = new PoolShapes();
  mbochs.observe({ up: true, devices: [], types: [['small', 64], ['medium', 16], ['large', 4]].map(([id, n]) => ({ parent: 'mbochs', id: `mbochs-${id}`, name: String(id), deviceApi: 'vfio-pci', availableInstances: n as number })) });
  assert.deepEqual([...mbochs.shape('mbochs')!.consumes.values()], [1, 4, 16]);
  const single = new PoolShapes();
  single.observe({ up: true, types: [{ parent: 'p', id: 't', name: 't', deviceApi: 'vfio-pci', availableInstances: 4 }], devices: [] });
  assert.equal(single.shape('p')?.capacity, 4);
  // Devices listed with types read before they were made: never learned from (it would count them twice).
  single.observe({ up: true, types: [{ parent: 'p', id: 't', name: 't', deviceApi: 'vfio-pci', availableInstances: 4 }], devices: [device(FOREIGN, 'p', 't')] });
  assert.equal(single.shape('p')?.capacity, 4);
  const cfg = parseConfig({ pools: [{ parent: 'mtty', consumes: { 'mtty-1': 1, 'mtty-2': 2 } }, { parent: 'm2', capacity: 10, consumes: { a: 5 } }] }, defaultConfig({}, 'h'), '/');
  const configured = new PoolShapes(cfg.pools);
  configured.observe({ up: true, types: mttyTypes(22), devices: [device(FOREIGN, 'mtty', 'mtty-2')] });
  assert.equal(configured.shape('mtty'), undefined, 'capacity unknown until seen whole');
  configured.observe({ up: true, types: mttyTypes(24), devices: [] });
  assert.equal(configured.shape('mtty')?.capacity, 24);
  assert.deepEqual(configured.shape('m2'), { parent: 'm2', capacity: 10, consumes: new Map([['a', 5]]) });
});

test('partition: both APIs on one pool split it; configured slots are cut to fit; ranges never overlap', () => {
  const shape = { parent: 'mtty', capacity: 24, consumes: new Map([['mtty-1', 1], ['mtty-2', 2]]) };
  const p = planPool(shape, ['mtty-1', 'mtty-2'], ['mtty-1', 'mtty-2'], undefined, true);
  assert.deepEqual([...p.devicePlugin], [['mtty-1', { offset: 0, count: 6 }], ['mtty-2', { offset: 0, count: 3 }]]);
  assert.equal(p.devicePluginUnits, 12);
  assert.deepEqual([...p.dra], [['mtty-1', { offset: 6, count: 12 }], ['mtty-2', { offset: 3, count: 6 }]]);
  assert.equal(p.draUnits, 12);
  const alone = planPool(shape, ['mtty-1', 'mtty-2'], [], undefined, true);
  assert.equal(alone.devicePluginUnits, 24);
  const cut = planPool(shape, ['mtty-1', 'mtty-2'], [], { parent: 'mtty', devicePluginSlots: new Map([['mtty-1', 20], ['mtty-2', 10]]) }, true);
  assert.ok(cut.devicePluginUnits <= 24 && cut.problems.length === 1, JSON.stringify(cut));
  const fixed = planPool(shape, [], ['mtty-1', 'mtty-2'], { parent: 'mtty', draSlots: new Map([['mtty-1', 4], ['mtty-2', 2]]) }, false);
  assert.deepEqual([...fixed.dra.values()].map((r) => r.count), [4, 2]);
  assert.equal(fixed.draUnits, 8);
});

test('both APIs: disjoint slots; an existing device is offered to both and withdrawn from one when the other holds it', () => {
  const { inv, view, holdings } = both();
  inv.dra();
  view.set({ up: true, types: mttyTypes(23), devices: [device(FOREIGN, 'mtty', 'mtty-1')] });
  holdings.podResources([], Date.now(), 0);
  const dpIds = new Set(inv.devicePluginList('umdev.io/mtty-mtty-1').map((e) => e.uuid));
  const draIds = new Set(inv.dra().devices.map((d) => d.uuid));
  assert.deepEqual([...dpIds].filter((u) => draIds.has(u)), [FOREIGN], 'only the existing device is offered to both');
  const undo = holdings.allocate([{ resource: 'umdev.io/mtty-mtty-1', id: FOREIGN, uuid: FOREIGN, parent: 'mtty', type: 'mtty-1' }], Date.now());
  assert.ok(!inv.dra().devices.some((d) => d.uuid === FOREIGN), 'withdrawn from DRA');
  assert.throws(() => holdings.holdClaim('c1', { namespace: 'n', name: 'c', devices: [{ request: 'r', deviceName: FOREIGN, parent: 'mtty', type: 'mtty-1', uuid: FOREIGN, created: false }] }), /EBUSY|held by the device plugin/);
  undo();
  holdings.holdClaim('c1', { namespace: 'n', name: 'c', devices: [{ request: 'r', deviceName: FOREIGN, parent: 'mtty', type: 'mtty-1', uuid: FOREIGN, created: false }] });
  assert.ok(!inv.devicePluginList('umdev.io/mtty-mtty-1').some((e) => e.uuid === FOREIGN), 'withdrawn from the device plugin');
  assert.throws(() => holdings.allocate([{ resource: 'umdev.io/mtty-mtty-1', id: FOREIGN, uuid: FOREIGN }], Date.now()), /held by a DRA claim/);
});

test('device plugin: a held slot whose device is gone is unhealthy, never free; free slots fit what is left', () => {
  const { inv, view, holdings } = both();
  inv.dra();
  const u = slotUuid('mtty', 'mtty-2', 0);
  holdings.allocate([{ resource: 'umdev.io/mtty-mtty-2', id: 'mtty-mtty-2-0', uuid: u, parent: 'mtty', type: 'mtty-2' }], Date.now());
  view.set({ up: true, types: mttyTypes(22), devices: [device(u, 'mtty', 'mtty-2')] });
  assert.deepEqual(inv.devicePluginList('umdev.io/mtty-mtty-2').find((e) => e.uuid === u), { id: 'mtty-mtty-2-0', uuid: u, parent: 'mtty', type: 'mtty-2', slot: true, device: device(u, 'mtty', 'mtty-2'), held: true, healthy: true });
  view.set({ up: true, types: mttyTypes(24), devices: [] });
  const gone = inv.devicePluginList('umdev.io/mtty-mtty-2').find((e) => e.uuid === u);
  assert.ok(gone !== undefined && gone.held && !gone.healthy, JSON.stringify(gone));
  // Two devices made with mdevctl (4 ports) come off the DRA share first: the device plugin keeps its 12 ports.
  view.set({ up: true, types: mttyTypes(18), devices: [device(u, 'mtty', 'mtty-2'), device(FOREIGN, 'mtty', 'mtty-2'), device('6b0c2f9e-7a41-4d3c-9e1f-2a6b8c0d4e13', 'mtty', 'mtty-2')] });
  const ports = (list: readonly { type?: string; uuid: string; slot: boolean }[]): number => list.filter((e) => e.slot).reduce((n, e) => n + (e.type === 'mtty-2' ? 2 : 1), 0);
  assert.equal(ports([...inv.devicePluginList('umdev.io/mtty-mtty-1'), ...inv.devicePluginList('umdev.io/mtty-mtty-2')]), 12);
  assert.equal(inv.dra().counterSets[0]!.units, 8);
});

test('claim UIDs and IDs are data: __proto__, constructor, hasOwnProperty, toString are claims like any other', () => {
  const { holdings } = both();
  const names = ['__proto__', 'constructor', 'hasOwnProperty', 'toString'];
  names.forEach((uid, i) => holdings.holdClaim(uid, { namespace: 'n', name: uid, devices: [{ request: 'r', deviceName: `d${i}`, parent: 'mtty', type: 'mtty-1', uuid: slotUuid('mtty', 'mtty-1', 6 + i), created: true }] }));
  assert.deepEqual([...holdings.claims.keys()], names);
  assert.equal(holdings.holder(slotUuid('mtty', 'mtty-1', 6))?.by, '__proto__');
  assert.equal(holdings.holder('__proto__'), undefined);
  assert.equal(holdings.holder('constructor'), undefined);
  const json = JSON.parse(JSON.stringify({ claims: Object.fromEntries(holdings.claims) })) as { claims: Record<string, unknown> };
  assert.deepEqual(Object.keys(json.claims), names);
  for (const uid of names) holdings.releaseClaim(uid);
  assert.equal(holdings.claims.size, 0);
});
