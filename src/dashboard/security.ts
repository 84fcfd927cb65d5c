/**
 * Concepts: who may use a dashboard server, checked on every request before anything else. The dashboard acts with
 * the credentials of the user who started it, so anyone who can make it act owns those rights; the rules here keep
 * everyone else out:
 * - **Host**: only the names the server was started for (loopback names and the listen address) are answered, so
 *   a DNS-rebinding page that resolves its own name to 127.0.0.1 gets nothing.
 * - **Login**: the URL printed at start carries a one-time token; redeeming it sets an HttpOnly, SameSite=Strict
 *   session cookie and the token is spent. A copied URL, used later, opens nothing.
 * - **Origin**: a request that changes anything must carry an Origin equal to this server's own, and a CSRF token
 *   (given to the page with its session) in `x-csrf-token`; any request whose Origin is another site is refused.
 * - **Headers**: a strict Content-Security-Policy (scripts from this server only, no inline script; styles from this
 *   server and the page's own `<style>`, by its hash), no framing, no sniffing, no referrer; never any CORS header.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Cookie holding the session id. */
export const SESSION_COOKIE = 'umdev_dashboard';
/** Header the page sends its CSRF token in. */
export const CSRF_HEADER = 'x-csrf-token';

/**
 * The policy every response carries, for a page whose one `<style>` element hashes to `styleHash` (SHA-256,
 * base64): that element, and no other inline style or any inline script, is allowed (CSP level 2 hash sources).
 * `blob:` images are the screen frames the page decodes itself.
 */
export function contentSecurityPolicy(styleHash?: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self'${styleHash === undefined ? '' : ` 'sha256-${styleHash}'`}`,
    "img-src 'self' blob:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Headers on every response, with the policy for the page's style (contentSecurityPolicy). */
export function securityHeaders(styleHash?: string): Readonly<Record<string, string>> {
  return {
    'content-security-policy': contentSecurityPolicy(styleHash),
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
  };
}

/** One logged-in browser. */
export interface Session {
  readonly id: string;
  readonly csrf: string;
}

function token(): string {
  return randomBytes(24).toString('base64url');
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The value of cookie `name` in a Cookie header. */
export function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The login tokens, sessions and allowed hosts of one dashboard server. */
export class Gate {
  readonly #hosts: ReadonlySet<string>;
  readonly #origins: ReadonlySet<string>;
  readonly #tokens = new Set<string>();
  readonly #sessions = new Map<string, Session>();
  readonly #maxSessions: number;

  /** `hosts`: every `host:port` the server answers to (lower case). */
  constructor(hosts: readonly string[], maxSessions = 32) {
    this.#hosts = new Set(hosts.map((h) => h.toLowerCase()));
    this.#origins = new Set([...this.#hosts].map((h) => `http://${h}`));
    this.#maxSessions = maxSessions;
  }

  /** A new one-time login token. */
  issue(): string {
    const t = token();
    this.#tokens.add(t);
    return t;
  }

  /** Spend a login token for a new session; undefined when the token is unknown or spent. */
  redeem(t: string): Session | undefined {
    let found: string | undefined;
    for (const known of this.#tokens) if (same(known, t)) found = known;
    if (found === undefined) return undefined;
    this.#tokens.delete(found);
    // The oldest session goes first when too many are open: a bounded map, whatever a user does.
    if (this.#sessions.size >= this.#maxSessions) this.#sessions.delete(this.#sessions.keys().next().value as string);
    const s = { id: token(), csrf: token() };
    this.#sessions.set(s.id, s);
    return s;
  }

  /** The session of the request's cookie. */
  session(req: IncomingMessage): Session | undefined {
    const id = cookie(req.headers.cookie, SESSION_COOKIE);
    if (id === undefined) return undefined;
    for (const [known, s] of this.#sessions) if (same(known, id)) return s;
    return undefined;
  }

  /** True when the Host header names this server. */
  hostAllowed(req: IncomingMessage): boolean {
    const h = req.headers.host;
    return h !== undefined && this.#hosts.has(h.toLowerCase());
  }

  /**
   * Why the request's origin is refused, or undefined. Any Origin must be this server's own; a change (not GET or
   * HEAD) must carry one (browsers always send it on such requests), and Sec-Fetch-Site, where sent, must be
   * same-origin.
   */
  originProblem(req: IncomingMessage): string | undefined {
    const origin = req.headers.origin;
    const changes = req.method !== 'GET' && req.method !== 'HEAD';
    if (origin !== undefined && !this.#origins.has(origin.toLowerCase())) return `requests from ${origin} are refused`;
    if (changes && origin === undefined) return 'a change must come from the dashboard page (no Origin header)';
    const site = req.headers['sec-fetch-site'];
    if (changes && site !== undefined && site !== 'same-origin') return `a change must come from the dashboard page (Sec-Fetch-Site ${site})`;
    return undefined;
  }

  /** True when the request carries the session's CSRF token. */
  csrfOk(req: IncomingMessage, s: Session): boolean {
    const t = req.headers[CSRF_HEADER];
    return typeof t === 'string' && same(t, s.csrf);
  }

  /** The Set-Cookie value for a session. */
  static cookieFor(s: Session): string {
    return `${SESSION_COOKIE}=${s.id}; HttpOnly; SameSite=Strict; Path=/`;
  }
}
