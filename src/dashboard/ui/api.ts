/**
 * The page's calls to its dashboard server (same origin, with the session cookie). Every change carries the CSRF
 * token the session gave; what is allowed is umdevd's decision, and its refusal comes back as an `ApiError`.
 */
import type { SessionInfo } from './types.js';

export class ApiError extends Error {
  readonly status: number;
  readonly errno: string;
  constructor(status: number, errno: string, message: string) {
    super(message);
    this.status = status;
    this.errno = errno;
  }
}

let csrf = '';

/** Ask for the session (when the page did not come with it); its CSRF token goes on every change from now on. */
export async function session(): Promise<SessionInfo> {
  return useSession((await call('GET', '/api/session')) as SessionInfo);
}

/** Use `s` (the session the page came with): its CSRF token goes on every change from now on. */
export function useSession(s: SessionInfo): SessionInfo {
  csrf = s.csrf;
  return s;
}

async function failure(r: Response): Promise<ApiError> {
  try {
    const e = ((await r.json()) as { error?: { errno?: string; message?: string } }).error;
    return new ApiError(r.status, e?.errno ?? 'EIO', e?.message ?? r.statusText);
  } catch {
    return new ApiError(r.status, 'EIO', `${r.status} ${r.statusText}`);
  }
}

/** The `{unavailable: {status, errno, message}}` answer of a screen or console the device does not have (now). */
export function unavailable(body: unknown): ApiError {
  const u = (body as { unavailable?: { status?: number; errno?: string; message?: string } }).unavailable;
  return new ApiError(u?.status ?? 0, u?.errno ?? 'EIO', u?.message ?? 'unavailable');
}

/** One call; resolves with the parsed body (undefined when empty), rejects with `ApiError`. */
export async function call(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
  const headers: Record<string, string> = {};
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(path, { method, headers, cache: 'no-store', credentials: 'same-origin', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  if (!r.ok) throw await failure(r);
  const text = await r.text();
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

/** A POST whose answer is NDJSON lines (a migration's progress); `onLine` gets each. */
export async function callLines(path: string, body: unknown, onLine: (v: unknown) => void): Promise<void> {
  const r = await fetch(path, { method: 'POST', headers: { 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: JSON.stringify(body), cache: 'no-store' });
  if (!r.ok || r.body === null) throw await failure(r);
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let pending = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    pending += dec.decode(value, { stream: true });
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.trim() !== '') onLine(JSON.parse(line) as unknown);
    }
  }
}

/** A device's next screen frame: a blob, `unchanged` (304), or an ApiError (display off: EBUSY). */
export async function frame(uuid: string, tag: string | undefined, signal: AbortSignal): Promise<{ blob: Blob; tag: string } | 'unchanged'> {
  const r = await fetch(`/api/screen/${uuid}`, { headers: tag === undefined ? {} : { 'if-none-match': `"${tag}"` }, cache: 'no-store', signal });
  if (r.status === 304) return 'unchanged';
  if (!r.ok) throw await failure(r);
  if ((r.headers.get('content-type') ?? '').startsWith('application/json')) throw unavailable(await r.json());
  const etag = /^"([^"]*)"$/.exec(r.headers.get('etag') ?? '')?.[1] ?? '';
  return { blob: await r.blob(), tag: etag };
}
