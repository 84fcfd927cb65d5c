/**
 * Concepts: `umdevctl dashboard`'s web server. It runs as the user who started it and reaches umdevd through the
 * control API with that user's credentials, so what the page may change is exactly what that user may change from
 * the CLI: a user outside root and the API group gets a read-only dashboard, and the API refuses a change whatever
 * a page sends. It listens on loopback unless told otherwise, and every request passes the gate (security.ts) first:
 * Host, session cookie (from the one-time login URL), Origin and CSRF token on changes.
 *
 * Routes: `/` (the page, or the login exchange with `?token=`), `/ui/<file>` (its script and icon),
 * `/api/session` (CSRF token, rights, peers), `/api/stream` (live feed, hub.ts), `/api/screen/<uuid>` (frames,
 * screens.ts), `/api/devices/<uuid>/migrate` (to a configured peer, progress streamed) and the proxied API calls of
 * proxy.ts.
 *
 * The page comes with what it shows first: its session (what `/api/session` answers) and the hub's state, as a JSON
 * data block (`<script type="application/json">`, which a browser never runs, so the policy's `script-src` has no
 * say in it). The page's frame is sent at once and the state when it is ready, in the same response, so neither the
 * first paint nor the list waits for a request the page makes itself; the live stream then starts from that state.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { apiCall, apiOpen, describeEndpoint, type ApiEndpoint } from '../api-client/http.js';
import { APP, dataBlock, defaultUiDir, loadAssets, type UiAssets } from './assets.js';
import { LiveHub } from './hub.js';
import { MAX_BODY, proxyTarget } from './proxy.js';
import { ScreenPollers } from './screens.js';
import { CSRF_HEADER, Gate, securityHeaders, type Session } from './security.js';
import { getJson, upstreamError } from './upstream.js';

/** A peer umdevd the page may migrate devices to, by name (the page never names an address itself). */
export interface Peer {
  readonly name: string;
  readonly endpoint: string;
  readonly token?: string;
}

export interface DashboardOptions {
  readonly api: ApiEndpoint;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0: any free port. */
  readonly port?: number;
  readonly peers?: readonly Peer[];
  /** Default: the built page in the package. */
  readonly uiDir?: string;
  readonly log?: (line: string) => void;
  /** Hub and screen timings, for tests. */
  readonly screenIntervalMs?: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** True for an address only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** A running dashboard. Owned by the command that started it; `close()` is idempotent. */
export class DashboardServer {
  readonly #server: Server;
  readonly #gate: Gate;
  readonly #hub: LiveHub;
  readonly #screens: ScreenPollers;
  readonly #sockets = new Set<Socket>();
  #closing: Promise<void> | undefined;
  /** `http://host:port`, the origin the page is served from. */
  readonly origin: string;

  private constructor(server: Server, gate: Gate, hub: LiveHub, screens: ScreenPollers, origin: string) {
    this.#server = server;
    this.#gate = gate;
    this.#hub = hub;
    this.#screens = screens;
    this.origin = origin;
  }

  static async start(o: DashboardOptions): Promise<DashboardServer> {
    const assets = loadAssets(o.uiDir ?? defaultUiDir());
    const host = o.host ?? '127.0.0.1';
    const log = o.log ?? ((line: string) => process.stderr.write(`umdevctl dashboard: ${line}\n`));
    const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 });
    server.maxConnections = 256;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address() as AddressInfo;
    const hostPart = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    const port = addr.port;
    // Loopback names are always accepted for a loopback listener; otherwise only the address it listens on.
    const names = isLoopback(host) ? [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${hostPart}:${port}`] : [`${hostPart}:${port}`];
    const gate = new Gate(names);
    const hub = new LiveHub({ api: o.api, log });
    const screens = new ScreenPollers({ api: o.api, ...(o.screenIntervalMs === undefined ? {} : { intervalMs: o.screenIntervalMs }) });
    const d = new DashboardServer(server, gate, hub, screens, `http://${hostPart}:${port}`);
    const headers = Object.entries(securityHeaders(assets.page.styleHash));
    const ctx: Ctx = { api: o.api, gate, hub, screens, assets, peers: o.peers ?? [], log };
    server.on('connection', (s: Socket) => {
      d.#sockets.add(s);
      s.once('close', () => d.#sockets.delete(s));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      for (const [k, v] of headers) res.setHeader(k, v);
      route(ctx, req, res).catch((e: unknown) => {
        log(`request failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        if (!res.headersSent) text(res, 500, 'internal error\n');
        else res.destroy();
      });
    });
    return d;
  }

  /** A login URL with a fresh one-time token. */
  loginUrl(): string {
    return `${this.origin}/?token=${this.#gate.issue()}`;
  }

  /** Pages with a live feed open now. */
  get viewers(): number {
    return this.#hub.viewers;
  }

  /** Upstream frame requests so far. */
  get screenRequests(): number {
    return this.#screens.upstreamRequests;
  }

  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#hub.close();
      this.#screens.close();
      this.#server.close(() => resolve());
      for (const s of this.#sockets) s.destroy();
    });
    return this.#closing;
  }
}

interface Ctx {
  readonly api: ApiEndpoint;
  readonly gate: Gate;
  readonly hub: LiveHub;
  readonly screens: ScreenPollers;
  readonly assets: UiAssets;
  readonly peers: readonly Peer[];
  readonly log: (line: string) => void;
}

function text(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers }).end(body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const t = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(t) }).end(t);
}

function refuse(res: ServerResponse, status: number, errno: string, message: string): void {
  res.setHeader('connection', 'close');
  json(res, status, { error: { errno, message } });
}

async function readBody(req: IncomingMessage): Promise<string> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw Object.assign(new Error('bodies must be application/json'), { status: 415 });
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > MAX_BODY) throw Object.assign(new Error(`body over ${MAX_BODY} bytes`), { status: 413 });
    chunks.push(c);
  }
  const raw = Buffer.concat(chunks).toString('utf8');
  if (raw === '') return '';
  // Re-serialised: what reaches the API is JSON this server parsed, never the page's bytes.
  try {
    return JSON.stringify(JSON.parse(raw) as unknown);
  } catch {
    throw Object.assign(new Error('the body is not JSON'), { status: 400 });
  }
}

