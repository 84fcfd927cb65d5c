/**
 * Create+remove throughput of the core with N live devices (10 … 100,000): the per-operation cost must not depend
 * on how many devices exist (O(1) lookups, no walks). The vendor is trivial and synchronous, so this measures the
 * core itself.
 *
 * One core per size is pre-populated with N devices, then rounds run round-robin over the sizes (each round times K
 * create+remove pairs of fresh UUIDs on one core), so a change in machine load hits every size alike; all cores stay
 * alive throughout, so every size also sees the same heap. The figure per size is the median round.
 * Prints one line per size, then the JSON summary: `ops_per_s` is the slowest size's pairs/s and `ratio` is
 * fastest/slowest (1.0 = perfectly flat), both from wall-clock time. The same figures per CPU second of this process
 * (`cpu_*`) are printed too: on a shared machine they show the core's own cost without other processes' load. Usage: `npm run bench -- lifecycle [pairs-per-round] [rounds]`.
 */
import { randomUUID } from 'node:crypto';
import { Core } from '../src/core/core.js';

const SIZES = [10, 1_000, 10_000, 100_000];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function populated(live: number): Promise<Core> {
  const core = new Core();
  core.registerParent({
    name: 'bench',
    devicePath: 'virtual/bench/bench',
    driverName: 'bench',
    deviceApi: 'vfio-pci',
    maxInstances: live + 1,
    types: [{ sysfsName: '1' }],
    ops: { create: () => null, remove: () => {} },
  });
  for (let i = 0; i < live; i++) await core.create('bench', 'bench-1', randomUUID());
  return core;
}

/** Pairs per wall-clock second and per CPU second (user+system of this process) of one round. */
async function round(core: Core, pairs: number): Promise<[number, number]> {
  // Flat strings, as a sysfs write delivers them (randomUUID builds rope strings that the first hash would flatten).
  const uuids = Array.from({ length: pairs }, () => Buffer.from(randomUUID()).toString('latin1'));
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (const u of uuids) {
    await core.create('bench', 'bench-1', u);
    await core.remove(u);
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  return [pairs / wall, pairs / ((c.user + c.system) / 1e6)];
}

export async function main(argv: string[]): Promise<void> {
  const pairs = Number(argv[0] ?? 20_000);
  const rounds = Number(argv[1] ?? 7);
  const cores = [];
  for (const n of SIZES) cores.push(await populated(n));
  // Warm-up round on every core so the JIT has settled before anything is timed.
  for (const core of cores) await round(core, pairs);
  const wall: number[][] = SIZES.map(() => []);
  const cpu: number[][] = SIZES.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < SIZES.length; i++) {
      const [w, c] = await round(cores[i]!, pairs);
      wall[i]!.push(w);
      cpu[i]!.push(c);
    }
  }
  const bySize: Record<string, number> = {};
  const cpuBySize: Record<string, number> = {};
  const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
  SIZES.forEach((n, i) => {
    bySize[String(n)] = Math.round(median(wall[i]!));
    cpuBySize[String(n)] = Math.round(median(cpu[i]!));
    console.log(
      `live=${String(n).padStart(6)}  ${fmt(bySize[String(n)]!).padStart(9)} create+remove pairs/s` +
        ` (wall; median of ${rounds} x ${pairs}, range ${fmt(Math.min(...wall[i]!))}…${fmt(Math.max(...wall[i]!))});` +
        ` ${fmt(cpuBySize[String(n)]!)} per CPU second`,
    );
  });
  const spread = (m: Record<string, number>): [number, number] => {
    const v = Object.values(m);
    return [Math.min(...v), Number((Math.max(...v) / Math.min(...v)).toFixed(3))];
  };
  const [slowest, ratio] = spread(bySize);
  const [cpuSlowest, cpuRatio] = spread(cpuBySize);
  console.log(
    JSON.stringify({
      bench: 'lifecycle',
      unit: 'pairs/s',
      ops_per_s: slowest,
      by_size: bySize,
      ratio,
      cpu_ops_per_s: cpuSlowest,
      cpu_by_size: cpuBySize,
      cpu_ratio: cpuRatio,
      better: 'higher',
      pairs,
      rounds,
    }),
  );
}
