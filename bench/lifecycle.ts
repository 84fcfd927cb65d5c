/**
 * Create+remove throughput of the core with N live devices (10 … 100,000): the per-operation cost must not depend
 * on how many devices exist (O(1) lookups, no walks). The vendor is trivial and synchronous, so this measures the
 * core itself. Prints one line per size, then the JSON summary: `ops_per_s` is the slowest size's pairs/s and
 * `ratio` is fastest/slowest (1.0 = perfectly flat).
 */
import { randomUUID } from 'node:crypto';
import { Core } from '../src/core/core.js';

const SIZES = [10, 1_000, 10_000, 100_000];
const ROUNDS = 5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function measure(live: number, pairs: number): Promise<number> {
  const core = new Core();
  core.registerParent({
    name: 'bench',
    devicePath: 'virtual/bench/bench',
    driverName: 'bench',
    deviceApi: 'vfio-pci',
    maxInstances: live + pairs + 1,
    types: [{ sysfsName: '1' }],
    ops: { create: () => null, remove: () => {} },
  });
  for (let i = 0; i < live; i++) await core.create('bench', 'bench-1', randomUUID());
  const rates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const uuids = Array.from({ length: pairs }, () => randomUUID());
    const t0 = process.hrtime.bigint();
    for (const u of uuids) {
      await core.create('bench', 'bench-1', u);
      await core.remove(u);
    }
    const ns = Number(process.hrtime.bigint() - t0);
    rates.push(pairs / (ns / 1e9));
  }
  return median(rates);
}

export async function main(argv: string[]): Promise<void> {
  const pairs = Number(argv[0] ?? 20_000);
  // Warm up the JIT so the first size is not penalised.
  await measure(10, pairs);
  const bySize: Record<string, number> = {};
  for (const n of SIZES) {
    const rate = await measure(n, pairs);
    bySize[String(n)] = Math.round(rate);
    console.log(`live=${String(n).padStart(6)}  ${Math.round(rate).toLocaleString('en-US').padStart(10)} create+remove pairs/s (median of ${ROUNDS} x ${pairs})`);
  }
  const rates = Object.values(bySize);
  const slowest = Math.min(...rates);
  const fastest = Math.max(...rates);
  console.log(JSON.stringify({ bench: 'lifecycle', unit: 'pairs/s', ops_per_s: slowest, by_size: bySize, ratio: Number((fastest / slowest).toFixed(3)), better: 'higher', pairs, rounds: ROUNDS }));
}
