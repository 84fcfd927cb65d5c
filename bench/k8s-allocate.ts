/**
 * umdev-k8s's allocation latency with on-demand creation, through the shipped processes: umdevd (no FUSE mount)
 * and umdev-k8s, with this process as the kubelet over gRPC on Unix sockets and a small https API server holding
 * the claims. Timed, 200 times each, rounds interleaved so machine load hits all alike:
 *   - Allocate of a free mtty-1 slot (the device is created through umdevd's API, its socket mounted);
 *   - NodePrepareResources of a claim allocated to a free slot (claim read over https, device created, CDI spec
 *     written and fsynced, checkpoint written);
 *   - the baseline: the creation alone, a plain `POST /devices` to umdevd's API from this process;
 *   - for reference, Allocate of a device that already exists (no creation).
 * Devices are removed between rounds, untimed. `ratio` is Allocate's median over the baseline's median;
 * `prepare_ratio` the same for NodePrepareResources.
 *
 *   npm run bench -- k8s-allocate [n=200]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiRequest } from '../src/api-client/daemon-api.js';
import { unary } from '../src/k8s/kubelet-api/grpc-unix.js';
import type { AllocateResponse, NodePrepareResourcesResponse } from '../src/k8s/kubelet-api/messages.js';
import { FakeApiServer } from '../test/k8s/fake-apiserver.js';
import { FakeKubelet, draClients } from '../test/k8s/kubelet-role.js';

const UMDEVD = fileURLToPath(new URL('../src/daemon/main.js', import.meta.url));
const AGENT = fileURLToPath(new URL('../src/k8s/main.js', import.meta.url));
/** mtty-1 served by both APIs: the pool is split, slots 0–11 for the device plugin, 12–23 for DRA (docs/kubernetes.md). */
const DP_SLOTS = 12;

async function spawnReady(cmd: string[], ready: string): Promise<ChildProcess> {
  const p = spawn(process.execPath, cmd, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let errText = '';
  p.stderr!.on('data', (d: Buffer) => (errText += d.toString()));
  await new Promise<void>((resolve, reject) => {
    p.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(ready)) resolve();
    });
    p.once('exit', (c) => reject(new Error(`${cmd[0]} exited ${c}: ${errText}`)));
  });
  return p;
}

function stats(xs: number[]): { median: number; p99: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { median: Number(at(0.5).toFixed(3)), p99: Number(at(0.99).toFixed(3)) };
}

const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

