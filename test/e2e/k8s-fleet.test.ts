/**
 * Both APIs at once, as the shipped DaemonSet runs them, against a real umdevd: the test is the kubelet (device
 * plugin Registration, ListAndWatch, Allocate, pod resources; DRA prepare and unprepare) and the scheduler (it picks
 * claim devices from the published slices, counters included). A seeded random interleaving of 1,000 steps —
 * Allocate, NodePrepareResources, NodeUnprepareResources, a pod leaving — with two devices made with mdevctl's
 * API that both APIs offer, and hostile steps (Allocate of a device a claim holds, a claim on a device a pod holds).
 * After every step: no device has two consumers, no device a pod holds is in the slices, no device a claim holds is
 * listed by the device plugin, and every consumer's device exists.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { slotUuid } from '../../src/k8s/inventory/slots.js';
import { unary } from '../../src/k8s/kubelet-api/grpc-unix.js';
import type { AllocateResponse, NodePrepareResourcesResponse, NodeUnprepareResourcesResponse } from '../../src/k8s/kubelet-api/messages.js';
import { call } from '../daemon/helpers.js';
import { startAgent } from '../k8s/agent.js';
import { FakeApiServer } from '../k8s/fake-apiserver.js';
import { FakeKubelet, ListWatcher, draClients } from '../k8s/kubelet-role.js';
import { PoolModel } from '../k8s/scheduler.js';
import { start, stateDir } from './umdevd-process.js';

const NODE = 'node-a';
const STEPS = 1000;
const RESOURCES = ['umdev.io/mtty-mtty-1', 'umdev.io/mtty-mtty-2'] as const;
const FOREIGN = ['5b0c2f9e-7a41-4d3c-9e1f-2a6b8c0d4e13', '6c1d3a0f-8b52-4e4d-8f20-3b7c9d1e5f24'];

/** mulberry32: a small seeded generator, so a failing run can be repeated (the seed is printed). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** A device plugin ID as a UUID: a slot's name gives its slot UUID, any other ID is a UUID already. */
function idUuid(id: string): string {
  const m = /^mtty-(mtty-[12])-(\d+)$/.exec(id);
  return m === null ? id : slotUuid('mtty', m[1]!, Number(m[2]));
}

