/**
 * vfio-user round-trip latency as a VMM sees it: one C client times REGION_READs of an mtty device served by umdevd
 * as shipped (FUSE, API and the device's own device host, the default config), for (a) a 4-byte read of PCI config
 * space and (b) a 1-byte read of BAR0's line status register (the guest's UART hot path). The floor is the same
 * client against a C AF_UNIX echo server answering each request with a reply of the same size. The same client
 * also runs against umdev's server in this process (no device host), so the cost of the daemon path shows.
 * In every round one client process connects to all three and takes turns among the six targets, `chunk` requests
 * at a time, so all see the same machine load; each round is a fresh connection (the device keeps its host). Figures are
 * the medians of the round medians. `ratio` is the worse of the two daemon/floor ratios. The CPU time each server
 * spent per request (the device host's, this process's for the in-process server, the echo's) is reported too: busy
 * polling trades some of it for latency. The device's host lives as long as the device, so every round after the
 * first connection is served by the same host.
 *
 *   npm run bench -- vfio-user-latency [iterations=20000] [rounds=3] [chunk=500]
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Core } from '../src/core/core.js';
import { defaultConfig } from '../src/daemon/config.js';
import { createMttyParent } from '../src/drivers/mtty/index.js';
import { createLogger } from '../src/log.js';
import { VfioUserBusDriver } from '../src/vfio-user/bus-driver.js';
import { compilePeers, startEcho } from './c-peers.js';
import { CONFIG_REGION, Daemon, type Timing, cpuMs, deviceHosts, load1, mid, runPeer, sleep } from './daemon-harness.js';

/** The two accesses: region, offset, count as the C client takes them. */
const ACCESSES = {
  config: [CONFIG_REGION, '0', '4'],
  bar0: ['0', '5', '1'],
} as const;
type Access = keyof typeof ACCESSES;
type Server = 'floor' | 'daemon' | 'inproc';

/**
 * The CPU time the device host serving the bench's device uses during one round (the host lives as long as the
 * device, so the one round's share is the difference of two readings).
 */
function hostCpuSampler(daemonPid: number): { ms(): number; stop(): void } {
  const host = (): number | undefined => deviceHosts(daemonPid).find((h) => h.held)?.pid;
  let pid = host();
  const start = pid === undefined ? 0 : cpuMs(pid);
  let last = start;
  const timer = setInterval(() => {
    if (pid === undefined) {
      pid = host();
      return;
    }
    last = Math.max(last, cpuMs(pid));
  }, 50);
  return { ms: () => last - start, stop: () => clearInterval(timer) };
}

