/**
 * Live-migration downtime: two umdevd on this machine (device hosts on, APIs on their Unix sockets), one device
 * whose vfio-user client is connected (so the live state is in a device host), moved back and forth with
 * `POST /devices/:uuid/migrate`. Downtime is what the source daemon measures: STOP_COPY's start to the
 * destination's RUNNING. The client reconnects to the new host after each move, as a VMM would.
 *
 * Two devices, one after the other: an mtty-2 (a 96-byte stream; target ≤ 5 ms), and an mbochs-medium (16 MiB of
 * video memory; target ≤ 250 ms) whose client sets a 1920×1080 mode, draws the whole screen through its mapping of
 * BAR0 before each move, and keeps redrawing a 256×256 square during it, so PRE_COPY carries the screen and
 * STOP_COPY the pages the square touched since. After each move the reconnected client checks, through its new
 * mapping, that the screen it drew arrived.
 *
 * Baseline, measured in the same run on the same device: `POST /devices/:uuid/reset` through the API, which crosses
 * the same boundaries a switch-over does (API request → daemon → device host over IPC → back) and does no
 * migration work; `ratio` is downtime / baseline, so it says how many such control round trips the switch-over
 * costs, independent of how fast this machine is.
 *
 *   npm run bench -- migrate [rounds=10]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { apiCall, apiOpen, parseEndpoint } from '../src/cli/api-client.js';
import { DISPI } from '../src/drivers/mbochs/dispi.js';
import { MMIO } from '../src/drivers/mbochs/spec.js';
import { native } from '../src/native/index.js';
import { VFIO_PCI_REGION } from '../src/vfio/constants.js';
import { VfioUserClient } from '../src/vfio-user/index.js';
import { untilReady } from './daemon-harness.js';

const UMDEVD = fileURLToPath(new URL('../src/daemon/main.js', import.meta.url));

interface Daemon {
  readonly dir: string;
  readonly api: string;
  readonly proc: ChildProcess;
}

async function startDaemon(): Promise<Daemon> {
  const dir = mkdtempSync(join(tmpdir(), 'umdev-bench-migrate-'));
  const config = join(dir, 'umdevd.json');
  writeFileSync(config, JSON.stringify({ parents: [{ driver: 'mtty' }, { driver: 'mbochs' }] }));
  const proc = spawn(process.execPath, [UMDEVD, '--config', config, '--state-dir', dir, '--no-mount', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await untilReady(proc);
  return { dir, api: join(dir, 'api.sock'), proc };
}

async function json(api: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const r = await apiCall(parseEndpoint(api), method, path, body === undefined ? {} : { body: JSON.stringify(body) });
  if (r.status >= 300) throw new Error(`${method} ${path}: HTTP ${r.status} ${r.text}`);
  return r.text === '' ? undefined : JSON.parse(r.text);
}

/** One migration through the source's API; resolves with the downtime it reports. */
async function migrate(from: Daemon, to: Daemon, uuid: string): Promise<number> {
  const res = await apiOpen(parseEndpoint(from.api), 'POST', `/devices/${uuid}/migrate`, { body: JSON.stringify({ to: to.api }) });
  let text = '';
  for await (const c of res as AsyncIterable<Buffer>) text += c.toString();
  const last = JSON.parse(text.trim().split('\n').at(-1)!) as { done?: { downtimeMs: number }; error?: unknown };
  if (!last.done) throw new Error(`migration failed: ${JSON.stringify(last.error)}`);
  return last.done.downtimeMs;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** What a device's client does around each move. */
interface Workload {
  readonly parent: string;
  readonly type: string;
  /** Called on each new connection; `round` numbers the moves. Returns a stop function for work during the move. */
  before(c: VfioUserClient, round: number): Promise<() => void>;
}

const mtty: Workload = {
  parent: 'mtty',
  type: 'mtty-2',
  before: async (c, round) => {
    await c.write(0, 7, Buffer.from([round & 0xff]));
    return () => undefined;
  },
};

const W = 1920;
const H = 1080;
const VRAM = 16 * 1024 * 1024;
/** The pixel the client draws at (x, y) in round `round`. */
const pixel = (x: number, y: number, round: number): number => ((x * 7 + y * 13 + round * 0x10101) & 0xffffff) >>> 0;

/** An mbochs-medium client: sets the mode, checks the previous round's screen arrived, draws, redraws a square. */
function mbochs(): Workload {
  const maps: ArrayBuffer[] = [];
  return {
    parent: 'mbochs',
    type: 'mbochs-medium',
    before: async (c, round) => {
      // The previous client has gone; its mapping with it.
      for (const m of maps.splice(0)) native.munmap(m);
      const info = await c.regionInfo(VFIO_PCI_REGION.BAR0);
      if (info.fd === undefined) throw new Error('BAR0 came without its memfd');
      const map = native.mmap(info.fd, Number(info.offset), VRAM, true);
      native.close(info.fd);
      maps.push(map);
      const fb = new Uint32Array(map);
      if (round > 0) {
        for (const [x, y] of [[0, 0], [W - 1, H - 1], [W / 2, 300], [W - 1, 0]] as const) {
          if (fb[y * W + x] !== pixel(x, y, round - 1)) throw new Error(`round ${round}: pixel (${x}, ${y}) did not migrate`);
        }
      }
      const reg = async (index: number, value: number): Promise<void> => {
        const b = Buffer.alloc(2);
        b.writeUInt16LE(value);
        await c.write(VFIO_PCI_REGION.BAR2, BigInt(MMIO.DISPI.offset + index * 2), b);
      };
      if (round === 0) {
        await reg(DISPI.BPP, 32);
        await reg(DISPI.XRES, W);
        await reg(DISPI.YRES, H);
        await reg(DISPI.VIRT_WIDTH, W);
        await reg(DISPI.ENABLE, DISPI.ENABLED | DISPI.LFB_ENABLED);
      }
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) fb[y * W + x] = pixel(x, y, round);
      // A square the guest keeps redrawing while the move runs: its pages differ from what PRE_COPY sent.
      let n = 0;
      const timer = setInterval(() => {
        n++;
        for (let y = 400; y < 656; y++) for (let x = 800; x < 1056; x++) fb[y * W + x] = pixel(x, y, round + n);
      }, 5);
      return () => clearInterval(timer);
    },
  };
}