test('both APIs: 1,000 random steps never give one device to two consumers', async (t) => {
  const seed = Number(process.env.UMDEV_FLEET_SEED ?? Date.now() % 1_000_000);
  t.diagnostic(`seed ${seed} (UMDEV_FLEET_SEED=${seed} repeats this run)`);
  const rnd = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const ctx = await stateDir(t, 'umdev-k8s-fleet-');
  const daemon = await start(ctx, ['--no-mount']);
  for (const [i, uuid] of FOREIGN.entries()) {
    assert.equal((await call(daemon.url, 'POST', '/devices', { parent: 'mtty', type: i === 0 ? 'mtty-1' : 'mtty-2', uuid })).status, 201);
  }
  const api = new FakeApiServer();
  t.after(() => api.close());
  await api.start();
  const kubelet = new FakeKubelet(path.join(ctx.dir, 'kubelet'));
  t.after(() => kubelet.stop());
  await kubelet.start();
  const config = path.join(ctx.dir, 'k8s.json');
  // The pool's shape is configured: devices exist before the agent ever sees the pool whole.
  await writeFile(config, JSON.stringify({ releaseGraceMs: 2000, podResourcesPollMs: 100, pools: [{ parent: 'mtty', capacity: 24, consumes: { 'mtty-1': 1, 'mtty-2': 2 } }] }));
  const cdiDir = path.join(ctx.dir, 'cdi');
  await startAgent(t, ['--state-dir', ctx.dir, '--kubelet-dir', kubelet.dir, '--config', config, '--dra', '--node-name', NODE, '--kubeconfig', api.kubeconfig, '--cdi-dir', cdiDir, '--log-level', 'warn']);
  const deadline = Date.now() + 10_000;
  while (RESOURCES.some((r) => !kubelet.registrations.some((x) => x.resource_name === r)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const clients = new Map(
    RESOURCES.map((r) => {
      const c = kubelet.plugin(kubelet.registrations.find((x) => x.resource_name === r)!.endpoint);
      t.after(() => c.close());
      const w = new ListWatcher(c);
      t.after(() => w.close());
      return [r, { client: c, watch: w }];
    }),
  );
  const { dra, registration } = draClients(path.join(kubelet.dir, 'plugins_registry', 'umdev.io-reg.sock'), path.join(kubelet.dir, 'plugins', 'umdev.io', 'dra.sock'));
  t.after(() => (dra.close(), registration.close()));
  for (const { watch } of clients.values()) await watch.until((ds) => ds.length > 0);
  // The device plugin offers the existing devices once the pod resources API has answered; wait for the slices too.
  const slicesReady = Date.now() + 10_000;
  while (!api.slices.has(`${NODE}-umdev-io-1`) && Date.now() < slicesReady) await new Promise((r) => setTimeout(r, 50));

  /** Who consumes each device (by UUID) now: `pod N` or `claim N`. */
  const consumer = new Map<string, string>();
  const pods = new Map<string, { resource: string; ids: string[]; uuids: string[] }>();
  const claims = new Map<string, { uid: string; name: string; names: string[]; uuids: string[] }>();
  const podResources = (): void => {
    kubelet.held = new Map(RESOURCES.map((r) => [r, [...pods.values()].filter((p) => p.resource === r).flatMap((p) => p.ids)]));
  };
  const take = (who: string, uuids: readonly string[]): void => {
    for (const u of uuids) {
      const other = consumer.get(u);
      assert.equal(other, undefined, `${u} given to ${who} while ${other} holds it`);
      consumer.set(u, who);
    }
  };
  const counts = { allocate: 0, prepare: 0, unprepare: 0, release: 0, refusedAllocate: 0, refusedPrepare: 0 };
  let n = 0;

  const allocate = async (): Promise<void> => {
    const resource = pick(RESOURCES);
    const { client, watch } = clients.get(resource)!;
    const inUse = new Set([...pods.values()].flatMap((p) => p.ids));
    const free = watch.latest.filter((d) => d.health === 'Healthy' && !inUse.has(d.ID)).map((d) => d.ID);
    const k = Math.min(free.length, 1 + Math.floor(rnd() * 2));
    if (k === 0) return;
    const ids: string[] = [];
    while (ids.length < k) {
      const id = pick(free);
      if (!ids.includes(id)) ids.push(id);
    }
    const r = await unary<object, AllocateResponse>(client, 'Allocate', { container_requests: [{ devices_ids: ids }] });
    const uuids = r.container_responses[0]!.envs[`UMDEV_DEVICE_${resource.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`]!.split(',');
    assert.deepEqual(uuids, ids.map(idUuid));
    const pod = `pod ${n++}`;
    take(pod, uuids);
    pods.set(pod, { resource, ids, uuids });
    podResources();
    counts.allocate++;
  };

  const prepare = async (): Promise<void> => {
    const pool = new PoolModel(api.slices.values());
    const allocated = new Set([...claims.values()].flatMap((c) => c.names));
    const names = pool.pick(allocated, pick(['mtty-1', 'mtty-2']), 1 + Math.floor(rnd() * 2), rnd);
    if (names === undefined) return;
    const i = n++;
    const claim = { namespace: 'default', name: `c${i}`, uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` };
    api.addClaim(claim.namespace, claim.name, claim.uid, 'umdev.io', NODE, names);
    const r = await unary<object, NodePrepareResourcesResponse>(dra, 'NodePrepareResources', { claims: [claim] });
    assert.equal(r.claims[claim.uid]!.error, '', `the scheduler's pick ${names.join(', ')} is prepared`);
    const spec = JSON.parse(await readFile(path.join(cdiDir, `umdev.io-${claim.uid}.json`), 'utf8')) as { devices: { containerEdits: { mounts: { containerPath: string }[] } }[] };
    const uuids = spec.devices.map((d) => path.basename(d.containerEdits.mounts[0]!.containerPath, '.sock'));
    assert.deepEqual(uuids, names.map((x) => pool.byName.get(x)!.uuid));
    take(`claim ${i}`, uuids);
    claims.set(`claim ${i}`, { uid: claim.uid, name: claim.name, names, uuids });
    counts.prepare++;
  };

  const unprepare = async (): Promise<void> => {
    if (claims.size === 0) return;
    const key = pick([...claims.keys()]);
    const c = claims.get(key)!;
    const r = await unary<object, NodeUnprepareResourcesResponse>(dra, 'NodeUnprepareResources', { claims: [{ namespace: 'default', name: c.name, uid: c.uid }] });
    assert.equal(r.claims[c.uid]!.error, '');
    for (const u of c.uuids) consumer.delete(u);
    claims.delete(key);
    counts.unprepare++;
  };

  const release = (): void => {
    if (pods.size === 0) return;
    const key = pick([...pods.keys()]);
    for (const u of pods.get(key)!.uuids) consumer.delete(u);
    pods.delete(key);
    podResources();
    counts.release++;
  };

  /** A kubelet or scheduler working from a stale view: asks for a device the other API holds. */
  const hostile = async (): Promise<void> => {
    const claimed = [...claims.values()].flatMap((c) => c.names);
    const podHeld = [...pods.values()].flatMap((p) => p.uuids).filter((u) => FOREIGN.includes(u));
    if (claimed.length > 0 && rnd() < 0.5) {
      // Device plugin IDs and DRA device names are the same names: ask the device plugin for a claim's device.
      const name = pick(claimed);
      for (const resource of RESOURCES) {
        await assert.rejects(unary(clients.get(resource)!.client, 'Allocate', { container_requests: [{ devices_ids: [name] }] }), /ENODEV|EBUSY/);
      }
      counts.refusedAllocate++;
    } else if (podHeld.length > 0) {
      const i = n++;
      const claim = { namespace: 'default', name: `h${i}`, uid: `99999999-0000-4000-8000-${String(i).padStart(12, '0')}` };
      api.addClaim(claim.namespace, claim.name, claim.uid, 'umdev.io', NODE, [pick(podHeld)]);
      const r = await unary<object, NodePrepareResourcesResponse>(dra, 'NodePrepareResources', { claims: [claim] });
      assert.match(r.claims[claim.uid]!.error, /EBUSY|ENODEV/);
      counts.refusedPrepare++;
    }
  };

  const check = async (step: number): Promise<void> => {
    const slicesDevices = [...api.slices.values()].flatMap((s) => ((s.spec as { devices?: { attributes: { uuid?: { string: string } } }[] }).devices ?? []).map((d) => d.attributes.uuid?.string));
    const inSlices = new Set(slicesDevices);
    for (const p of pods.values()) for (const u of p.uuids) assert.ok(!inSlices.has(u), `step ${step}: ${u} held by a pod is in the ResourceSlices`);
    const listed = new Set([...clients.values()].flatMap(({ watch }) => watch.latest.map((d) => idUuid(d.ID))));
    for (const c of claims.values()) for (const u of c.uuids) assert.ok(!listed.has(u), `step ${step}: ${u} held by a claim is listed by the device plugin`);
    const devices = new Set(((await call(daemon.url, 'GET', '/devices')).body as { uuid: string }[]).map((d) => d.uuid));
    for (const [u, who] of consumer) assert.ok(devices.has(u), `step ${step}: ${who}'s device ${u} does not exist`);
  };

  for (let step = 0; step < STEPS; step++) {
    const x = rnd();
    if (x < 0.3) await allocate();
    else if (x < 0.6) await prepare();
    else if (x < 0.75) await unprepare();
    else if (x < 0.9) release();
    else await hostile();
    await check(step);
  }
  t.diagnostic(`steps: ${JSON.stringify(counts)}`);
  assert.ok(counts.allocate > 50 && counts.prepare > 50 && counts.refusedAllocate + counts.refusedPrepare > 10, JSON.stringify(counts));
});
