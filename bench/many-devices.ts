/**
 * Many devices at once: 16 mtty devices of umdevd as shipped (each client served by its own device host) under 16
 * concurrent C clients, one per device, each doing 4-byte config reads back to back; against 16 concurrent C echo
 * pairs (16 echo servers, same client). All sessions are open before the clock starts; rounds alternate echo and
 * daemon. Reports aggregate requests/s and the median and p99 over every request; `ratio` is echo's aggregate over
 * the daemon's (target ≤ 1/0.7), `p99_over_median` the daemon's tail.
 *
 *   npm run bench -- many-devices [devices=16] [seconds=3] [rounds=3] [deviceHosts config as JSON]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePeers, startEcho } from './c-peers.js';
import { CONFIG_REGION, Daemon, load1, mid, sleep } from './daemon-harness.js';

interface Pounding {
  readonly perSecond: number;
  readonly median: number;
  readonly p99: number;
}

function pound(bin: string, seconds: number, sockets: readonly string[]): Promise<Pounding> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [String(seconds), CONFIG_REGION, '0', '4', ...sockets], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const [requests, median, p99] = out.trim().split(/\s+/).map(Number);
      if (code !== 0 || ![requests, median, p99].every(Number.isFinite)) reject(new Error(`pound exited ${code}: ${out}`));
      else resolve({ perSecond: requests! / seconds, median: median!, p99: p99! });
    });
  });
}

export async function main(argv: string[]): Promise<void> {
  const devices = Number(argv[0] ?? 16);
  const seconds = Number(argv[1] ?? 3);
  const rounds = Number(argv[2] ?? 3);
  const deviceHosts = argv[3] === undefined ? undefined : (JSON.parse(argv[3]) as object);
  const dir = mkdtempSync(join(tmpdir(), 'umdev-bench-many-'));
  const echoes: ChildProcess[] = [];
  let daemon: Daemon | undefined;
  try {
    const peers = compilePeers(dir);
    const echoPaths: string[] = [];
    for (let i = 0; i < devices; i++) {
      echoPaths.push(join(dir, `echo-${i}.sock`));
      echoes.push(await startEcho(peers.echo, echoPaths[i]!));
    }
    daemon = await Daemon.start(join(dir, 'state'), { parents: [{ driver: 'mtty', ports: Math.max(24, devices) }], ...(deviceHosts === undefined ? {} : { deviceHosts }) });
    const daemonPaths = Array.from({ length: devices }, () => daemon!.socket(daemon!.create('mtty-1')));
    const echo: Pounding[] = [];
    const umdev: Pounding[] = [];
    for (let r = 0; r < rounds; r++) {
      echo.push(await pound(peers.pound, seconds, echoPaths));
      umdev.push(await pound(peers.pound, seconds, daemonPaths));
      const [e, u] = [echo.at(-1)!, umdev.at(-1)!];
      console.log(
        `round ${r + 1}: daemon ${Math.round(u.perSecond)} req/s (median ${u.median} ns, p99 ${u.p99} ns); ` +
          `echo ${Math.round(e.perSecond)} req/s (median ${e.median} ns, p99 ${e.p99} ns)`,
      );
      // Let the sessions end before the next round connects.
      await sleep(1000);
    }
    const m = (xs: Pounding[], k: keyof Pounding): number => mid(xs.map((x) => x[k]));
    const aggregate = m(umdev, 'perSecond') / m(echo, 'perSecond');
    console.log(
      JSON.stringify({
        bench: 'many-devices',
        devices,
        seconds,
        rounds,
        daemon_req_per_s: Math.round(m(umdev, 'perSecond')),
        daemon_median_ns: m(umdev, 'median'),
        daemon_p99_ns: m(umdev, 'p99'),
        echo_req_per_s: Math.round(m(echo, 'perSecond')),
        echo_median_ns: m(echo, 'median'),
        echo_p99_ns: m(echo, 'p99'),
        aggregate_vs_echo: Number(aggregate.toFixed(3)),
        p99_over_median: Number((m(umdev, 'p99') / m(umdev, 'median')).toFixed(2)),
        load1: load1(),
        ratio: Number((1 / aggregate).toFixed(3)),
        better: 'lower',
      }),
    );
  } finally {
    for (const e of echoes) if (e.exitCode === null && e.signalCode === null) e.kill();
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
