/**
 * Busy polling against its cost, through umdevd as shipped: one C client reads a config register of an mtty device
 * once every INTERVAL (20 us to 2 ms), and the device host's CPU time per request and the round trip are measured
 * with busy polling as shipped (`busyPollUs` 50, the adaptive window paid from a credit) and without it (0), two
 * daemons side by side, the two taking turns at every interval in every round. `ratio` is the worst CPU ratio
 * (with / without) over the intervals (target ≤ 1.2); `latency_ratio` the worst median round-trip ratio (≤ 1: no
 * worse).
 *
 *   npm run bench -- busy-poll [rounds=2] [seconds=1.5] [intervals=20,60,200,500,2000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePeers } from './c-peers.js';
import { CONFIG_REGION, Daemon, cpuMs, deviceHosts, load1, mid, runClient } from './daemon-harness.js';

type Mode = 'with' | 'without';

export async function main(argv: string[]): Promise<void> {
  const rounds = Number(argv[0] ?? 2);
  const seconds = Number(argv[1] ?? 1.5);
  const intervals = (argv[2] ?? '20,60,200,500,2000').split(',').map(Number);
  const dir = mkdtempSync(join(tmpdir(), 'umdev-bench-busy-poll-'));
  const daemons: Partial<Record<Mode, Daemon>> = {};
  const loadBefore = load1();
  try {
    const peers = compilePeers(dir);
    const socket: Partial<Record<Mode, string>> = {};
    const host: Partial<Record<Mode, number>> = {};
    for (const [mode, busyPollUs] of [['with', 50], ['without', 0]] as const) {
      const d = await Daemon.start(join(dir, mode), { busyPollUs, deviceHosts: { warm: 1 } });
      daemons[mode] = d;
      socket[mode] = d.socket(d.create('mtty-2'));
      // The first session starts the device's host, which then serves every session of this bench.
      await runClient(peers.client, [socket[mode]!, '100', CONFIG_REGION, '0', '4']);
      host[mode] = deviceHosts(d.pid).find((h) => h.held)!.pid;
    }
    const seen: Record<number, Record<Mode, { cpuUs: number[]; median: number[]; p99: number[] }>> = {};
    for (const i of intervals) seen[i] = { with: { cpuUs: [], median: [], p99: [] }, without: { cpuUs: [], median: [], p99: [] } };
    for (let r = 0; r < rounds; r++) {
      for (const interval of intervals) {
        const count = Math.max(200, Math.round((seconds * 1e6) / interval));
        for (const mode of r % 2 === 0 ? (['with', 'without'] as const) : (['without', 'with'] as const)) {
          const before = cpuMs(host[mode]!);
          const t = await runClient(peers.pace, [socket[mode]!, String(interval), String(count), CONFIG_REGION, '0', '4']);
          const used = cpuMs(host[mode]!) - before;
          const s = seen[interval]![mode];
          // Every request counted: the unrecorded tenth too.
          s.cpuUs.push((used * 1000) / (count * 1.1));
          s.median.push(t.median);
          s.p99.push(t.p99);
        }
        const s = seen[interval]!;
        console.log(
          `round ${r + 1}, one read every ${interval} us: host CPU ${s.with.cpuUs.at(-1)!.toFixed(1)} us/request with busy polling, ` +
            `${s.without.cpuUs.at(-1)!.toFixed(1)} without; round trip ${s.with.median.at(-1)} ns with, ${s.without.median.at(-1)} ns without`,
        );
      }
    }
    const figures: Record<string, number> = {};
    let worstCpu = 0;
    let worstLatency = 0;
    for (const i of intervals) {
      const s = seen[i]!;
      const cpuRatio = mid(s.with.cpuUs) / mid(s.without.cpuUs);
      const latencyRatio = mid(s.with.median) / mid(s.without.median);
      worstCpu = Math.max(worstCpu, cpuRatio);
      worstLatency = Math.max(worstLatency, latencyRatio);
      Object.assign(figures, {
        [`cpu_us_with_${i}`]: Number(mid(s.with.cpuUs).toFixed(1)),
        [`cpu_us_without_${i}`]: Number(mid(s.without.cpuUs).toFixed(1)),
        [`cpu_ratio_${i}`]: Number(cpuRatio.toFixed(3)),
        [`median_ns_with_${i}`]: mid(s.with.median),
        [`median_ns_without_${i}`]: mid(s.without.median),
        [`p99_ns_with_${i}`]: mid(s.with.p99),
        [`p99_ns_without_${i}`]: mid(s.without.p99),
      });
    }
    console.log(
      JSON.stringify({
        bench: 'busy-poll',
        rounds,
        seconds,
        ...figures,
        latency_ratio: Number(worstLatency.toFixed(3)),
        load1_before: loadBefore,
        load1_after: load1(),
        ratio: Number(worstCpu.toFixed(3)),
        better: 'lower',
      }),
    );
  } finally {
    for (const d of Object.values(daemons)) await d?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
