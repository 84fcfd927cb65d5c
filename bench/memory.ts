/**
 * umdevd's memory per idle device: the daemon as shipped (FUSE, API, device hosts on demand) with an mtty pool of
 * 4,096 ports, RSS read once the daemon is ready (0 devices) and after creating 1,024 and then 4,096 single-port
 * devices through its sysfs tree, as mdevctl would. Each device has its sysfs nodes and a listening vfio-user
 * socket; no client connects, so no device host runs. `ratio` is the KiB per device over the 4 KiB target.
 *
 * Then memory per *attached* device: clients attach to 1, 16 and 64 devices (and stay attached), and the PSS of
 * every host process umdevd has (the zygote, the warm pool and one host per attached device: what the hosts cost
 * together, shared pages divided among those that share them) is divided by the devices attached. Reported as
 * `pss_per_attached_kib_N`; the target at 64 is 8 MiB.
 *
 *   npm run bench -- memory [devices=4096] [attached=1,16,64]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePeers } from './c-peers.js';
import { Daemon, deviceHosts, hostProcesses, load1, poolSettled, rssKiB, sleep } from './daemon-harness.js';
import { DEFAULT_WARM_HOSTS } from '../src/daemon/config.js';

const TARGET_KIB_PER_DEVICE = 4;

/** RSS after the daemon has been idle for a moment (the lowest of a few samples: a GC may run meanwhile). */
async function settledRss(pid: number): Promise<number> {
  let low = Infinity;
  for (let i = 0; i < 5; i++) {
    await sleep(400);
    low = Math.min(low, rssKiB(pid));
  }
  return low;
}

/** PSS in KiB of `pid` (0 once it is gone). */
function pssKiB(pid: number): number {
  try {
    const m = /\nPss:\s+(\d+) kB/.exec(`\n${readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')}`);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Clients that attach to `sockets` and stay attached until `release`. */
async function attachAndHold(bin: string, sockets: readonly string[]): Promise<{ release(): Promise<void> }> {
  const child: ChildProcess = spawn(bin, ['-hold', ...sockets], { stdio: ['pipe', 'pipe', 'inherit'] });
  let lines = 0;
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      lines += b.toString().split('\n').length - 1;
      if (lines >= sockets.length) resolve();
    });
    child.once('exit', (code) => reject(new Error(`attach exited ${code}`)));
  });
  return {
    release: async () => {
      const gone = new Promise((r) => child.once('exit', r));
      child.stdin!.end();
      await gone;
    },
  };
}

/** PSS per attached device at each of `counts` attached (KiB), each from a daemon of its own. */
async function attached(dir: string, counts: readonly number[]): Promise<Record<number, number>> {
  const peers = compilePeers(dir);
  const out: Record<number, number> = {};
  for (const n of counts) {
    const d = await Daemon.start(join(dir, `state-${n}`), { parents: [{ driver: 'mtty', ports: Math.max(64, n) }] });
    let hold: { release(): Promise<void> } | undefined;
    try {
      const uuids = Array.from({ length: n }, () => d.create('mtty-1'));
      hold = await attachAndHold(peers.attach, uuids.map((u) => d.socket(u)));
      await poolSettled(d.pid, DEFAULT_WARM_HOSTS);
      await sleep(1000);
      const procs = hostProcesses(d.pid);
      const total = procs.reduce((sum, p) => sum + pssKiB(p), 0);
      const held = deviceHosts(d.pid).filter((h) => h.held);
      const heldPss = held.reduce((sum, h) => sum + pssKiB(h.pid), 0) / Math.max(1, held.length);
      out[n] = Math.round(total / n);
      console.log(
        `${n} attached: hosts' PSS ${(total / 1024).toFixed(1)} MiB over ${procs.length} processes (the zygote and ${DEFAULT_WARM_HOSTS} warm included), ` +
          `${(out[n]! / 1024).toFixed(2)} MiB per attached device; a host holding a device alone: PSS ${(heldPss / 1024).toFixed(2)} MiB`,
      );
    } finally {
      await hold?.release();
      // The clients are gone: let their sessions end before the devices go with the daemon.
      await sleep(500);
      await d.stop();
    }
  }
  return out;
}

export async function main(argv: string[]): Promise<void> {
  const total = Number(argv[0] ?? 4096);
  const counts = (argv[1] ?? '1,16,64').split(',').map(Number);
  const loadBefore = load1();
  const steps = [...new Set([0, Math.min(1024, total), total])];
  const dir = mkdtempSync(join(tmpdir(), 'umdev-bench-memory-'));
  let daemon: Daemon | undefined;
  try {
    daemon = await Daemon.start(join(dir, 'state'), { parents: [{ driver: 'mtty', ports: total }] });
    const rss: Record<number, number> = {};
    let made = 0;
    for (const step of steps) {
      const t0 = Date.now();
      for (; made < step; made++) daemon.create('mtty-1');
      rss[step] = await settledRss(daemon.pid);
      console.log(`${step} devices: RSS ${(rss[step]! / 1024).toFixed(1)} MiB (${step > 0 ? `${((Date.now() - t0) / 1000).toFixed(1)} s to create` : 'baseline'})`);
    }
    const perDevice = (rss[total]! - rss[0]!) / total;
    await daemon.stop();
    daemon = undefined;
    const pss = await attached(dir, counts);
    console.log(
      JSON.stringify({
        bench: 'memory',
        unit: 'KiB',
        devices: total,
        ...Object.fromEntries(steps.map((s) => [`rss_kib_${s}`, rss[s]])),
        kib_per_device: Number(perDevice.toFixed(2)),
        target_kib_per_device: TARGET_KIB_PER_DEVICE,
        ...Object.fromEntries(counts.map((n) => [`pss_per_attached_kib_${n}`, pss[n]])),
        target_pss_per_attached_kib_64: 8192,
        load1_before: loadBefore,
        load1_after: load1(),
        ratio: Number((perDevice / TARGET_KIB_PER_DEVICE).toFixed(3)),
        better: 'lower',
      }),
    );
  } finally {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
