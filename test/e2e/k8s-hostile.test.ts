/**
 * umdev-k8s against hostile or careless surroundings, with a real umdevd and the test as the kubelet: millions of
 * unknown device IDs must not grow the agent's memory, and an agent started at umask 000 must still make its
 * sockets 0600 and its checkpoint 0600 (a world-writable socket would let any user ask root for devices).
 */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { unary } from '../../src/k8s/kubelet-api/grpc-unix.js';
import type { NodePrepareResourcesResponse } from '../../src/k8s/kubelet-api/messages.js';
import { startAgent } from '../k8s/agent.js';
import { FakeApiServer } from '../k8s/fake-apiserver.js';
import { FakeKubelet, draClients } from '../k8s/kubelet-role.js';
import { start, stateDir } from './umdevd-process.js';

async function rssKiB(pid: number): Promise<number> {
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

async function waitFor<T>(f: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('device plugin: 3 M unknown Allocate IDs are refused and change the agent\'s RSS by less than 16 MiB', async (t) => {
  const ctx = await stateDir(t, 'umdev-k8s-rss-');
  await start(ctx, ['--no-mount']);
  const kubelet = new FakeKubelet(path.join(ctx.dir, 'kubelet'));
  t.after(() => kubelet.stop());
  await kubelet.start();
  const agent = await startAgent(t, ['--state-dir', ctx.dir, '--kubelet-dir', kubelet.dir, '--log-level', 'warn']);
  const reg = await waitFor(() => kubelet.registrations.find((r) => r.resource_name === 'umdev.io/mtty-mtty-1'), 'registration');
  const client = kubelet.plugin(reg.endpoint);
  t.after(() => client.close());
  const PER_CALL = 1000;
  let next = 0;
  const burst = async (calls: number): Promise<void> => {
    let refused = 0;
    const one = async (): Promise<void> => {
      const ids = Array.from({ length: PER_CALL }, () => `unknown-${(next++).toString(36)}`);
      await unary(client, 'Allocate', { container_requests: [{ devices_ids: ids }] }).then(
        () => assert.fail('an unknown ID was allocated'),
        (e: Error) => {
          assert.match(e.message, /ENODEV/);
          refused++;
        },
      );
    };
    for (let i = 0; i < calls; i += 8) await Promise.all(Array.from({ length: Math.min(8, calls - i) }, one));
    assert.equal(refused, calls);
  };
  // Warm-up (2 M IDs): code paths compiled and the heap at its working size under this load, so what follows is
  // growth per ID, not V8 sizing its heap.
  await burst(2000);
  const before = await rssKiB(agent.proc.pid!);
  const t0 = Date.now();
  const steps: number[] = [];
  for (let k = 0; k < 6; k++) {
    await burst(500);
    steps.push(await rssKiB(agent.proc.pid!));
  }
  t.diagnostic(`RSS every 0.5 M IDs: ${steps.join(' ')} KiB`);
  const after = await rssKiB(agent.proc.pid!);
  t.diagnostic(`3 M unknown IDs in ${Date.now() - t0} ms: RSS ${before} KiB → ${after} KiB (${((after - before) / 1024).toFixed(1)} MiB)`);
  assert.ok(after - before < 16 * 1024, `RSS grew by ${after - before} KiB`);
  // The plugin still answers and lists its devices.
  await unary(client, 'GetDevicePluginOptions', {});
});

test('sockets, checkpoint and CDI specs have explicit modes, even at umask 000', async (t) => {
  const ctx = await stateDir(t, 'umdev-k8s-umask-');
  await start(ctx, ['--no-mount']);
  const kubelet = new FakeKubelet(path.join(ctx.dir, 'kubelet'));
  t.after(() => kubelet.stop());
  await kubelet.start();
  const api = new FakeApiServer();
  t.after(() => api.close());
  await api.start();
  const cdiDir = path.join(ctx.dir, 'cdi');
  await startAgent(t, ['--state-dir', ctx.dir, '--kubelet-dir', kubelet.dir, '--dra', '--node-name', 'node-a', '--kubeconfig', api.kubeconfig, '--cdi-dir', cdiDir], { umask: '000' });
  const reg = await waitFor(() => kubelet.registrations.find((r) => r.resource_name === 'umdev.io/mtty-mtty-1'), 'registration');
  const mode = async (p: string): Promise<string> => ((await stat(p)).mode & 0o777).toString(8);
  const sockets = [
    path.join(kubelet.devicePluginDir, reg.endpoint),
    path.join(kubelet.dir, 'plugins', 'umdev.io', 'dra.sock'),
    path.join(kubelet.dir, 'plugins_registry', 'umdev.io-reg.sock'),
  ];
  for (const s of sockets) {
    assert.ok((await stat(s)).isSocket(), s);
    assert.equal(await mode(s), '600', s);
  }
  await waitFor(() => api.slices.get('node-a-umdev-io-1'), 'the slices');
  const slot = (api.slices.get('node-a-umdev-io-1')!.spec as { devices: { name: string }[] }).devices[0]!.name;
  api.addClaim('default', 'm', '22222222-0000-4000-8000-000000000000', 'umdev.io', 'node-a', [slot]);
  const { dra, registration } = draClients(sockets[2]!, sockets[1]!);
  t.after(() => (dra.close(), registration.close()));
  const r = await unary<object, NodePrepareResourcesResponse>(dra, 'NodePrepareResources', { claims: [{ namespace: 'default', name: 'm', uid: '22222222-0000-4000-8000-000000000000' }] });
  assert.equal(r.claims['22222222-0000-4000-8000-000000000000']!.error, '');
  assert.equal(await mode(path.join(kubelet.dir, 'plugins', 'umdev.io', 'checkpoint.json')), '600');
  assert.equal(await mode(path.join(cdiDir, 'umdev.io-22222222-0000-4000-8000-000000000000.json')), '644');
  assert.equal(await mode(path.join(kubelet.dir, 'plugins', 'umdev.io')), '750');
});