interface Figures {
  readonly downtimeMs: number;
  readonly baselineMs: number;
}

/** Create one device of `w` on `a`, move it `rounds` times (after two warm-up moves) and take the medians. */
async function measure(a: Daemon, b: Daemon, w: Workload, rounds: number, clients: VfioUserClient[]): Promise<Figures> {
  const uuid = randomUUID();
  await json(a.api, 'POST', '/devices', { parent: w.parent, type: w.type, uuid });
  const downtimes: number[] = [];
  const resets: number[] = [];
  let here = a;
  let there = b;
  // One warm-up move each way, not counted (the first request of each path loads and compiles code).
  for (let i = 0; i < rounds + 2; i++) {
    const c = await VfioUserClient.connect(join(here.dir, 'run', `${uuid}.sock`));
    clients.push(c);
    // A VMM that can follow the move: it asks about migration (one that never does is refused).
    await c.migrationFlags();
    const stop = await w.before(c, i);
    const t0 = performance.now();
    await json(here.api, 'POST', `/devices/${uuid}/reset`);
    const reset = performance.now() - t0;
    let down: number;
    try {
      down = await migrate(here, there, uuid);
    } finally {
      stop();
    }
    await c.whenClosed();
    if (i >= 2) {
      downtimes.push(down);
      resets.push(reset);
    }
    [here, there] = [there, here];
    console.log(`${w.type} round ${i - 1 > 0 ? i - 1 : 'warm-up'}: downtime ${down.toFixed(3)} ms, API reset ${reset.toFixed(3)} ms`);
  }
  // The last move's client checks what arrived, then the device goes.
  const last = await VfioUserClient.connect(join(here.dir, 'run', `${uuid}.sock`));
  clients.push(last);
  (await w.before(last, rounds + 2))();
  await last.close();
  await json(here.api, 'DELETE', `/devices/${uuid}`);
  return { downtimeMs: median(downtimes), baselineMs: median(resets) };
}

export async function main(argv: string[]): Promise<void> {
  const rounds = Number(argv[0] ?? 10);
  const a = await startDaemon();
  const b = await startDaemon();
  const clients: VfioUserClient[] = [];
  try {
    const t = await measure(a, b, mtty, rounds, clients);
    console.log(`mtty-2 downtime median of ${rounds}: ${t.downtimeMs.toFixed(3)} ms (target ≤ 5 ms); API reset round trip ${t.baselineMs.toFixed(3)} ms`);
    const m = await measure(a, b, mbochs(), rounds, clients);
    console.log(`mbochs-medium downtime median of ${rounds}: ${m.downtimeMs.toFixed(3)} ms (target ≤ 250 ms); API reset round trip ${m.baselineMs.toFixed(3)} ms`);
    console.log(JSON.stringify({
      bench: 'migrate',
      device: 'mtty-2',
      rounds,
      downtimeMs: +t.downtimeMs.toFixed(3),
      baselineMs: +t.baselineMs.toFixed(3),
      ratio: +(t.downtimeMs / t.baselineMs).toFixed(2),
      mbochs: { device: 'mbochs-medium', downtimeMs: +m.downtimeMs.toFixed(3), baselineMs: +m.baselineMs.toFixed(3), ratio: +(m.downtimeMs / m.baselineMs).toFixed(2) },
    }));
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    for (const d of [a, b]) {
      d.proc.kill('SIGTERM');
      await new Promise((r) => d.proc.once('exit', r));
      rmSync(d.dir, { recursive: true, force: true });
    }
  }
}