export async function main(argv: string[]): Promise<void> {
  const iterations = Number(argv[0] ?? 20000);
  const rounds = Number(argv[1] ?? 3);
  const chunk = Number(argv[2] ?? 500);
  const dir = mkdtempSync(join(tmpdir(), 'umdev-bench-vfio-user-'));
  const core = new Core();
  let echo: ChildProcess | undefined;
  let daemon: Daemon | undefined;
  let driver: VfioUserBusDriver | undefined;
  try {
    const peers = compilePeers(dir);
    const echoPath = join(dir, 'echo.sock');
    echo = await startEcho(peers.echo, echoPath);
    daemon = await Daemon.start(join(dir, 'state'));
    const daemonPath = daemon.socket(daemon.create('mtty-2'));
    // The device's host starts with its first client; every round after that is served by it.
    await runPeer(peers.client, [daemonPath, '100', CONFIG_REGION, '0', '4']);

    core.registerParent(createMttyParent());
    // The in-process server as umdevd configures one (the shipped busy-poll window), minus the device host.
    const busyPollNs = defaultConfig(dir).busyPollUs * 1000;
    driver = new VfioUserBusDriver({ core, runDir: join(dir, 'inproc'), log: createLogger({ sink: { write: () => true } }), busyPollNs });
    await core.registerDriver(driver);
    const inprocUuid = '6c0e2b59-7f0e-4c6b-9d59-1d5a3c1e0b01';
    await core.create('mtty', 'mtty-2', inprocUuid);
    const paths: Record<Server, string> = { floor: echoPath, daemon: daemonPath, inproc: driver.socketPath(inprocUuid) };

    const seen: Record<Access, Record<Server, Timing[]>> = {
      config: { floor: [], daemon: [], inproc: [] },
      bar0: { floor: [], daemon: [], inproc: [] },
    };
    const targets: [Access, Server][] = [];
    for (const access of Object.keys(ACCESSES) as Access[]) for (const server of ['floor', 'daemon', 'inproc'] as const) targets.push([access, server]);
    const cpu: Record<Server, number[]> = { floor: [], daemon: [], inproc: [] };
    for (let r = 0; r < rounds; r++) {
      const specs = targets.map(([access, server]) => [paths[server], ...ACCESSES[access]].join(':'));
      const echoBefore = cpuMs(echo.pid!);
      const selfBefore = process.cpuUsage();
      const host = hostCpuSampler(daemon.pid);
      const got = await runPeer(peers.compare, [String(iterations), String(chunk), ...specs]).finally(() => host.stop());
      const self = process.cpuUsage(selfBefore);
      // Each server answered both accesses: the timed requests and one chunk of warm-up for each.
      const served = 2 * (iterations + chunk);
      cpu.floor.push(((cpuMs(echo.pid!) - echoBefore) * 1000) / served);
      cpu.inproc.push((self.user + self.system) / served);
      cpu.daemon.push((host.ms() * 1000) / served);
      got.forEach((t, i) => seen[targets[i]![0]][targets[i]![1]].push(t));
      for (const access of Object.keys(ACCESSES) as Access[]) {
        const s = seen[access];
        console.log(
          `round ${r + 1} ${access}: daemon ${s.daemon.at(-1)!.median} ns (p99 ${s.daemon.at(-1)!.p99}), ` +
            `in-process ${s.inproc.at(-1)!.median} ns, echo floor ${s.floor.at(-1)!.median} ns (p99 ${s.floor.at(-1)!.p99})`,
        );
      }
      console.log(
        `round ${r + 1} CPU per request: device host ${cpu.daemon.at(-1)!.toFixed(1)} µs, in-process server ` +
          `${cpu.inproc.at(-1)!.toFixed(1)} µs, echo ${cpu.floor.at(-1)!.toFixed(1)} µs`,
      );
      // The sessions just ended: let them close before the next round connects.
      await sleep(300);
    }
    const figures: Record<string, number> = {};
    const ratios: number[] = [];
    for (const access of Object.keys(ACCESSES) as Access[]) {
      const s = seen[access];
      const m = (server: Server): number => mid(s[server].map((t) => t.median));
      const p = (server: Server): number => mid(s[server].map((t) => t.p99));
      const ratio = m('daemon') / m('floor');
      ratios.push(ratio);
      Object.assign(figures, {
        [`${access}_daemon_median_ns`]: m('daemon'),
        [`${access}_daemon_p99_ns`]: p('daemon'),
        [`${access}_inproc_median_ns`]: m('inproc'),
        [`${access}_floor_median_ns`]: m('floor'),
        [`${access}_floor_p99_ns`]: p('floor'),
        [`${access}_ratio`]: Number(ratio.toFixed(3)),
        [`${access}_inproc_ratio`]: Number((m('inproc') / m('floor')).toFixed(3)),
      });
    }
    for (const server of ['daemon', 'inproc', 'floor'] as const) figures[`${server}_cpu_us_per_request`] = Number(mid(cpu[server]).toFixed(1));
    console.log(JSON.stringify({ bench: 'vfio-user-latency', unit: 'ns', iterations, rounds, chunk, ...figures, load1: load1(), ratio: Number(Math.max(...ratios).toFixed(3)), better: 'lower' }));
  } finally {
    if (echo && echo.exitCode === null && echo.signalCode === null) echo.kill();
    await daemon?.stop();
    const cleanup = async (what: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (e) {
        console.error(`bench cleanup: ${what} failed: ${(e as Error).message}`);
      }
    };
    await cleanup('unregisterParent', () => core.unregisterParent('mtty'));
    if (driver) await cleanup('unregisterDriver', () => core.unregisterDriver('vfio-user'));
    rmSync(dir, { recursive: true, force: true });
  }
}
