/**
 * umdev-k8s's DRA kubelet plugin against a real umdevd, with the test as the kubelet (plugin watcher registration
 * and the DRAPlugin service over real Unix sockets) and a small https API server holding the ResourceClaim and
 * receiving the ResourceSlice: GetInfo → NotifyRegistrationStatus → NodePrepareResources → the vfio-user client
 * opens the socket named in the CDI spec → NodeUnprepareResources, both idempotent, and the pool is whole after.
 */
import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { Client } from '@grpc/grpc-js';
import { unary } from '../../src/k8s/kubelet-api/grpc-unix.js';
import type { NodePrepareResourcesResponse, NodeUnprepareResourcesResponse, PluginInfo } from '../../src/k8s/kubelet-api/messages.js';
import { poolProblems, resourceSliceProblems } from '../../src/k8s/dra/slice-schema.js';
import { slotUuid } from '../../src/k8s/inventory/slots.js';
import { VfioUserClient } from '../../src/vfio-user/client.js';
import { call } from '../daemon/helpers.js';
import { startAgent } from '../k8s/agent.js';
import { FakeApiServer } from '../k8s/fake-apiserver.js';
import { draClients } from '../k8s/kubelet-role.js';
import { PoolModel } from '../k8s/scheduler.js';
import { start, stateDir, type RunningDaemon } from './umdevd-process.js';

const CLAIM = { namespace: 'default', name: 'vm-serial', uid: '0f6f2a7e-3d1b-4c55-9a0e-7b8c9d0e1f2a' };
const NODE = 'node-a';

