/** Shared helpers for daemon tests: a log collector and a tiny JSON HTTP client (Unix socket or TCP). */
import { apiCall, parseEndpoint, type ApiEndpoint } from '../../src/api-client/http.js';
import { createLogger, type Logger } from '../../src/log.js';

/** A logger whose lines are kept in `lines` (debug level, text format). */
export function collectingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({ level: 'debug', sink: { write: (l: string) => lines.push(l) } }), lines };
}

/**
 * One API call to a socket path, a URL or an endpoint; returns the status, headers and parsed JSON body (undefined
 * when empty). A string body is sent as it is; JSON bodies and POSTs carry `content-type: application/json` unless
 * `headers` overrides it.
 */
export async function call(
  target: string | ApiEndpoint,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const ep = typeof target === 'string' ? parseEndpoint(target) : target;
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const res = await apiCall(ep, method, path, { ...(text === undefined ? {} : { body: text }), headers });
  const h = new Headers();
  for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
  let parsed: unknown;
  try {
    parsed = res.text === '' ? undefined : (JSON.parse(res.text) as unknown);
  } catch {
    parsed = res.text;
  }
  return { status: res.status, body: parsed, headers: h };
}

/** The `{error:{errno}}` of an error body. */
export function errnoOf(body: unknown): string | undefined {
  return (body as { error?: { errno?: string } } | undefined)?.error?.errno;
}