async function route(ctx: Ctx, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!ctx.gate.hostAllowed(req)) return text(res, 421, 'this dashboard does not answer to that host name\n', { connection: 'close' });
  const url = new URL(req.url ?? '/', 'http://dashboard');
  const method = req.method ?? 'GET';
  if (url.pathname === '/' && method === 'GET' && url.searchParams.has('token')) {
    // A spent token with a session's cookie is that browser reloading the login URL: the cookie is what counts.
    const s = ctx.gate.redeem(url.searchParams.get('token') ?? '') ?? ctx.gate.session(req);
    if (s === undefined) return text(res, 403, 'This login link is wrong or was used already. Run `umdevctl dashboard` again for a new one.\n');
    // The page itself is the answer, not a redirect to `/`: that would cost a round trip before the first paint.
    // The page takes the spent token out of its address (history.replaceState) as it starts.
    res.setHeader('set-cookie', Gate.cookieFor(s));
    return page(ctx, res, s);
  }
  const originProblem = ctx.gate.originProblem(req);
  if (originProblem !== undefined) return refuse(res, 403, 'EACCES', originProblem);
  const session = ctx.gate.session(req);
  if (session === undefined) {
    if (url.pathname.startsWith('/api/')) return refuse(res, 401, 'EACCES', 'no dashboard session: open the URL umdevctl dashboard printed');
    return text(res, 401, 'Open the URL `umdevctl dashboard` printed (it carries a one-time login token).\n');
  }
  if (method === 'GET' && url.pathname === '/') return page(ctx, res, session);
  if (method === 'GET' && url.pathname === '/favicon.ico') return asset(ctx, res, 'icon.svg', url);
  if (method === 'GET' && url.pathname.startsWith('/ui/')) return asset(ctx, res, url.pathname.slice(4), url);
  if (url.pathname.startsWith('/api/')) return api(ctx, req, res, url, session);
  return text(res, 404, 'not found\n');
}

/**
 * A file of the page. The script named with its current hash (the URL the page uses) may be kept for good: another
 * build has another URL. The rest is checked with the server each time.
 */
function asset(ctx: Ctx, res: ServerResponse, name: string, url: URL): void {
  const a = ctx.assets.files.get(name);
  if (a === undefined || name === 'index.html') return text(res, 404, 'not found\n');
  const forGood = name === APP && url.searchParams.get('v') === ctx.assets.appVersion;
  res.writeHead(200, { 'content-type': a.type, 'content-length': a.body.length, 'cache-control': forGood ? 'private, max-age=31536000, immutable' : 'no-cache' }).end(a.body);
}

/** What the page is told of its session: the CSRF token for its changes, whether they may succeed, the peers. */
async function sessionInfo(ctx: Ctx, session: Session): Promise<unknown> {
  const who = (await getJson(ctx.api, '/whoami').catch(() => ({ privileged: false }))) as { privileged?: unknown };
  return { csrf: session.csrf, privileged: who.privileged === true, peers: ctx.peers.map((p) => p.name), api: describeEndpoint(ctx.api) };
}

/** How long the page's state may hold the page back; past it, the page gets its state from the live stream. */
const STATE_WAIT_MS = 3000;

