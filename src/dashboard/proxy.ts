/**
 * Concepts: the calls a page may make through the dashboard, each the very API call the CLI makes, listed here and
 * nowhere else. A request that matches no row is refused; a row's path parameters must be UUIDs or names, and
 * bodies are re-serialised JSON of at most `MAX_BODY` bytes, so a page cannot reach any other route of the API,
 * nor smuggle a second request. Whether the call is allowed is umdevd's decision, by this process's credentials.
 */

/** Largest request body a page may send (API bodies are a few hundred bytes). */
export const MAX_BODY = 64 * 1024;

/** One allowed call: the page's method and path pattern, and the API path it becomes. */
export interface ProxyRoute {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** Segments; `:uuid` and `:name` match a UUID or a name, and are passed on as they are. */
  readonly pattern: readonly string[];
  /** Query parameters passed on (all others dropped). */
  readonly query?: readonly string[];
  readonly body?: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

/** Reads and changes, by the page's path under `/api/`. */
export const PROXY_ROUTES: readonly ProxyRoute[] = [
  { method: 'GET', pattern: ['parents'] },
  { method: 'GET', pattern: ['devices'] },
  { method: 'GET', pattern: ['definitions'] },
  { method: 'GET', pattern: ['activity'] },
  { method: 'GET', pattern: ['migrations'] },
  { method: 'GET', pattern: ['whoami'] },
  { method: 'POST', pattern: ['devices'], body: true },
  { method: 'DELETE', pattern: ['devices', ':uuid'], query: ['force'] },
  { method: 'POST', pattern: ['devices', ':uuid', 'reset'] },
  { method: 'POST', pattern: ['devices', ':uuid', 'online'], body: true },
  { method: 'POST', pattern: ['definitions'], body: true },
  { method: 'DELETE', pattern: ['definitions', ':name', ':uuid'] },
];

/** The API path for a page's request, or undefined when no row allows it. `segments` come after `/api/`. */
export function proxyTarget(method: string, segments: readonly string[], query: URLSearchParams): { route: ProxyRoute; path: string } | undefined {
  for (const route of PROXY_ROUTES) {
    if (route.method !== method || route.pattern.length !== segments.length) continue;
    const ok = route.pattern.every((p, i) => {
      const s = segments[i]!;
      if (p === ':uuid') return UUID.test(s);
      if (p === ':name') return NAME.test(s);
      return p === s;
    });
    if (!ok) continue;
    const q = new URLSearchParams();
    for (const k of route.query ?? []) {
      const v = query.get(k);
      if (v !== null) q.set(k, v);
    }
    const qs = q.toString();
    return { route, path: `/${segments.join('/')}${qs === '' ? '' : `?${qs}`}` };
  }
  return undefined;
}
