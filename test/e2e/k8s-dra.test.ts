/**
 * umdev-k8s's DRA kubelet plugin against a real umdevd, with the test as the kubelet (plugin watcher registration
 * and the DRAPlugin service over real Unix sockets) and a small https API server holding the ResourceClaim and
 * receiving the ResourceSlice: GetInfo → NotifyRegistrationStatus → NodePrepareResources → the vfio-user client
 * opens the socket named in the CDI spec → NodeUnprepareResources, both idempotent, and the pool is whole after.
 */
import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { unary } from '../../src/k8s/kubelet-api/grpc-unix.js';
import type { NodePrepareResourcesResponse, NodeUnprepareResourcesResponse, PluginInfo } from '../../src/k8s/kubelet-api/messages.js';
import { resourceSliceProblems } from '../../src/k8s/dra/slice-schema.js';
import { VfioUserClient } from '../../src/vfio-user/client.js';
import { call } from '../daemon/helpers.js';
import { startAgent } from '../k8s/agent.js';
import { FakeApiServer } from '../k8s/fake-apiserver.js';
import { draClients } from '../k8s/kubelet-role.js';
import { start, stateDir } from './umdevd-process.js';

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

  // The node's ResourceSlice: valid for resource.k8s.io/v1, 24 mtty-1 and 12 mtty-2 slots in pool node-a.
  const slice = await until(() => api.slices.get(`${NODE}-umdev-io-0`), 'the ResourceSlice');
  assert.deepEqual(resourceSliceProblems(slice), []);
  assert.deepEqual(api.refused, []);
  const spec = slice.spec as { nodeName: string; pool: { name: string }; devices: { name: string; attributes: Record<string, unknown>; capacity: Record<string, { value: string }> }[] };
  assert.equal(spec.nodeName, NODE);
  assert.equal(spec.pool.name, NODE);
  assert.equal(spec.devices.length, 36);
  const slot = spec.devices.find((d) => d.name === 'mtty-mtty-2-0');
  assert.deepEqual(slot?.attributes, { parent: { string: 'mtty' }, type: { string: 'mtty-2' }, typeName: { string: 'Dual port serial' }, deviceApi: { string: 'vfio-pci' }, slot: { bool: true } });
  assert.deepEqual(slot?.capacity, { poolInstances: { value: '12' } });

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

  // The slice now shows the slot with its UUID, under the same name.
  const updated = await until(() => {
    const s = api.slices.get(`${NODE}-umdev-io-0`) as typeof slice | undefined;
    const d = (s?.spec as typeof spec | undefined)?.devices.find((x) => x.name === 'mtty-mtty-2-0');
    return d?.attributes.uuid === undefined ? undefined : s;
  }, 'the slice to show the prepared device');
  assert.deepEqual(resourceSliceProblems(updated), []);

  // Prepare again (the kubelet retries): the same answer, no second device.
  const again = await unary<object, NodePrepareResourcesResponse>(dra, 'NodePrepareResources', { claims: [CLAIM] });
  assert.deepEqual(JSON.parse(JSON.stringify(again)), JSON.parse(JSON.stringify(prep)));
  assert.equal(((await call(daemon.url, 'GET', '/devices')).body as unknown[]).length, 1);

  // A claim of another pool, and one the API server does not know, fail alone with a reason.
  const bad = await unary<object, NodePrepareResourcesResponse>(dra, 'NodePrepareResources', { claims: [{ namespace: 'default', name: 'missing', uid: 'x' }] });
  assert.match(bad.claims.x!.error, /ENOENT/);

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
