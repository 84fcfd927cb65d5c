/**
 * umdev-k8s's device plugin against a real umdevd, with the test as the kubelet over real Unix sockets and gRPC:
 * registration, ListAndWatch following creates and removes made through the real mdevctl and the API, Allocate
 * creating a slot's device and mounting a socket the vfio-user client negotiates on, release of the device once the
 * pod resources API stops listing it, a kubelet restart, and umdevd killed and restarted.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { unary } from '../../src/k8s/kubelet-api/grpc-unix.js';
import type { AllocateResponse, PreferredAllocationResponse } from '../../src/k8s/kubelet-api/messages.js';
import { VfioUserClient } from '../../src/vfio-user/client.js';
import { call } from '../daemon/helpers.js';
import { startAgent } from '../k8s/agent.js';
import { FakeKubelet, ListWatcher } from '../k8s/kubelet-role.js';
import { killDaemon, run, start, stateDir } from './umdevd-process.js';

const U = '5b0c2f9e-7a41-4d3c-9e1f-2a6b8c0d4e13';
const RESOURCE = 'umdev.io/mtty-mtty-2';

test('device plugin: register, ListAndWatch, Allocate, release, kubelet restart, umdevd killed and back', async (t) => {
  const which = await run('sh', ['-c', 'command -v mdevctl && command -v unshare']);
  assert.equal(which.code, 0, 'mdevctl and unshare are needed: apt-get install mdevctl util-linux');
  const ctx = await stateDir(t, 'umdev-k8s-dp-');
  let daemon = await start(ctx);
  const kubelet = new FakeKubelet(path.join(ctx.dir, 'kubelet'));
  t.after(() => kubelet.stop());
  await kubelet.start();
  const config = path.join(ctx.dir, 'k8s.json');
  await writeFile(config, JSON.stringify({ releaseGraceMs: 300, podResourcesPollMs: 200 }));
  await startAgent(t, ['--state-dir', ctx.dir, '--kubelet-dir', kubelet.dir, '--config', config]);

  // Registration: one resource per type, v1beta1, with GetPreferredAllocation.
  const deadline = Date.now() + 5000;
  while (!kubelet.registrations.some((r) => r.resource_name === RESOURCE) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const reg = kubelet.registrations.find((r) => r.resource_name === RESOURCE);
  assert.ok(reg, `registered: ${JSON.stringify(kubelet.registrations)}`);
  assert.equal(reg.version, 'v1beta1');
  assert.equal(reg.options.get_preferred_allocation_available, true);
  assert.ok(kubelet.registrations.some((r) => r.resource_name === 'umdev.io/mtty-mtty-1'));

  const client = kubelet.plugin(reg.endpoint);
  t.after(() => client.close());
  const watch = new ListWatcher(client);
  t.after(() => watch.close());
  const healthy = (ds: readonly { health: string }[]): boolean => ds.length > 0 && ds.every((d) => d.health === 'Healthy');
  let list = await watch.until((ds) => ds.length === 6 && healthy(ds));
  assert.ok(list.every((d) => /^mtty-mtty-2-\d+$/.test(d.ID)), 'the static partition of a fresh pool: 12 mtty-1 and 6 mtty-2 slots');

  // A device made with the real mdevctl appears under its UUID; the slots shrink with the pool.
  const sys = path.join(ctx.dir, 'sys');
  const defs = path.join(ctx.dir, 'mdevctl.d');
  const mdevctl = (args: readonly string[]): ReturnType<typeof run> =>
    run('unshare', ['-m', 'sh', '-c', 'mount --rbind "$0" /sys && mount --bind "$1" /etc/mdevctl.d && shift && exec mdevctl "$@"', sys, defs, ...args]);
  let t0 = Date.now();
  const started = await mdevctl(['start', '-u', U, '-p', 'mtty', '-t', 'mtty-2']);
  assert.equal(started.code, 0, started.stderr);
  list = await watch.until((ds) => ds.some((d) => d.ID === U && d.health === 'Healthy') && ds.length === 7);
  t.diagnostic(`mdevctl start → ListAndWatch: ${Date.now() - t0} ms`);
  t0 = Date.now();
  assert.equal((await call(daemon.url, 'DELETE', `/devices/${U}`)).status, 204);
  await watch.until((ds) => !ds.some((d) => d.ID === U));
  t.diagnostic(`API remove → ListAndWatch: ${Date.now() - t0} ms`);

  // GetPreferredAllocation: the requested size, from the candidates.
  const pref = await unary<object, PreferredAllocationResponse>(client, 'GetPreferredAllocation', {
    container_requests: [{ available_deviceIDs: ['mtty-mtty-2-3', 'mtty-mtty-2-1', 'mtty-mtty-2-2'], must_include_deviceIDs: ['mtty-mtty-2-2'], allocation_size: 2 }],
  });
  assert.equal(pref.container_responses[0]!.deviceIDs.length, 2);
  assert.ok(pref.container_responses[0]!.deviceIDs.includes('mtty-mtty-2-2'));

  // Allocate a slot: the device is created; mount and env lead to a socket a vfio-user client negotiates on.
  kubelet.held.set(RESOURCE, ['mtty-mtty-2-0']);
  const alloc = await unary<object, AllocateResponse>(client, 'Allocate', { container_requests: [{ devices_ids: ['mtty-mtty-2-0'] }] });
  const c = alloc.container_responses[0]!;
  const uuid = c.envs.UMDEV_DEVICE_UMDEV_IO_MTTY_MTTY_2;
  assert.match(uuid ?? '', /^[0-9a-f-]{36}$/);
  assert.equal(c.mounts.length, 1);
  assert.equal(c.mounts[0]!.container_path, `/var/run/umdev/${uuid}.sock`);
  assert.equal(c.envs[`UMDEV_SOCKET_${uuid!.toUpperCase().replace(/-/g, '_')}`], c.mounts[0]!.container_path);
  const dev = (await call(daemon.url, 'GET', `/devices/${uuid}`)).body as { type: string; socket: string };
  assert.equal(dev.type, 'mtty-2');
  assert.equal(c.mounts[0]!.host_path, dev.socket);
  const vfu = await VfioUserClient.connect(c.mounts[0]!.host_path);
  assert.ok(vfu.serverVersion, 'VERSION negotiated');
  vfu.close();
  await vfu.whenClosed();
  // The slot keeps its name while allocated: the kubelet sees the same ID, healthy.
  await watch.until((ds) => ds.some((d) => d.ID === 'mtty-mtty-2-0' && d.health === 'Healthy') && ds.length === 6);
  // Its device removed under the pod: unhealthy (never offered as free) until the device is back.
  assert.equal((await call(daemon.url, 'DELETE', `/devices/${uuid}`)).status, 204);
  await watch.until((ds) => ds.some((d) => d.ID === 'mtty-mtty-2-0' && d.health === 'Unhealthy') && ds.length === 6);
  assert.equal((await call(daemon.url, 'POST', '/devices', { parent: 'mtty', type: 'mtty-2', uuid })).status, 201);
  await watch.until((ds) => ds.some((d) => d.ID === 'mtty-mtty-2-0' && d.health === 'Healthy') && ds.length === 6);
  // Allocating the same slot again (a retried call) is the same device.
  const again = await unary<object, AllocateResponse>(client, 'Allocate', { container_requests: [{ devices_ids: ['mtty-mtty-2-0'] }] });
  assert.equal(again.container_responses[0]!.envs.UMDEV_DEVICE_UMDEV_IO_MTTY_MTTY_2, uuid);
  await assert.rejects(unary(client, 'Allocate', { container_requests: [{ devices_ids: ['no-such-device'] }] }), /ENODEV/);
  for (const id of ['__proto__', 'constructor', 'hasOwnProperty', 'toString']) {
    await assert.rejects(unary(client, 'Allocate', { container_requests: [{ devices_ids: [id] }] }), /ENODEV/, id);
  }
  const many = Array.from({ length: 1025 }, (_, i) => `x${i}`);
  await assert.rejects(unary(client, 'Allocate', { container_requests: [{ devices_ids: many }] }), /EINVAL.*at most 1024/);

  // The pod goes away: once the kubelet stops listing the device, it is removed and the pool is whole.
  kubelet.held.clear();
  const gone = Date.now() + 10_000;
  while ((await call(daemon.url, 'GET', `/devices/${uuid}`)).status !== 404 && Date.now() < gone) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await call(daemon.url, 'GET', `/devices/${uuid}`)).status, 404, 'released after the pod left');
  const types = (await call(daemon.url, 'GET', '/types')).body as { id: string; availableInstances: number }[];
  assert.equal(types.find((x) => x.id === 'mtty-2')?.availableInstances, 12);

  // A kubelet restart makes a new kubelet.sock (and removes plugin sockets): the plugin serves again and re-registers.
  const before = kubelet.registrations.length;
  await kubelet.start();
  const rereg = Date.now() + 5000;
  while (!kubelet.registrations.slice(before).some((r) => r.resource_name === RESOURCE) && Date.now() < rereg) await new Promise((r) => setTimeout(r, 50));
  assert.ok(kubelet.registrations.slice(before).some((r) => r.resource_name === RESOURCE), 're-registered after the kubelet restart');
  const client2 = kubelet.plugin(reg.endpoint);
  t.after(() => client2.close());
  const watch2 = new ListWatcher(client2);
  t.after(() => watch2.close());
  await watch2.until((ds) => ds.length === 6 && healthy(ds));

  // A pod holds a slot; umdevd is killed: every device unhealthy. Restarted (it forgets devices made through its
  // API): the held slot's device is created again with its UUID, so the pod's socket path works again.
  kubelet.held.set(RESOURCE, ['mtty-mtty-2-1']);
  const held = (await unary<object, AllocateResponse>(client2, 'Allocate', { container_requests: [{ devices_ids: ['mtty-mtty-2-1'] }] })).container_responses[0]!;
  const heldUuid = held.envs.UMDEV_DEVICE_UMDEV_IO_MTTY_MTTY_2!;
  t0 = Date.now();
  await killDaemon(daemon);
  await watch2.until((ds) => ds.length === 6 && ds.every((d) => d.health === 'Unhealthy'));
  t.diagnostic(`umdevd SIGKILL → all Unhealthy: ${Date.now() - t0} ms`);
  ctx.daemons.splice(ctx.daemons.indexOf(daemon), 1);
  daemon = await start(ctx);
  t0 = Date.now();
  await watch2.until((ds) => ds.length === 6 && healthy(ds), 10_000);
  t.diagnostic(`umdevd back → all Healthy: ${Date.now() - t0} ms`);
  const back = (await call(daemon.url, 'GET', `/devices/${heldUuid}`)).body as { socket: string; type: string };
  assert.equal(back.type, 'mtty-2', 'the held device is back');
  assert.equal(back.socket, held.mounts[0]!.host_path, 'at the socket path the pod mounted');
  const vfu2 = await VfioUserClient.connect(held.mounts[0]!.host_path);
  assert.ok(vfu2.serverVersion);
  vfu2.close();
  await vfu2.whenClosed();
});
