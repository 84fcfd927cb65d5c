/**
 * `npm run bench -- dashboard`: umdevd as shipped, with 10 and then 1,000 idle mtty devices, watched by
 * `umdevctl dashboard` in Debian's chromium (headless, playwright-core). Measured:
 * - first paint: navigation start to the first contentful paint, and to the device list being filled, of the first
 *   dashboard (logging in with the URL's token), with where its load went; and the first paint of a few more cold
 *   browsers, one at a time, since one sample on a shared machine says more about the machine than the page;
 * - event → DOM: a device created through the sysfs tree (as mdevctl does) until the page's device count shows
 *   it (p50, p99), against the baseline of the same event reaching a plain reader of umdevd's event stream
 *   (`umdevctl events`), in the same run: `ratio` is DOM p50 / stream p50 at 1,000 devices;
 * - the CPU (% of one core) and RSS umdevd spends with 10 dashboards open, over the same idle window with none;
 *   the dashboard server's own CPU and RSS are printed beside them.
 * Targets (issue): first paint ≤ 500 ms, event → DOM p99 ≤ 250 ms, ≤ 5 % of a core and ≤ 20 MB for 10 dashboards
 * on 1,000 idle devices.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { apiOpen } from '../src/api-client/http.js';
import { procStat } from '../src/daemon/proc-stat.js';
import { Daemon, rssKiB, sleep } from './daemon-harness.js';

const UMDEVCTL = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const WINDOW_MS = 8000;
const SAMPLES = 25;
/** Cold browsers whose first paint is measured (the first logs in with the URL's token). */
const COLD = 5;

const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

/** CPU % of one core and RSS (MiB) of `pid` over `ms`. */
async function usage(pid: number, ms: number): Promise<{ cpu: number; rssMiB: number }> {
  const a = procStat(pid);
  const t0 = performance.now();
  await sleep(ms);
  const b = procStat(pid);
  const dt = (performance.now() - t0) / 1000;
  return { cpu: a && b ? (100 * (b.cpuSeconds - a.cpuSeconds)) / dt : NaN, rssMiB: rssKiB(pid) / 1024 };
}

/** Events of umdevd's stream as they arrive, with their arrival time (the baseline reader). */
async function followStream(socket: string, signal: AbortSignal): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  const res = await apiOpen({ socket }, 'GET', '/events', { signal });
  let pending = '';
  res.on('data', (c: Buffer) => {
    const now = performance.timeOrigin + performance.now();
    pending += c.toString();
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const e = JSON.parse(pending.slice(0, nl)) as { kind: string; uuid?: string };
      pending = pending.slice(nl + 1);
      if (e.kind === 'add' && e.uuid !== undefined) seen.set(e.uuid, now);
    }
  });
  res.on('error', () => undefined);
  return seen;
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(10);
  }
}

/** Where a page's load went (ms after navigation start): the HTML's first and last bytes, DOMContentLoaded. */
interface Load {
  readonly responseStart: number;
  readonly responseEnd: number;
  readonly domContentLoaded: number;
}

/** Open the dashboard in a page; its first paint and when the device list was filled (ms after navigation start). */
async function openPage(ctx: BrowserContext, url: string): Promise<{ page: Page; fcp: number; listed: number; load: Load }> {
  const page = await ctx.newPage();
  await page.addInitScript({
    content: `window.__counts = [];
      document.addEventListener('DOMContentLoaded', () => {
        const c = document.getElementById('device-count');
        new MutationObserver(() => window.__counts.push([performance.timeOrigin + performance.now(), c.textContent, performance.now()])).observe(c, { childList: true, characterData: true, subtree: true });
      });`,
  });
  await page.goto(url);
  // The list may be filled before the first paint is reported (the paint entry comes when the frame is shown).
  await waitFor(async () => (await page.evaluate("window.__counts.length > 0 && performance.getEntriesByName('first-contentful-paint').length > 0")) as boolean);
  const fcp = (await page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")) as number;
  const listed = (await page.evaluate('window.__counts[0][2]')) as number;
  const load = (await page.evaluate("(({ responseStart, responseEnd, domContentLoadedEventStart }) => ({ responseStart, responseEnd, domContentLoaded: domContentLoadedEventStart }))(performance.getEntriesByType('navigation')[0])")) as Load;
  return { page, fcp, listed, load };
}

/** First paints of the dashboard in `n` browsers started afresh one after the other (the session's cookie given). */
async function coldPaints(n: number, origin: string, cookies: Parameters<BrowserContext['addCookies']>[0]): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const b = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
    try {
      const c = await b.newContext({ viewport: { width: 1600, height: 1000 } });
      await c.addCookies(cookies);
      out.push((await openPage(c, origin)).fcp);
    } finally {
      await b.close();
    }
  }
  return out;
}