export async function main(argv: string[]): Promise<void> {
  const n = Number(argv[0] ?? 200);
  const dir = await mkdtemp(path.join(tmpdir(), 'umdev-bench-k8s-'));
  const procs: ChildProcess[] = [];
  const api = new FakeApiServer();
  const kubelet = new FakeKubelet(path.join(dir, 'kubelet'));
  try {
    procs.push(await spawnReady([UMDEVD, '--state-dir', dir, '--no-mount', '--log-level', 'warn'], 'umdevd ready'));
    const ep = { socket: (JSON.parse(await readFile(path.join(dir, 'api.json'), 'utf8')) as { socket: string }).socket };
    await api.start();
    await kubelet.start();
    const config = path.join(dir, 'k8s.json');
    await writeFile(config, JSON.stringify({ releaseGraceMs: 3_600_000, resources: [{ parent: 'mtty', type: 'mtty-1' }] }));
    procs.push(
      await spawnReady(
        [AGENT, '--state-dir', dir, '--kubelet-dir', kubelet.dir, '--config', config, '--dra', '--node-name', 'bench', '--kubeconfig', api.kubeconfig, '--cdi-dir', path.join(dir, 'cdi'), '--log-level', 'warn'],
        'umdev-k8s ready',
      ),
    );
    while (kubelet.registrations.length === 0) await new Promise((r) => setTimeout(r, 20));
    const plugin = kubelet.plugin(kubelet.registrations[0]!.endpoint);
    const { dra } = draClients(path.join(kubelet.dir, 'plugins_registry', 'umdev.io-reg.sock'), path.join(kubelet.dir, 'plugins', 'umdev.io', 'dra.sock'));
    const allocate = (id: string): Promise<AllocateResponse> => unary(plugin, 'Allocate', { container_requests: [{ devices_ids: [id] }] });
    const remove = (uuid: string): Promise<unknown> => apiRequest(ep, 'DELETE', `/devices/${uuid}`);

    // A standing device for the no-creation reference: the device plugin's last slot, created once.
    const standing = (await allocate(`mtty-mtty-1-${DP_SLOTS - 1}`)).container_responses[0]!.envs.UMDEV_DEVICE_UMDEV_IO_MTTY_MTTY_1!;
    const times = { allocate: [] as number[], prepare: [] as number[], create: [] as number[], existing: [] as number[] };
    for (let i = -10; i < n; i++) {
      // The device plugin's slots but its last (the standing device), then DRA's slots, each in turn.
      const k = ((i % (DP_SLOTS - 2)) + DP_SLOTS - 2) % (DP_SLOTS - 2);
      let t0 = process.hrtime.bigint();
      const a = await allocate(`mtty-mtty-1-${k}`);
      const ta = ms(t0);
      await remove(a.container_responses[0]!.envs.UMDEV_DEVICE_UMDEV_IO_MTTY_MTTY_1!);

      const claim = { namespace: 'bench', name: `c${i}`, uid: randomUUID() };
      api.addClaim(claim.namespace, claim.name, claim.uid, 'umdev.io', 'bench', [`mtty-mtty-1-${DP_SLOTS + k}`]);
      t0 = process.hrtime.bigint();
      const p = await unary<object, NodePrepareResourcesResponse>(dra, 'NodePrepareResources', { claims: [claim] });
      const tp = ms(t0);
      if (p.claims[claim.uid]!.error !== '') throw new Error(`prepare failed: ${p.claims[claim.uid]!.error}`);
      await unary(dra, 'NodeUnprepareResources', { claims: [claim] });

      const uuid = randomUUID();
      t0 = process.hrtime.bigint();
      await apiRequest(ep, 'POST', '/devices', { parent: 'mtty', type: 'mtty-1', uuid });
      const tc = ms(t0);
      await remove(uuid);

      t0 = process.hrtime.bigint();
      await allocate(`mtty-mtty-1-${DP_SLOTS - 1}`);
      const te = ms(t0);
      // Let the agent's view catch up with the removals before a slot is reused.
      await new Promise((r) => setTimeout(r, 5));
      if (i < 0) continue; // warm-up
      times.allocate.push(ta);
      times.prepare.push(tp);
      times.create.push(tc);
      times.existing.push(te);
    }
    await remove(standing);
    plugin.close();
    dra.close();
    const A = stats(times.allocate);
    const P = stats(times.prepare);
    const C = stats(times.create);
    const E = stats(times.existing);
    console.log(`Allocate, slot created on demand:      median ${A.median} ms, p99 ${A.p99} ms (n=${n})`);
    console.log(`NodePrepareResources, slot created:    median ${P.median} ms, p99 ${P.p99} ms`);
    console.log(`baseline: POST /devices to umdevd:     median ${C.median} ms, p99 ${C.p99} ms`);
    console.log(`reference: Allocate of an existing one: median ${E.median} ms, p99 ${E.p99} ms`);
    console.log(
      JSON.stringify({
        bench: 'k8s-allocate',
        unit: 'ms',
        n,
        allocate_median: A.median,
        allocate_p99: A.p99,
        prepare_median: P.median,
        prepare_p99: P.p99,
        api_create_median: C.median,
        api_create_p99: C.p99,
        allocate_existing_median: E.median,
        baseline: 'POST /devices to umdevd (the creation alone)',
        ratio: Number((A.median / C.median).toFixed(2)),
        prepare_ratio: Number((P.median / C.median).toFixed(2)),
        better: 'lower',
      }),
    );
  } finally {
    for (const p of procs.reverse()) {
      if (p.exitCode === null && p.signalCode === null) {
        p.kill('SIGTERM');
        await once(p, 'exit');
      }
    }
    await kubelet.stop();
    await api.close();
    await rm(dir, { recursive: true, force: true });
  }
}
