/**
 * Concepts: how the dashboard server talks to umdevd: the same control API the CLI uses, over the same transport
 * (its Unix socket, where umdevd judges the caller by this process's uid and groups, or TCP with the token). It
 * never sends anything the API would not take from the CLI; the API decides.
 */
import { apiCall, apiOpen, type ApiEndpoint, type RawReply } from '../api-client/http.js';

/** An API error, as the page and the log show it. */
export class UpstreamError extends Error {
  readonly status: number;
  readonly errno: string;
  constructor(status: number, errno: string, message: string) {
    super(message);
    this.status = status;
    this.errno = errno;
  }
}

/** The `{error:{errno,message}}` of a reply, or a plain description. */
export function upstreamError(r: RawReply): UpstreamError {
  try {
    const e = (JSON.parse(r.text) as { error?: { errno?: unknown; message?: unknown } }).error;
    if (typeof e?.errno === 'string' && typeof e.message === 'string') return new UpstreamError(r.status, e.errno, e.message);
  } catch {
    // Not JSON: described below.
  }
  return new UpstreamError(r.status, 'EIO', `umdevd answered ${r.status}`);
}

/** GET a JSON body; throws `UpstreamError` for anything but 200. */
export async function getJson(ep: ApiEndpoint, path: string): Promise<unknown> {
  return JSON.parse(await getText(ep, path)) as unknown;
}

/** GET a JSON body as umdevd wrote it, unparsed; throws `UpstreamError` for anything but 200. */
export async function getText(ep: ApiEndpoint, path: string): Promise<string> {
  const r = await apiCall(ep, 'GET', path);
  if (r.status !== 200) throw upstreamError(r);
  return r.text;
}

/**
 * Follow `GET /events` until `signal` aborts or the stream ends; each line is handed to `onEvent` parsed. Resolves
 * when the stream ends (the caller reconnects), rejects when it could not be opened.
 */
export async function followEvents(ep: ApiEndpoint, onOpen: () => void, onEvent: (e: unknown) => void, signal: AbortSignal): Promise<void> {
  const res = await apiOpen(ep, 'GET', '/events', { signal });
  if (res.statusCode !== 200) {
    const chunks: Buffer[] = [];
    for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
    const body = Buffer.concat(chunks);
    throw upstreamError({ status: res.statusCode ?? 0, headers: res.headers, text: body.toString('utf8'), body });
  }
  onOpen();
  let pending = '';
  try {
    for await (const c of res as AsyncIterable<Buffer>) {
      pending += c.toString('utf8');
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.trim() !== '') onEvent(JSON.parse(line) as unknown);
      }
    }
  } catch (e) {
    if (!signal.aborted) throw e;
  }
}