async function measure(n: number): Promise<Record<string, number>> {
  const state = mkdtempSync(join(tmpdir(), 'umdev-bench-dash-'));
  const daemon = await Daemon.start(state, { parents: [{ driver: 'mtty', ports: 4096 }] });
  const abort = new AbortController();
  let dash: ReturnType<typeof spawn> | undefined;
  let browser: Browser | undefined;
  try {
    for (let i = 0; i < n; i++) daemon.create('mtty-1');
    dash = spawn(process.execPath, [UMDEVCTL, 'dashboard', '--state-dir', state], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    dash.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    await waitFor(() => /token=/.test(out));
    const url = out.trim().split('\n')[0]!;
    await sleep(500);
    const idle = await usage(daemon.pid, WINDOW_MS);

    // A fresh profile per run (launch makes a temporary one); each dashboard is a context of its own, as ten people
    // would be: one browser's tabs share six connections per host, and each open dashboard holds one.
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
    const ctx = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
    const first = await openPage(ctx, url);
    const cookies = await ctx.cookies();
    const origin = new URL(url).origin;

    // One sample of a cold browser's first paint is mostly how busy the machine was at that moment: a few more.
    const cold = [first.fcp, ...(await coldPaints(COLD - 1, origin, cookies))];

    // Event → DOM against event → stream reader, one device at a time.
    const stream = await followStream(join(state, 'api.sock'), abort.signal);
    const dom: number[] = [];
    const raw: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const before = (await first.page.evaluate('window.__counts.length')) as number;
      const t0 = performance.timeOrigin + performance.now();
      const uuid = daemon.create('mtty-1');
      await waitFor(async () => ((await first.page.evaluate('window.__counts.length')) as number) > before && stream.has(uuid));
      const shown = (await first.page.evaluate(`window.__counts[${before}][0]`)) as number;
      dom.push(shown - t0);
      raw.push(stream.get(uuid)! - t0);
      await sleep(150);
    }

    // Ten dashboards: ten pages on the one server, each with its own live feed.
    const more: Page[] = [];
    const warm: number[] = [];
    const warmListed: number[] = [];
    for (let i = 0; i < 9; i++) {
      const c = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
      await c.addCookies(cookies);
      const p = await openPage(c, origin);
      more.push(p.page);
      warm.push(p.fcp);
      warmListed.push(p.listed);
    }
    await sleep(2000);
    const [ten, server] = await Promise.all([usage(daemon.pid, WINDOW_MS), usage(dash.pid!, WINDOW_MS)]);
    return {
      devices: n,
      // The machine's 1-minute load average at the end of the run (2 cores here): how far to trust the timings.
      loadAverage: round(loadavg()[0]!, 2),
      firstContentfulPaintMs: round(first.fcp),
      listRenderedMs: round(first.listed),
      // Where the first dashboard's load went: the HTML's first and last bytes (the state comes last), DOMContentLoaded.
      htmlResponseStartMs: round(first.load.responseStart),
      htmlResponseEndMs: round(first.load.responseEnd),
      domContentLoadedMs: round(first.load.domContentLoaded),
      // Cold browsers (the first dashboard and COLD - 1 more, one at a time): median and worst.
      firstContentfulPaintColdP50Ms: round(pct(cold, 50)),
      firstContentfulPaintColdMaxMs: round(Math.max(...cold)),
      // The same for the next nine dashboards: the browser and the dashboard server are warm.
      firstContentfulPaintWarmMs: round(pct(warm, 50)),
      listRenderedWarmMs: round(pct(warmListed, 50)),
      eventToDomP50Ms: round(pct(dom, 50)),
      eventToDomP99Ms: round(pct(dom, 99)),
      eventToStreamP50Ms: round(pct(raw, 50), 2),
      eventToStreamP99Ms: round(pct(raw, 99), 2),
      umdevdCpuIdlePct: round(idle.cpu, 2),
      umdevdCpu10DashboardsPct: round(ten.cpu, 2),
      umdevdCpuAddedPct: round(ten.cpu - idle.cpu, 2),
      umdevdRssAddedMiB: round(ten.rssMiB - idle.rssMiB, 1),
      dashboardServerCpuPct: round(server.cpu, 2),
      dashboardServerRssMiB: round(server.rssMiB, 1),
    };
  } finally {
    abort.abort();
    await browser?.close().catch(() => undefined);
    if (dash?.exitCode === null) {
      dash.kill('SIGTERM');
      await new Promise((r) => dash!.once('exit', r));
    }
    await daemon.stop();
    rmSync(state, { recursive: true, force: true });
    rmSync(`${state}.config.json`, { force: true });
  }
}

export async function main(): Promise<void> {
  const results: Record<string, number>[] = [];
  for (const n of [10, 1000]) {
    {
      const r = await measure(n);
      results.push(r);
      console.log(`${n} devices: first paint ${r.firstContentfulPaintMs} ms (HTML ${r.htmlResponseStartMs}–${r.htmlResponseEndMs} ms, DOMContentLoaded ${r.domContentLoadedMs} ms, list ${r.listRenderedMs} ms; ${COLD} cold browsers p50 ${r.firstContentfulPaintColdP50Ms}, max ${r.firstContentfulPaintColdMaxMs} ms; warm ${r.firstContentfulPaintWarmMs} / ${r.listRenderedWarmMs} ms); load ${r.loadAverage}; event→DOM p50 ${r.eventToDomP50Ms} ms, p99 ${r.eventToDomP99Ms} ms (event→stream p50 ${r.eventToStreamP50Ms} ms); umdevd with 10 dashboards +${r.umdevdCpuAddedPct} % CPU, +${r.umdevdRssAddedMiB} MiB RSS; dashboard server ${r.dashboardServerCpuPct} % CPU, ${r.dashboardServerRssMiB} MiB`);
    }
  }
  const big = results[1]!;
  console.log(JSON.stringify({
    bench: 'dashboard',
    unit: 'ms',
    at10: results[0],
    at1000: big,
    ratio: round(big.eventToDomP50Ms! / Math.max(0.01, big.eventToStreamP50Ms!), 1),
    better: 'lower',
  }));
}
