/**
 * umdevd's memory per idle device: the daemon as shipped (FUSE, API, device hosts on demand) with an mtty pool of
 * 4,096 ports, RSS read once the daemon is ready (0 devices) and after creating 1,024 and then 4,096 single-port
 * devices through its sysfs tree, as mdevctl would. Each device has its sysfs nodes and a listening vfio-user
 * socket; no client connects, so no device host runs. `ratio` is the KiB per device over the 4 KiB target.
 *
 *   npm run bench -- memory [devices=4096]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon, rssKiB, sleep } from './daemon-harness.js';

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

export async function main(argv: string[]): Promise<void> {
  const total = Number(argv[0] ?? 4096);
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
    console.log(
      JSON.stringify({
        bench: 'memory',
        unit: 'KiB',
        devices: total,
        ...Object.fromEntries(steps.map((s) => [`rss_kib_${s}`, rss[s]])),
        kib_per_device: Number(perDevice.toFixed(2)),
        target_kib_per_device: TARGET_KIB_PER_DEVICE,
        ratio: Number((perDevice / TARGET_KIB_PER_DEVICE).toFixed(3)),
        better: 'lower',
      }),
    );
  } finally {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