async function until<T>(f: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('DRA: register, publish a valid ResourceSlice, prepare (CDI socket opens), unprepare, pool whole', async (t) => {
  const ctx = await stateDir(t, 'umdev-k8s-dra-');
  const daemon = await start(ctx, ['--no-mount']);
  const api = new FakeApiServer();
  t.after(() => api.close());
  await api.start();
  const kubeletDir = path.join(ctx.dir, 'kubelet');
  const cdiDir = path.join(ctx.dir, 'cdi');
  await startAgent(t, ['--state-dir', ctx.dir, '--kubelet-dir', kubeletDir, '--no-device-plugin', '--dra', '--node-name', NODE, '--kubeconfig', api.kubeconfig, '--cdi-dir', cdiDir]);

  // The plugin watcher's side.
  const { registration, dra } = draClients(path.join(kubeletDir, 'plugins_registry', 'umdev.io-reg.sock'), path.join(kubeletDir, 'plugins', 'umdev.io', 'dra.sock'));
  t.after(() => (registration.close(), dra.close()));
  const info = await unary<object, PluginInfo>(registration, 'GetInfo', {});
  assert.deepEqual({ ...info, supported_versions: [...info.supported_versions] }, {
    type: 'DRAPlugin',
    name: 'umdev.io',
    endpoint: path.join(kubeletDir, 'plugins', 'umdev.io', 'dra.sock'),
    supported_versions: ['v1.DRAPlugin'],
  });
  await unary(registration, 'NotifyRegistrationStatus', { plugin_registered: true, error: '' });

  // The node's pool: valid resource.k8s.io/v1 slices, mtty's 24 ports as a shared counter in a slice of its own, and
  // 24 mtty-1 and 12 mtty-2 slots consuming 1 and 2 of them.
  const slice = await until(() => api.slices.get(`${NODE}-umdev-io-1`), 'the ResourceSlices');
  const counters = api.slices.get(`${NODE}-umdev-io-0`)!;
  for (const s of api.slices.values()) assert.deepEqual(resourceSliceProblems(s), []);
  assert.deepEqual(poolProblems([...api.slices.values()]), []);
  assert.deepEqual(api.refused, []);
  assert.deepEqual((counters.spec as { sharedCounters: unknown }).sharedCounters, [{ name: 'mtty', counters: { units: { value: '24' } } }]);
  const spec = slice.spec as { nodeName: string; pool: { name: string; resourceSliceCount: number }; devices: { name: string; attributes: Record<string, unknown>; consumesCounters: unknown }[] };
  assert.equal(spec.nodeName, NODE);
  assert.equal(spec.pool.name, NODE);
  assert.equal(spec.pool.resourceSliceCount, 2);
  assert.equal(spec.devices.length, 36);
  const slot = spec.devices.find((d) => d.name === 'mtty-mtty-2-0');
  assert.deepEqual(slot?.attributes, {
    parent: { string: 'mtty' },
    type: { string: 'mtty-2' },
    typeName: { string: 'Dual port serial' },
    deviceApi: { string: 'vfio-pci' },
    uuid: { string: slotUuid('mtty', 'mtty-2', 0) },
    slot: { bool: true },
  });
  assert.deepEqual(slot?.consumesCounters, [{ counterSet: 'mtty', counters: { units: { value: '2' } } }]);

  // The scheduler allocated slot mtty-mtty-2-0 to the claim; the kubelet prepares it.
  api.addClaim(CLAIM.namespace, CLAIM.name, CLAIM.uid, 'umdev.io', NODE, ['mtty-mtty-2-0']);
  const prep = await unary<object, NodePrepareResourcesResponse>(dra, 'NodePrepareResources', { claims: [CLAIM] });
  const r = prep.claims[CLAIM.uid]!;
  assert.equal(r.error, '');
  assert.equal(r.devices.length, 1);
  const dev = r.devices[0]!;
  assert.equal(dev.pool_name, NODE);
  assert.equal(dev.device_name, 'mtty-mtty-2-0');
  assert.deepEqual([...dev.request_names], ['vm']);
  assert.deepEqual([...dev.cdi_device_ids], [`umdev.io/vfio-user=${CLAIM.uid}-mtty-mtty-2-0`]);

  // The CDI spec mounts the device's socket; the vfio-user client opens it and negotiates.
  const cdiFile = path.join(cdiDir, `umdev.io-${CLAIM.uid}.json`);
  const cdi = JSON.parse(await readFile(cdiFile, 'utf8')) as {
    cdiVersion: string;
    kind: string;
    devices: { name: string; containerEdits: { env: string[]; mounts: { hostPath: string; containerPath: string }[] } }[];
  };
  assert.equal(cdi.kind, 'umdev.io/vfio-user');
  assert.equal(cdi.devices[0]!.name, `${CLAIM.uid}-mtty-mtty-2-0`);
  const mount = cdi.devices[0]!.containerEdits.mounts[0]!;
  const uuid = path.basename(mount.containerPath, '.sock');
  assert.equal(((await call(daemon.url, 'GET', `/devices/${uuid}`)).body as { socket: string }).socket, mount.hostPath);
  assert.ok(cdi.devices[0]!.containerEdits.env.includes(`UMDEV_SOCKET_${uuid.toUpperCase().replace(/-/g, '_')}=${mount.containerPath}`));
  const vfu = await VfioUserClient.connect(mount.hostPath);
  assert.ok(vfu.serverVersion);
  vfu.close();
  await vfu.whenClosed();

  assert.equal(uuid, slotUuid('mtty', 'mtty-2', 0), 'the slot\'s device has the UUID the slice announced');

  // Prepare again (the kubelet retries): the same answer, no second device.
  const again = await unary<object, NodePrepareResourcesResponse>(dra, 'NodePrepareResources', { claims: [CLAIM] });
  assert.deepEqual(JSON.parse(JSON.stringify(again)), JSON.parse(JSON.stringify(prep)));
  assert.equal(((await call(daemon.url, 'GET', '/devices')).body as unknown[]).length, 1);

  // Two claims that cannot be prepared fail alone, each with its reason, in the same call as one that can: a claim
  // the API server does not know, and one allocated a device this node's pool does not have. Results for another
  // node's pool are that node's plugin's: a claim with only those is prepared here with no devices.
  api.addClaim('default', 'ghost', 'g', 'umdev.io', NODE, ['mtty-mtty-9-0']);
  api.addClaim('default', 'elsewhere', 'e', 'umdev.io', 'node-b', ['mtty-mtty-1-0']);
  const claims = [{ namespace: 'default', name: 'missing', uid: 'x' }, { namespace: 'default', name: 'ghost', uid: 'g' }, CLAIM, { namespace: 'default', name: 'elsewhere', uid: 'e' }];
  const mixed = await unary<object, NodePrepareResourcesResponse>(dra, 'NodePrepareResources', { claims });
  assert.match(mixed.claims.x!.error, /ENOENT/);
  assert.match(mixed.claims.g!.error, /ENODEV/);
  assert.match(mixed.claims.g!.error, /mtty-mtty-9-0/);
  assert.equal(mixed.claims[CLAIM.uid]!.error, '', 'the good claim is answered beside them');
  assert.deepEqual(JSON.parse(JSON.stringify(mixed.claims[CLAIM.uid])), JSON.parse(JSON.stringify(prep.claims[CLAIM.uid])));
  assert.equal(mixed.claims.e!.error, '');
  assert.deepEqual([...(mixed.claims.e!.devices ?? [])], []);
  assert.equal(((await call(daemon.url, 'GET', '/devices')).body as unknown[]).length, 1, 'no device made for the failed claims');
  assert.equal((await unary<object, NodeUnprepareResourcesResponse>(dra, 'NodeUnprepareResources', { claims: [{ namespace: 'default', name: 'elsewhere', uid: 'e' }] })).claims.e!.error, '');

  // Unprepare: the device, the spec and the record go; a second unprepare is fine; the pool is whole.
  const un = await unary<object, NodeUnprepareResourcesResponse>(dra, 'NodeUnprepareResources', { claims: [CLAIM] });
  assert.equal(un.claims[CLAIM.uid]!.error, '');
  assert.equal((await call(daemon.url, 'GET', `/devices/${uuid}`)).status, 404);
  await assert.rejects(access(cdiFile), /ENOENT/);
  const un2 = await unary<object, NodeUnprepareResourcesResponse>(dra, 'NodeUnprepareResources', { claims: [CLAIM] });
  assert.equal(un2.claims[CLAIM.uid]!.error, '');
  const types = (await call(daemon.url, 'GET', '/types')).body as { id: string; availableInstances: number }[];
  assert.deepEqual(types.map((x) => [x.id, x.availableInstances]), [['mtty-1', 24], ['mtty-2', 12]]);
});

/** umdevd, the fake API server and the agent with DRA only; the kubelet's two clients. */
async function draSetup(t: TestContext, extra: readonly string[] = [], apiOpts: { dropCounters?: boolean } = {}): Promise<{ daemon: RunningDaemon; api: FakeApiServer; dra: Client; registration: Client; cdiDir: string; kubeletDir: string }> {
  const ctx = await stateDir(t, 'umdev-k8s-dra-');
  const daemon = await start(ctx, ['--no-mount']);
  const api = new FakeApiServer();
  api.dropCounters = apiOpts.dropCounters === true;
  t.after(() => api.close());
  await api.start();
  const kubeletDir = path.join(ctx.dir, 'kubelet');
  const cdiDir = path.join(ctx.dir, 'cdi');
  await startAgent(t, ['--state-dir', ctx.dir, '--kubelet-dir', kubeletDir, '--no-device-plugin', '--dra', '--node-name', NODE, '--kubeconfig', api.kubeconfig, '--cdi-dir', cdiDir, ...extra]);
  const { registration, dra } = draClients(path.join(kubeletDir, 'plugins_registry', 'umdev.io-reg.sock'), path.join(kubeletDir, 'plugins', 'umdev.io', 'dra.sock'));
  t.after(() => (registration.close(), dra.close()));
  return { daemon, api, dra, registration, cdiDir, kubeletDir };
}

test('DRA: claim UIDs __proto__, constructor, hasOwnProperty and toString each get their own answer', async (t) => {
  const { api, dra } = await draSetup(t);
  await until(() => api.slices.get(`${NODE}-umdev-io-1`), 'the ResourceSlices');
  const uids = ['__proto__', 'constructor', 'hasOwnProperty', 'toString'];
  uids.forEach((uid, i) => api.addClaim('default', `c${i}`, uid, 'umdev.io', NODE, [`mtty-mtty-1-${i}`]));
  const claims = uids.map((uid, i) => ({ namespace: 'default', name: `c${i}`, uid }));
  const prep = await unary<object, NodePrepareResourcesResponse>(dra, 'NodePrepareResources', { claims });
  assert.deepEqual(Object.keys(prep.claims).sort(), [...uids].sort());
  uids.forEach((uid, i) => {
    const r = Object.getOwnPropertyDescriptor(prep.claims, uid)?.value as NodePrepareResourcesResponse['claims'][string];
    assert.equal(r.error, '', uid);
    assert.deepEqual(r.devices.map((d) => d.device_name), [`mtty-mtty-1-${i}`], uid);
  });
  const un = await unary<object, NodeUnprepareResourcesResponse>(dra, 'NodeUnprepareResources', { claims });
  assert.deepEqual(Object.keys(un.claims).sort(), [...uids].sort());
  for (const uid of uids) assert.equal((Object.getOwnPropertyDescriptor(un.claims, uid)?.value as { error: string }).error, '', uid);
});

test('DRA: every set of slots the shared counter lets the scheduler pick on the default pool is prepared', async (t) => {
  const { daemon, api, dra } = await draSetup(t);
  await until(() => api.slices.get(`${NODE}-umdev-io-1`), 'the ResourceSlices');
  const pool = new PoolModel(api.slices.values());
  let n = 0;
  const prepare = async (names: readonly string[]): Promise<{ namespace: string; name: string; uid: string }> => {
    const claim = { namespace: 'default', name: `e${n}`, uid: `00000000-0000-4000-8000-${String(n++).padStart(12, '0')}` };
    api.addClaim(claim.namespace, claim.name, claim.uid, 'umdev.io', NODE, names);
    const r = await unary<object, NodePrepareResourcesResponse>(dra, 'NodePrepareResources', { claims: [claim] });
    assert.equal(r.claims[claim.uid]!.error, '', `preparing ${names.join(', ')}`);
    return claim;
  };
  // For each number b of mtty-2, grow mtty-1 one claim at a time until the counter says no more: every (a, b) the
  // scheduler allows is a state the node reaches, with slots picked at random each time.
  let states = 0;
  for (let b = 0; b <= 12; b++) {
    const allocated = new Set<string>();
    const claims = [];
    const twos = pool.pick(allocated, 'mtty-2', b);
    assert.ok(twos !== undefined, `${b} mtty-2 fit`);
    if (b > 0) claims.push(await prepare(twos));
    twos.forEach((x) => allocated.add(x));
    states++;
    for (;;) {
      const one = pool.pick(allocated, 'mtty-1', 1);
      if (one === undefined) break;
      claims.push(await prepare(one));
      allocated.add(one[0]!);
      states++;
    }
    const ports = allocated.size + b;
    assert.equal(ports, 24, `the counter stops at the pool's 24 ports (b=${b})`);
    const types = (await call(daemon.url, 'GET', '/types')).body as { id: string; availableInstances: number }[];
    assert.equal(types.find((x) => x.id === 'mtty-1')?.availableInstances, 0, 'the pool is full, not over');
    const un = await unary<object, NodeUnprepareResourcesResponse>(dra, 'NodeUnprepareResources', { claims });
    assert.ok(Object.values(un.claims).every((c) => c.error === ''));
  }
  assert.equal(states, 169, 'every (mtty-1, mtty-2) count the counter allows was prepared');
  const devices = (await call(daemon.url, 'GET', '/devices')).body as unknown[];
  assert.equal(devices.length, 0);
});

test('DRA: slices come back after a kubelet deletes them (at once on re-registration, else within 30 s)', async (t) => {
  const { api, registration } = await draSetup(t);
  await until(() => api.slices.get(`${NODE}-umdev-io-1`), 'the ResourceSlices');
  await unary(registration, 'NotifyRegistrationStatus', { plugin_registered: true, error: '' });
  // A starting kubelet deletes the node's slices, then its plugin watcher registers the driver again.
  api.deleteSlices();
  let t0 = Date.now();
  await unary(registration, 'GetInfo', {});
  await unary(registration, 'NotifyRegistrationStatus', { plugin_registered: true, error: '' });
  await until(() => api.slices.get(`${NODE}-umdev-io-1`), 'the slices after re-registration', 5000);
  t.diagnostic(`re-registration → slices back: ${Date.now() - t0} ms`);
  // Deleted with no registration at all: the periodic check (every 10 s by default) finds them gone.
  api.deleteSlices();
  t0 = Date.now();
  await until(() => api.slices.get(`${NODE}-umdev-io-1`), 'the slices after deletion', 30_000);
  const back = Date.now() - t0;
  t.diagnostic(`slices deleted → back: ${back} ms`);
  assert.ok(back < 30_000);
  for (const s of api.slices.values()) assert.deepEqual(resourceSliceProblems(s), []);
});

test('DRA: an API server that drops shared counters (feature gate off) gets a static partition that fits', async (t) => {
  const { api, dra } = await draSetup(t, [], { dropCounters: true });
  const slice = await until(() => {
    const s = [...api.slices.values()];
    return s.length === 1 && (s[0]!.spec as { devices?: unknown[] }).devices?.length === 18 ? s[0] : undefined;
  }, 'a static partition', 10_000);
  const devices = (slice.spec as { devices: { name: string; attributes: { type: { string: string } } }[] }).devices;
  assert.equal(devices.filter((d) => d.attributes.type.string === 'mtty-1').length, 12);
  assert.equal(devices.filter((d) => d.attributes.type.string === 'mtty-2').length, 6);
  // Every listed slot at once: 12 + 6 × 2 = 24 ports, all prepared.
  const claims = devices.map((_d, i) => ({ namespace: 'default', name: `s${i}`, uid: `11111111-0000-4000-8000-${String(i).padStart(12, '0')}` }));
  devices.forEach((d, i) => api.addClaim('default', `s${i}`, claims[i]!.uid, 'umdev.io', NODE, [d.name]));
  const r = await unary<object, NodePrepareResourcesResponse>(dra, 'NodePrepareResources', { claims });
  assert.ok(Object.values(r.claims).every((c) => c.error === ''), JSON.stringify(r));
});
