/** Shared helpers for daemon tests: a log collector and a tiny JSON HTTP client. */
import type { Logger } from '../../src/log.js';
import { createLogger } from '../../src/log.js';

/** A logger whose lines are kept in `lines` (debug level, text format). */
export function collectingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ level: 'debug', sink: { write: (l: string) => lines.push(l) } }), lines };
}

/** One API call; returns the status, headers and parsed JSON body (undefined when empty). */
export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const init: RequestInit = { method };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : (JSON.parse(text) as unknown), headers: res.headers };
}

/** The `{error:{errno}}` of an error body. */
export function errnoOf(body: unknown): string | undefined {
  return (body as { error?: { errno?: string } } | undefined)?.error?.errno;
}
