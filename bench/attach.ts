/**
 * Attach: the time a VMM waits from connect() to the VERSION reply, through umdevd as shipped (FUSE, API, device
 * hosts with their warm pool). Each attach is to a device never used before (its host is the one started on this
 * need), created through the sysfs tree as mdevctl would, with the pool settled (full and idle) first, so the
 * figure is what a VMM sees on a machine that is not already starting hosts. Measured:
 *
 * - `single`: one client at a time, `singles` times;
 * - `reattach`: the same client again on a device whose host already runs (a VMM restarted, a guest reboot);
 * - `sixteen`: 16 clients on 16 fresh devices at once, `rounds` times: every one must be answered within 1 s.
 *
 * The baseline, in the same run and interleaved with it, is the same C client against C servers that accept and
 * answer VERSION (as a libvfio-user server does, one process per device). `ratio` is umdevd's single-attach median
 * over the baseline's; the targets are a median ≤ 20 ms and a p99 ≤ 100 ms alone, and all 16 within 1 s.
 *
 *   npm run bench -- attach [singles=40] [rounds=5]
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePeers, startEcho } from './c-peers.js';
import { Daemon, load1, poolSettled } from './daemon-harness.js';
import { DEFAULT_WARM_HOSTS } from '../src/daemon/config.js';

const AT_ONCE = 16;

/** Run the C attach client on `sockets`; each attach's time in ms, in order. */
function attach(bin: string, sockets: readonly string[]): number[] {
  const out = execFileSync(bin, sockets, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const ms = out.trim().split('\n').map((l) => Number(l) / 1e6);
  if (ms.length !== sockets.length || !ms.every(Number.isFinite)) throw new Error(`attach printed ${out}`);
  return ms;
}

const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))]!;
};
const r2 = (x: number): number => Number(x.toFixed(2));

export async function main(argv: string[]): Promise<void> {
  const singles = Number(argv[0] ?? 40);
  const rounds = Number(argv[1] ?? 5);
  const dir = mkdtempSync(join(tmpdir(), 'umdev-bench-attach-'));
  const servers: ChildProcess[] = [];
  let daemon: Daemon | undefined;
  const loadBefore = load1();
  try {
    const peers = compilePeers(dir);
    const cSockets: string[] = [];
    for (let i = 0; i < AT_ONCE; i++) {
      cSockets.push(join(dir, `c-${i}.sock`));
      servers.push(await startEcho(peers.echo, cSockets[i]!));
    }
    daemon = await Daemon.start(join(dir, 'state'), { parents: [{ driver: 'mtty', ports: 4096 }] });
    const d = daemon;
    const warm = DEFAULT_WARM_HOSTS;
    const seen = { single: [] as number[], reattach: [] as number[], cSingle: [] as number[], sixteen: [] as number[], cSixteen: [] as number[] };
    const roundMax: number[] = [];
    for (let i = 0; i < singles; i++) {
      const uuid = d.create('mtty-1');
      await poolSettled(d.pid, warm);
      seen.cSingle.push(...attach(peers.attach, [cSockets[i % AT_ONCE]!]));
      seen.single.push(...attach(peers.attach, [d.socket(uuid)]));
      seen.reattach.push(...attach(peers.attach, [d.socket(uuid)]));
      d.remove(uuid);
    }
    console.log(
      `single: median ${r2(pct(seen.single, 50))} ms, p99 ${r2(pct(seen.single, 99))} ms; again on a running host: median ${r2(pct(seen.reattach, 50))} ms; ` +
        `C: median ${r2(pct(seen.cSingle, 50))} ms`,
    );
    for (let r = 0; r < rounds; r++) {
      const uuids = Array.from({ length: AT_ONCE }, () => d.create('mtty-1'));
      await poolSettled(d.pid, warm);
      seen.cSixteen.push(...attach(peers.attach, cSockets));
      const got = attach(peers.attach, uuids.map((u) => d.socket(u)));
      seen.sixteen.push(...got);
      roundMax.push(Math.max(...got));
      console.log(`${AT_ONCE} at once, round ${r + 1}: median ${r2(pct(got, 50))} ms, slowest ${r2(Math.max(...got))} ms`);
      for (const u of uuids) d.remove(u);
    }
    const ratio = pct(seen.single, 50) / pct(seen.cSingle, 50);
    console.log(
      JSON.stringify({
        bench: 'attach',
        unit: 'ms',
        singles,
        rounds,
        warm,
        single_median_ms: r2(pct(seen.single, 50)),
        single_p99_ms: r2(pct(seen.single, 99)),
        reattach_median_ms: r2(pct(seen.reattach, 50)),
        reattach_p99_ms: r2(pct(seen.reattach, 99)),
        sixteen_median_ms: r2(pct(seen.sixteen, 50)),
        sixteen_slowest_ms: r2(Math.max(...roundMax)),
        sixteen_all_within_1s: roundMax.every((m) => m <= 1000),
        baseline_single_median_ms: Number(pct(seen.cSingle, 50).toFixed(3)),
        baseline_single_p99_ms: Number(pct(seen.cSingle, 99).toFixed(3)),
        baseline_sixteen_slowest_ms: Number(Math.max(...seen.cSixteen).toFixed(3)),
        load1_before: loadBefore,
        load1_after: load1(),
        ratio: Number(ratio.toFixed(1)),
        better: 'lower',
      }),
    );
  } finally {
    for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill();
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
