import { join } from 'node:path';
import { apiJsonUrl } from './daemon-api.js';
import { context, fail } from './failure.js';
import type { CliContext } from './io.js';

/** `events [--api URL | --state-dir DIR] [-n COUNT]`. */
export interface EventsOptions {
  /** The daemon's base URL, e.g. `http://127.0.0.1:8080`. */
  readonly api?: string;
  /** Where umdevd writes `api.json` (`{"url": …}`); used when `api` is not given. */
  readonly stateDir?: string;
  /** Stop after this many events (default: follow until the daemon closes the stream). */
  readonly count?: number;
  /** Aborts the stream (Ctrl-C in the CLI; tests). */
  readonly signal?: AbortSignal;
}

/** The daemon's base URL from `--api`, or from `<state-dir>/api.json`. */
export async function apiUrl(opts: EventsOptions): Promise<string> {
  if (opts.api !== undefined) return opts.api;
  const file = join(opts.stateDir ?? 'umdev-state', 'api.json');
  const url = await apiJsonUrl(file);
  if (url === undefined) throw fail('EINVAL', `${file} has no "url" (umdevd runs without its API)`);
  return url;
}

/**
 * Follows `GET <api>/events` and copies each NDJSON event line to stdout as it arrives (the same lines with or
 * without `--json`: they already are JSON). Ends when the daemon closes the stream, after `count` events, or on abort.
 */
export async function eventsCommand(ctx: CliContext, opts: EventsOptions): Promise<void> {
  const base = await apiUrl(opts);
  const url = new URL('/events', base).toString();
  let res: Response;
  try {
    res = await fetch(url, { signal: opts.signal, headers: { accept: 'application/x-ndjson' } });
  } catch (e) {
    const cause = (e as { cause?: unknown }).cause;
    throw context(cause ?? e, `Unable to connect to ${url}`);
  }
  if (!res.ok || res.body === null) throw fail(res.status === 404 ? 'ENOENT' : 'EIO', `GET ${url}: HTTP ${res.status}`);
  const decoder = new TextDecoder();
  let pending = '';
  let seen = 0;
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      pending += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line === '') continue;
        ctx.stdout.write(`${line}\n`);
        if (opts.count !== undefined && ++seen >= opts.count) return;
      }
    }
  } catch (e) {
    if (opts.signal?.aborted === true) return;
    throw context(e, `Event stream from ${url} failed`);
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
