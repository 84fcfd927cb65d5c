/**
 * Screenshots under load, through umdevd as shipped: an mbochs-large shows a 1920×1080 picture its client drew,
 * and the client times 4-byte config reads, quiet and then while 50 screenshot requests are kept in flight against
 * the API. The device's host makes the frames (one at a time, shared by requests that come meanwhile) off its
 * client's serving path; the root only passes them on. Then the device migrates to a second daemon where no client
 * is attached, and the same 50-deep load runs there. Reported: the config-read p99 under load over quiet (`ratio`),
 * the roots' CPU (percent of one core) under load, and whether the hosts lived.
 *
 *   npm run bench -- screen-load [reads=4000]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { apiCall, parseEndpoint } from '../src/cli/api-client.js';
import { DISPI } from '../src/drivers/mbochs/dispi.js';
import { MMIO } from '../src/drivers/mbochs/spec.js';
import { native } from '../src/native/index.js';
import { VFIO_PCI_REGION as R } from '../src/vfio/constants.js';
import { VfioUserClient } from '../src/vfio-user/client.js';
import { Daemon, childPids, sleep } from './daemon-harness.js';

const WIDTH = 1920;
const HEIGHT = 1080;
const IN_FLIGHT = 50;

/** utime + stime of `pid`, in seconds. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]!;
}

const HAMMER = fileURLToPath(new URL('./_screen-hammer.js', import.meta.url));

/** `IN_FLIGHT` screenshot requests kept going by another process until `stop` resolves; answers by status. */
async function hammer(api: string, uuid: string, stop: Promise<void>): Promise<Record<string, number>> {
  const child = spawn(process.execPath, [HAMMER, api, uuid, String(IN_FLIGHT)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise((r) => child.once('exit', r));
  await stop;
  child.kill('SIGTERM');
  await exited;
  return JSON.parse(out || '{}') as Record<string, number>;
}

/** The root's CPU (percent of one core) while `fn` runs. */
async function rootCpu<T>(pid: number, fn: () => Promise<T>): Promise<{ result: T; cpu: number }> {
  const t0 = performance.now();
  const c0 = cpuSeconds(pid);
  const result = await fn();
  return { result, cpu: (100 * (cpuSeconds(pid) - c0)) / ((performance.now() - t0) / 1000) };
}

export async function main(argv: string[]): Promise<void> {
  const reads = Number(argv[0] ?? 4000);
  const dir = mkdtempSync(join(tmpdir(), 'umdev-bench-screen-'));
  const daemons: Daemon[] = [];
  try {
    const src = await Daemon.start(join(dir, 'a'), { parents: [{ driver: 'mbochs' }] });
    daemons.push(src);
    const uuid = src.create('mbochs-large', 'mbochs');
    const c = await VfioUserClient.connect(src.socket(uuid));
    // A VMM that can follow the migration below: it asks about it.
    await c.migrationFlags();
    const reg = async (index: number, value: number): Promise<void> => {
      const b = Buffer.alloc(2);
      b.writeUInt16LE(value);
      await c.write(R.BAR2, BigInt(MMIO.DISPI.offset + index * 2), b);
    };
    for (const [i, v] of [[DISPI.BPP, 32], [DISPI.XRES, WIDTH], [DISPI.YRES, HEIGHT], [DISPI.VIRT_WIDTH, WIDTH], [DISPI.ENABLE, DISPI.ENABLED | DISPI.LFB_ENABLED]] as const) await reg(i, v);
    const info = await c.regionInfo(R.BAR0);
    const vram = new Uint8Array(native.mmap(info.fd!, info.offset, WIDTH * HEIGHT * 4, true));
    // A desktop-like picture: a gradient, with windows of fine detail (which compress less) on it.
    for (let y = 0; y < HEIGHT; y++) {
      for (let x = 0; x < WIDTH; x++) {
        const detail = (x >> 7) % 3 === 1 && (y >> 7) % 2 === 1;
        const at = (y * WIDTH + x) * 4;
        if (detail) vram.set([(x * y) & 0xff, (x ^ y) & 0xff, (x + 3 * y) & 0xff, 0], at);
        else vram.set([y & 0xff, x >> 3, 0x60, 0], at);
      }
    }
    const timeReads = async (n: number): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await c.read(R.CONFIG, 0n, 4);
        out.push((performance.now() - t) * 1000);
      }
      return out;
    };
    const [host] = childPids(src.pid);
    await timeReads(500);
    const quiet = await timeReads(reads);
    let loaded: number[] = [];
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const { result: statuses, cpu: srcCpu } = await rootCpu(src.pid, async () => {
      const load = hammer(join(src.stateDir, 'api.sock'), uuid, stopped);
      await sleep(500);
      loaded = await timeReads(reads);
      stop();
      return load;
    });
    const srcHostAlive = host !== undefined && childPids(src.pid).includes(host);
    console.log(`attached: config read p99 ${p99(quiet).toFixed(1)} µs quiet, ${p99(loaded).toFixed(1)} µs with ${IN_FLIGHT} screenshots in flight; root CPU ${srcCpu.toFixed(1)} %; answers ${JSON.stringify(statuses)}; host alive ${srcHostAlive}`);

    // Migrated, with no client at the destination: its host keeps the screen, and makes the frames.
    const dst = await Daemon.start(join(dir, 'b'), { parents: [{ driver: 'mbochs' }] });
    daemons.push(dst);
    native.munmap(vram.buffer as ArrayBuffer);
    const moved = await apiCall(parseEndpoint(join(src.stateDir, 'api.sock')), 'POST', `/devices/${uuid}/migrate`, { body: JSON.stringify({ to: join(dst.stateDir, 'api.sock') }) });
    if (!moved.text.includes('"done"')) throw new Error(`migration failed: ${moved.text}`);
    c.close();
    const dstApi = join(dst.stateDir, 'api.sock');
    const first = await apiCall(parseEndpoint(dstApi), 'GET', `/devices/${uuid}/screen.png`);
    if (first.status !== 200) throw new Error(`the destination shows no screen: ${first.status} ${first.text}`);
    const [dstHost] = childPids(dst.pid);
    let stop2!: () => void;
    const stopped2 = new Promise<void>((r) => (stop2 = r));
    const { result: statuses2, cpu: dstCpu } = await rootCpu(dst.pid, async () => {
      const load = hammer(dstApi, uuid, stopped2);
      await sleep(3000);
      stop2();
      return load;
    });
    const dstHostAlive = dstHost !== undefined && childPids(dst.pid).includes(dstHost);
    console.log(`migrated, no client: root CPU ${dstCpu.toFixed(1)} %; answers ${JSON.stringify(statuses2)}; host alive ${dstHostAlive}`);
    const ratio = p99(loaded) / p99(quiet);
    console.log(
      JSON.stringify({
        bench: 'screen-load',
        unit: 'us',
        quiet_p99: Number(p99(quiet).toFixed(1)),
        loaded_p99: Number(p99(loaded).toFixed(1)),
        ratio: Number(ratio.toFixed(2)),
        better: 'lower',
        root_cpu_pct: Number(srcCpu.toFixed(1)),
        migrated_root_cpu_pct: Number(dstCpu.toFixed(1)),
        screenshots: (statuses['200'] ?? 0) + (statuses2['200'] ?? 0),
        hosts_alive: srcHostAlive && dstHostAlive,
        n: reads,
      }),
    );
  } finally {
    for (const d of daemons) await d.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
