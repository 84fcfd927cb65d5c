/**
 * Noisy neighbour, through umdevd as shipped (FUSE, API and device hosts running): a C client times 4-byte config
 * reads on one mtty-2 while, on two other devices of the same daemon, one hostile client floods reads (64 in
 * flight) and another sends without ever reading its replies. Quiet and noisy rounds alternate in one run; the
 * figures are the medians over rounds. The daemon's and its hosts' RSS are sampled while the attack runs.
 *
 *   npm run bench -- isolation [iterations=20000] [rounds=3]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePeers } from './c-peers.js';
import { CONFIG_REGION, Daemon, type Timing, hostProcesses, mid, rssKiB, runClient, sleep } from './daemon-harness.js';

const rssMiB = (pid: number): number => rssKiB(pid) / 1024;

export async function main(argv: string[]): Promise<void> {
  const iterations = Number(argv[0] ?? 20000);
  const rounds = Number(argv[1] ?? 3);
  const dir = mkdtempSync(join(tmpdir(), 'umdev-bench-isolation-'));
  const attackers: ChildProcess[] = [];
  let daemon: Daemon | undefined;
  try {
    const peers = compilePeers(dir);
    const state = join(dir, 'state');
    daemon = await Daemon.start(state);
    const [victim, flooded, deafened] = [daemon.create(), daemon.create(), daemon.create()];
    const sock = (u: string): string => daemon!.socket(u);
    const quiet: Timing[] = [];
    const noisy: Timing[] = [];
    let daemonRss = rssMiB(daemon.pid);
    let hostsRss = 0;
    for (let r = 0; r < rounds; r++) {
      quiet.push(await runClient(peers.client, [sock(victim), String(iterations), CONFIG_REGION, '0', '4']));
      const flood = spawn(peers.flood, [sock(flooded), CONFIG_REGION, '0', '4'], { stdio: 'ignore' });
      const deaf = spawn(peers.deaf, [sock(deafened)], { stdio: 'ignore' });
      attackers.push(flood, deaf);
      await sleep(500);
      const sampler = setInterval(() => {
        daemonRss = Math.max(daemonRss, rssMiB(daemon!.pid));
        hostsRss = Math.max(hostsRss, hostProcesses(daemon!.pid).reduce((n, p) => n + rssMiB(p), 0));
      }, 100);
      noisy.push(await runClient(peers.client, [sock(victim), String(iterations), CONFIG_REGION, '0', '4']));
      clearInterval(sampler);
      for (const a of [flood, deaf]) a.kill('SIGKILL');
      // Let the attacked devices' sessions end (reset, host exit) before the next quiet round.
      await sleep(500);
      console.log(`round ${r + 1}: quiet median ${quiet.at(-1)!.median} ns p99 ${quiet.at(-1)!.p99} ns; noisy median ${noisy.at(-1)!.median} ns p99 ${noisy.at(-1)!.p99} ns`);
    }
    const q = { median: mid(quiet.map((x) => x.median)), p99: mid(quiet.map((x) => x.p99)) };
    const n = { median: mid(noisy.map((x) => x.median)), p99: mid(noisy.map((x) => x.p99)) };
    console.log(`daemon RSS max ${daemonRss.toFixed(1)} MiB, device hosts' RSS max ${hostsRss.toFixed(1)} MiB (sum)`);
    console.log(
      JSON.stringify({
        bench: 'isolation',
        unit: 'ns',
        iterations,
        rounds,
        quiet_median_ns: q.median,
        quiet_p99_ns: q.p99,
        noisy_median_ns: n.median,
        noisy_p99_ns: n.p99,
        ratio: Number((n.median / q.median).toFixed(3)),
        p99_ratio: Number((n.p99 / q.p99).toFixed(3)),
        daemon_rss_mib_max: Number(daemonRss.toFixed(1)),
        hosts_rss_mib_max: Number(hostsRss.toFixed(1)),
        better: 'lower',
      }),
    );
  } finally {
    for (const a of attackers) if (a.exitCode === null && a.signalCode === null) a.kill('SIGKILL');
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
