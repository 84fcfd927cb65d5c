import type { IncomingMessage } from 'node:http';
import { apiOpen, describeEndpoint, type ApiEndpoint } from './api-client.js';
import { knownApi } from './daemon-api.js';
import { context, fail } from '../mdevctl/failure.js';
import type { CliContext } from './io.js';

/** `events [--api SOCKET|URL | --state-dir DIR] [-n COUNT]`. */
export interface EventsOptions {
  /** The daemon's socket path or URL. */
  readonly api?: string;
  /** Where umdevd writes `api.json`; used when `api` is not given. */
  readonly stateDir?: string;
  /** Stop after this many events (default: follow until the daemon closes the stream). */
  readonly count?: number;
  /** Aborts the stream (Ctrl-C in the CLI; tests). */
  readonly signal?: AbortSignal;
  /** The environment, for `UMDEV_API_TOKEN`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** The daemon's endpoint: `--api`, `UMDEV_API`, else the state dir found by the one rule (find-state.ts). */
export async function eventsEndpoint(opts: EventsOptions): Promise<ApiEndpoint> {
  return (await knownApi({ api: opts.api, stateDir: opts.stateDir }, opts.env ?? {}, true)) as ApiEndpoint;
}

/**
 * Follows `GET <api>/events` and copies each NDJSON event line to stdout as it arrives (the same lines with or
 * without `--json`: they already are JSON). Ends when the daemon closes the stream, after `count` events, or on abort.
 */
export async function eventsCommand(ctx: CliContext, opts: EventsOptions): Promise<void> {
  const ep = await eventsEndpoint(opts);
  const url = `${describeEndpoint(ep)} /events`;
  let res: IncomingMessage;
  try {
    res = await apiOpen(ep, 'GET', '/events', { signal: opts.signal, headers: { accept: 'application/x-ndjson' } });
  } catch (e) {
    if (opts.signal?.aborted === true) return;
    throw context(e, `Unable to connect to ${describeEndpoint(ep)}`);
  }
  const status = res.statusCode ?? 0;
  if (status !== 200) {
    res.destroy();
    throw fail(status === 404 ? 'ENOENT' : status === 401 || status === 403 ? 'EACCES' : 'EIO', `GET ${url}: HTTP ${status}`);
  }
  const decoder = new TextDecoder();
  let pending = '';
  let seen = 0;
  try {
    for await (const value of res as AsyncIterable<Buffer>) {
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
    res.destroy();
  }
}
