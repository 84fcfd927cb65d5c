/**
 * A burst of attaches against the daemon's own responsiveness, through umdevd as shipped: 100 clients connect at once
 * to 100 devices never used before (so 100 device hosts start) while a prober in a process of its own times the
 * API's `GET /types` and a FUSE `stat` + `read` of an attribute (what mdevctl, the kubelet agent and systemd's
 * watchdog do meanwhile). The baseline is the same prober against the same daemon with nothing else going on, in
 * the same run, first. Reports both probes' median, p99 and max during the burst, when the last client had its
 * VERSION answer, and whether any host was killed as stuck. `ratio` is the worse probe p99 during the burst over the
 * 100 ms target.
 *
 *   npm run bench -- burst [clients=100] [quietSeconds=2]
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { compilePeers } from './c-peers.js';
import { Daemon, load1, poolSettled, sleep } from './daemon-harness.js';
import { DEFAULT_WARM_HOSTS } from '../src/daemon/config.js';

const PROBER = fileURLToPath(new URL('./_burst-prober.js', import.meta.url));
const TARGET_MS = 100;

interface Probes {
  readonly api: number[];
  readonly fuse: number[];
}

/** Start the prober; resolves once it has answered both probes once. Its `stop` ends it and gives what it saw. */
async function startProber(apiSocket: string, attribute: string): Promise<{ stop(): Promise<Probes>; child: ChildProcess }> {
  const child = spawn(process.execPath, [PROBER, apiSocket, attribute], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (out.startsWith('ready\n')) resolve();
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => reject(new Error(`the prober exited ${code}: ${out}`)));
  });
  return {
    child,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      return JSON.parse(out.slice('ready\n'.length).trim()) as Probes;
    },
  };
}

const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))] ?? 0;
};
const r1 = (x: number): number => Number(x.toFixed(1));
const summary = (xs: readonly number[]): { median: number; p99: number; max: number; n: number } => ({
  median: r1(pct(xs, 50)),
  p99: r1(pct(xs, 99)),
  max: r1(Math.max(...xs)),
  n: xs.length,
});

export async function main(argv: string[]): Promise<void> {
  const clients = Number(argv[0] ?? 100);
  const quietSeconds = Number(argv[1] ?? 2);
  const dir = mkdtempSync(join(tmpdir(), 'umdev-bench-burst-'));
  let daemon: Daemon | undefined;
  let prober: ChildProcess | undefined;
  const loadBefore = load1();
  try {
    const peers = compilePeers(dir);
    const state = join(dir, 'state');
    daemon = await Daemon.start(state, { parents: [{ driver: 'mtty', ports: Math.max(256, clients) }] }, [], { captureStderr: true });
    const d = daemon;
    const uuids = Array.from({ length: clients }, () => d.create('mtty-1'));
    await poolSettled(d.pid, DEFAULT_WARM_HOSTS);
    const attribute = join(state, 'sys/class/mdev_bus/mtty/mdev_supported_types/mtty-1/available_instances');

    const quietProber = await startProber(join(state, 'api.sock'), attribute);
    prober = quietProber.child;
    await sleep(quietSeconds * 1000);
    const quiet = await quietProber.stop();

    const burstProber = await startProber(join(state, 'api.sock'), attribute);
    prober = burstProber.child;
    const t0 = performance.now();
    const { stdout } = await promisify(execFile)(peers.attach, uuids.map((u) => d.socket(u)), { maxBuffer: 1 << 20 });
    const burstMs = performance.now() - t0;
    const attachMs = stdout.trim().split('\n').map((l) => Number(l) / 1e6);
    // A little after the last answer: the hosts that were handed over settle, and the pool refills.
    await sleep(1000);
    const during = await burstProber.stop();
    prober = undefined;

    const stuck = (d.stderr.match(/stopped answering/g) ?? []).length;
    const failed = (d.stderr.match(/did not (boot|start)/g) ?? []).length;
    const api = summary(during.api);
    const fuse = summary(during.fuse);
    console.log(`quiet: API ${JSON.stringify(summary(quiet.api))} ms, FUSE ${JSON.stringify(summary(quiet.fuse))} ms`);
    console.log(`burst of ${clients}: all answered in ${r1(burstMs)} ms (slowest attach ${r1(Math.max(...attachMs))} ms); API ${JSON.stringify(api)} ms, FUSE ${JSON.stringify(fuse)} ms`);
    console.log(
      JSON.stringify({
        bench: 'burst',
        unit: 'ms',
        clients,
        attach_median_ms: r1(pct(attachMs, 50)),
        attach_slowest_ms: r1(Math.max(...attachMs)),
        quiet_api_p99_ms: summary(quiet.api).p99,
        quiet_fuse_p99_ms: summary(quiet.fuse).p99,
        api_median_ms: api.median,
        api_p99_ms: api.p99,
        api_max_ms: api.max,
        fuse_median_ms: fuse.median,
        fuse_p99_ms: fuse.p99,
        fuse_max_ms: fuse.max,
        hosts_killed_stuck: stuck,
        hosts_failed: failed,
        load1_before: loadBefore,
        load1_after: load1(),
        ratio: Number((Math.max(api.p99, fuse.p99) / TARGET_MS).toFixed(3)),
        better: 'lower',
      }),
    );
  } finally {
    if (prober && prober.exitCode === null && prober.signalCode === null) prober.kill('SIGKILL');
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
