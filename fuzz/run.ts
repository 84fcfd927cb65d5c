/**
 * `npm run fuzz -- TARGET [COUNT] [--seed N]`: runs `fuzz/targets/TARGET.ts` for COUNT inputs (default 10000),
 * printing progress on stderr and, as the last line on stdout, one JSON object
 * `{"target","inputs","crashes","hangs","slow","slowest_ms","errors","leaked_fds","fds_peak","rss_max_mb","seed"}`. The exit code is 1 when anything failed.
 */
import { readdirSync } from 'node:fs';
// Targets that run inputs concurrently through fs calls (sysfs) would be capped by libuv's default of 4 threads; set
// before the first fs request starts the pool.
process.env.UV_THREADPOOL_SIZE ??= '16';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type FuzzTarget, runFuzz } from './engine.js';

const here = join(dirname(fileURLToPath(import.meta.url)), 'targets');
const modules = readdirSync(here).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3));
// `T-*.js` are the helpers of target `T.js` (its messages, its server), not targets of their own.
const available = modules.filter((m) => !modules.some((t) => t !== m && m.startsWith(`${t}-`)));
const { positionals, values } = parseArgs({ allowPositionals: true, options: { seed: { type: 'string' } } });
const [name, countArg] = positionals;
const count = countArg === undefined ? 10_000 : Number(countArg);
const seed = values.seed === undefined ? Date.now() % 0x100000000 : Number(values.seed);
if (!name || !available.includes(name) || !Number.isInteger(count) || count < 1 || !Number.isInteger(seed)) {
  console.error(`usage: npm run fuzz -- TARGET [COUNT] [--seed N]   (TARGET: ${available.join(', ')})`);
  process.exit(2);
}
const mod = (await import(pathToFileURL(join(here, `${name}.js`)).href)) as { target: FuzzTarget };
const started = Date.now();
// SIGINT/SIGTERM end the run after the batch in flight, so the child is stopped (and a daemon unmounts) and the
// JSON line still reports the inputs run so far.
const interrupted = new AbortController();
let shown = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => interrupted.abort());
const result = await runFuzz(mod.target, {
  count,
  seed,
  signal: interrupted.signal,
  progress: (done, r) => {
    // Failures as they happen, so a long run that is stopped early has still said what went wrong.
    for (const f of r.failures.slice(shown)) console.error(`failure: ${f}`);
    shown = r.failures.length;
    const rate = Math.round(done / ((Date.now() - started) / 1000));
    console.error(`fuzz ${r.target}: ${done}/${count} inputs (${rate}/s), crashes ${r.crashes}, hangs ${r.hangs} (slow ${r.slow}, slowest ${r.slowest_ms} ms), errors ${r.errors}, fds peak +${r.fds_peak}, rss max ${r.rss_max_mb} MB`);
  },
});
for (const f of result.failures.slice(shown)) console.error(`failure: ${f}`);
const { failures: _failures, ...line } = result;
console.log(JSON.stringify(line));
process.exitCode = result.crashes + result.hangs + result.errors + result.leaked_fds > 0 ? 1 : 0;
