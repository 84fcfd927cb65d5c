/**
 * Noisy neighbour, through umdevd as shipped (FUSE, API and device hosts running): a C client times 4-byte config
 * reads on one mtty-2 while, on two other devices of the same daemon, one hostile client floods reads (64 in
 * flight) and another sends without ever reading its replies. Quiet and noisy rounds alternate in one run; the
 * figures are the medians over rounds. The daemon's and its hosts' RSS are sampled while the attack runs.
 *
 *   npm run bench -- isolation [iterations=20000] [rounds=3]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compilePeers } from './c-peers.js';

const UMDEVD = fileURLToPath(new URL('../src/daemon/main.js', import.meta.url));
const CONFIG_REGION = '7';

function runClient(bin: string, args: string[]): Promise<{ median: number; p99: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const [median, p99] = out.trim().split(/\s+/).map(Number);
      if (code !== 0 || !Number.isFinite(median) || !Number.isFinite(p99)) reject(new Error(`client exited ${code}: ${out}`));
      else resolve({ median: median!, p99: p99! });
    });
  });
}

/** RSS in MiB of `pid`, 0 once it is gone. */
function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

function children(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/status`, 'utf8').includes(`\nPPid:\t${pid}\n`)) out.push(Number(name));
    } catch {
      // Gone while we looked.
    }
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mid = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function startDaemon(stateDir: string): Promise<ChildProcess> {
  const d = spawn(process.execPath, [UMDEVD, '--state-dir', stateDir, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    d.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('umdevd ready')) resolve();
    });
    d.once('exit', (code) => reject(new Error(`umdevd exited ${code} before ready`)));
  });
  return d;
}

export async function main(argv: string[]): Promise<void> {
  const iterations = Number(argv[0] ?? 20000);
  const rounds = Number(argv[1] ?? 3);
  const dir = mkdtempSync(join(tmpdir(), 'umdev-bench-isolation-'));
  const attackers: ChildProcess[] = [];
  let daemon: ChildProcess | undefined;
  try {
    const peers = compilePeers(dir);
    const state = join(dir, 'state');
    daemon = await startDaemon(state);
    const create = join(state, 'sys/class/mdev_bus/mtty/mdev_supported_types/mtty-2/create');
    const [victim, flooded, deafened] = [randomUUID(), randomUUID(), randomUUID()];
    for (const u of [victim, flooded, deafened]) writeFileSync(create, u);
    const sock = (u: string): string => join(state, 'run', `${u}.sock`);
    const quiet: { median: number; p99: number }[] = [];
    const noisy: { median: number; p99: number }[] = [];
    let daemonRss = rssMiB(daemon.pid!);
    let hostsRss = 0;
    for (let r = 0; r < rounds; r++) {
      quiet.push(await runClient(peers.client, [sock(victim), String(iterations), CONFIG_REGION, '0', '4']));
      const flood = spawn(peers.flood, [sock(flooded), CONFIG_REGION, '0', '4'], { stdio: 'ignore' });
      const deaf = spawn(peers.deaf, [sock(deafened)], { stdio: 'ignore' });
      attackers.push(flood, deaf);
      await sleep(500);
      const sampler = setInterval(() => {
        daemonRss = Math.max(daemonRss, rssMiB(daemon!.pid!));
        hostsRss = Math.max(hostsRss, children(daemon!.pid!).reduce((n, p) => n + rssMiB(p), 0));
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
    if (daemon && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon!.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