/** The page: its frame at once, then its session and first state (or `null` and why, if umdevd does not answer). */
async function page(ctx: Ctx, res: ServerResponse, session: Session): Promise<void> {
  // no-store: the page carries the session's CSRF token and tenant state.
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.write(ctx.assets.page.head);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<{ problem: string }>((resolve) => {
    timer = setTimeout(() => resolve({ problem: `umdevd did not answer in ${STATE_WAIT_MS / 1000} s` }), STATE_WAIT_MS);
  });
  const [info, state] = await Promise.all([
    sessionInfo(ctx, session),
    Promise.race([ctx.hub.snapshot().then((s) => ({ s }), (e: unknown) => ({ problem: (e as Error).message })), late]),
  ]).finally(() => clearTimeout(timer));
  const boot = `{"session":${JSON.stringify(info)},"state":${'s' in state ? state.s : `null,"problem":${JSON.stringify(state.problem)}`}}`;
  res.end(Buffer.concat([Buffer.from(dataBlock('boot', boot)), ctx.assets.page.tail]));
}

async function api(ctx: Ctx, req: IncomingMessage, res: ServerResponse, url: URL, session: Session): Promise<void> {
  const method = req.method ?? 'GET';
  const segments = url.pathname.slice(5).split('/').map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return '\0';
    }
  });
  const changes = method !== 'GET' && method !== 'HEAD';
  if (changes && !ctx.gate.csrfOk(req, session)) return refuse(res, 403, 'EACCES', `a change needs the page's ${CSRF_HEADER}`);
  if (method === 'GET' && segments.length === 1 && segments[0] === 'session') return json(res, 200, await sessionInfo(ctx, session));
  if (method === 'GET' && segments.length === 1 && segments[0] === 'stream') {
    // A reconnecting EventSource names the last state it saw; a new one, the state its page came with.
    const since = req.headers['last-event-id'] ?? url.searchParams.get('since') ?? undefined;
    return ctx.hub.attach(res, typeof since === 'string' ? since : undefined);
  }
  if (method === 'GET' && segments.length === 2 && segments[0] === 'screen' && UUID.test(segments[1]!)) {
    const m = /^\s*(?:W\/)?"([^"]*)"\s*$/.exec(String(req.headers['if-none-match'] ?? ''));
    return ctx.screens.serve(segments[1]!, m?.[1], res);
  }
  if (method === 'GET' && segments.length === 2 && segments[0] === 'uart' && UUID.test(segments[1]!)) return uart(ctx, res, segments[1]!, url.searchParams.get('since'));
  if (method === 'POST' && segments.length === 3 && segments[0] === 'devices' && UUID.test(segments[1]!) && segments[2] === 'migrate') return migrate(ctx, req, res, segments[1]!);
  const target = proxyTarget(method, segments, url.searchParams);
  if (target === undefined) return refuse(res, 404, 'ENOENT', `the dashboard does not offer ${method} ${url.pathname}`);
  let body: string | undefined;
  if (target.route.body === true) {
    try {
      body = await readBody(req);
    } catch (e) {
      return refuse(res, (e as { status?: number }).status ?? 400, 'EINVAL', (e as Error).message);
    }
  }
  const r = await apiCall(ctx.api, method, target.path, body === undefined || body === '' ? {} : { body });
  if (changes && r.status < 300) ctx.hub.changed();
  res.writeHead(r.status, { 'content-type': String(r.headers['content-type'] ?? 'application/json'), 'cache-control': 'no-store', 'content-length': r.body.length }).end(r.body);
}

/** A device's UART output after `since`; a device without one is an answer (`{unavailable}`), not a failed request. */
async function uart(ctx: Ctx, res: ServerResponse, uuid: string, since: string | null): Promise<void> {
  const q = since !== null && /^\d{1,15}$/.test(since) ? `?since=${since}` : '';
  const r = await apiCall(ctx.api, 'GET', `/devices/${uuid}/uart${q}`);
  if (r.status === 200) {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': r.body.length }).end(r.body);
    return;
  }
  const e = upstreamError(r);
  json(res, 200, { unavailable: { status: r.status, errno: e.errno, message: e.message } });
}

/** Start a migration to a configured peer and pass its progress lines on as they come. */
async function migrate(ctx: Ctx, req: IncomingMessage, res: ServerResponse, uuid: string): Promise<void> {
  let peerName: unknown;
  try {
    peerName = (JSON.parse((await readBody(req)) || '{}') as { peer?: unknown }).peer;
  } catch (e) {
    return refuse(res, (e as { status?: number }).status ?? 400, 'EINVAL', (e as Error).message);
  }
  const peer = ctx.peers.find((p) => p.name === peerName);
  if (peer === undefined) return refuse(res, 400, 'EINVAL', `no peer named ${JSON.stringify(peerName)} was configured (umdevctl dashboard --peer NAME=ADDRESS)`);
  const up = await apiOpen(ctx.api, 'POST', `/devices/${uuid}/migrate`, { body: JSON.stringify({ to: peer.endpoint, ...(peer.token === undefined ? {} : { token: peer.token }) }) });
  res.writeHead(up.statusCode ?? 502, { 'content-type': String(up.headers['content-type'] ?? 'application/x-ndjson'), 'cache-control': 'no-store' });
  for await (const c of up as AsyncIterable<Buffer>) res.write(c);
  res.end();
  ctx.hub.changed();
}
