/**
 * Live-migration downtime: two umdevd on this machine (device hosts on, APIs on their Unix sockets), one mtty-2
 * whose vfio-user client is connected (so the live state is in a device host), moved back and forth with
 * `POST /devices/:uuid/migrate`. Downtime is what the source daemon measures: STOP_COPY's start to the
 * destination's RUNNING. The client reconnects to the new host after each move, as a VMM would.
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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { apiCall, apiOpen, parseEndpoint } from '../src/cli/api-client.js';
import { VfioUserClient } from '../src/vfio-user/index.js';

const UMDEVD = fileURLToPath(new URL('../src/daemon/main.js', import.meta.url));

interface Daemon {
  readonly dir: string;
  readonly api: string;
  readonly proc: ChildProcess;
}

async function startDaemon(): Promise<Daemon> {
  const dir = mkdtempSync(join(tmpdir(), 'umdev-bench-migrate-'));
  const proc = spawn(process.execPath, [UMDEVD, '--state-dir', dir, '--no-mount', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('umdevd ready')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`umdevd exited ${code} before ready`)));
  });
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

export async function main(argv: string[]): Promise<void> {
  const rounds = Number(argv[0] ?? 10);
  const a = await startDaemon();
  const b = await startDaemon();
  const clients: VfioUserClient[] = [];
  try {
    const uuid = randomUUID();
    await json(a.api, 'POST', '/devices', { parent: 'mtty', type: 'mtty-2', uuid });
    const downtimes: number[] = [];
    const resets: number[] = [];
    let here = a;
    let there = b;
    // One warm-up move each way, not counted (the first request of each path loads and compiles code).
    for (let i = 0; i < rounds + 2; i++) {
      const c = await VfioUserClient.connect(join(here.dir, 'run', `${uuid}.sock`));
      clients.push(c);
      await c.write(0, 7, Buffer.from([i & 0xff]));
      const t0 = performance.now();
      await json(here.api, 'POST', `/devices/${uuid}/reset`);
      const reset = performance.now() - t0;
      const down = await migrate(here, there, uuid);
      await c.whenClosed();
      if (i >= 2) {
        downtimes.push(down);
        resets.push(reset);
      }
      [here, there] = [there, here];
      console.log(`round ${i - 1 > 0 ? i - 1 : 'warm-up'}: downtime ${down.toFixed(3)} ms, API reset ${reset.toFixed(3)} ms`);
    }
    const downtime = median(downtimes);
    const baseline = median(resets);
    console.log(`mtty-2 downtime median of ${rounds}: ${downtime.toFixed(3)} ms (target ≤ 5 ms); API reset round trip ${baseline.toFixed(3)} ms`);
    console.log(JSON.stringify({ bench: 'migrate', device: 'mtty-2', rounds, downtimeMs: +downtime.toFixed(3), baselineMs: +baseline.toFixed(3), ratio: +(downtime / baseline).toFixed(2), mbochs: 'not measured: no mbochs driver on this branch' }));
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    for (const d of [a, b]) {
      d.proc.kill('SIGTERM');
      await new Promise((r) => d.proc.once('exit', r));
      rmSync(d.dir, { recursive: true, force: true });
    }
  }
}
