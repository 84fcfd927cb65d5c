/**
 * Concepts: the control API's HTTP server (node:http, JSON in and out), on a Unix socket and, when configured, on
 * TCP. It owns the plumbing every route shares: the access gate (access.ts) before routing, body reading with a size
 * limit, JSON parsing, routing, and the one error mapping: a `UmdevError` becomes the HTTP status of its errno
 * (`httpStatus`) and `{"error":{"errno","message"}}`; anything else is a bug, logged with its stack and answered as
 * `EIO`. No request, however malformed, can crash the daemon, and the limits (limits.ts) keep any number of them
 * from exhausting it. No CORS headers are ever sent: browsers must not be able to read or write this API.
 */
import { rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { err, httpStatus, isUmdevError, toUmdevError, type Errno } from '../../errors.js';
import { describeError } from '../../log.js';
import { native } from '../../native/index.js';
import { containsNul } from '../names.js';
import { performance } from 'node:perf_hooks';
import { bodyTypeRefusal, isPrivileged, refusal, type AccessPolicy, type Caller, type Refusal } from './access.js';
import { ApiStats } from './stats.js';
import { definitionRoutes } from './definitions.js';
import { deviceRoutes } from './devices.js';
import { eventRoutes } from './events.js';
import { readJson } from './body.js';
import { DEFAULT_LIMITS, type ApiLimits } from './limits.js';
import { liveRoutes } from './live.js';
import { metricsRoutes } from './metrics.js';
import { migrationRoutes } from './migrations.js';
import { parentRoutes } from './parents.js';
import { peerOf } from './peer.js';
import { Router, type ApiContext, type ApiDeps, type ApiReply, type Route } from './router.js';

/** Largest request body accepted by default (API bodies are a few hundred bytes). */
export const MAX_BODY = DEFAULT_LIMITS.maxBody;

/** Every route of the control API. */
export const API_ROUTES: readonly Route[] = [...parentRoutes, ...deviceRoutes, ...liveRoutes, ...definitionRoutes, ...eventRoutes, ...migrationRoutes, ...metricsRoutes];

/** Where and for whom `ApiServer.listen` serves. At least one of `socket` and `tcp`. */
export interface ApiListenOptions {
  /** The Unix socket, created with this mode and group (never chmod'ed after it exists). */
  readonly socket?: { readonly path: string; readonly mode: number; readonly gid?: number };
  readonly tcp?: { readonly host: string; readonly port: number; readonly token: string };
  readonly access: Omit<AccessPolicy, 'token'>;
  readonly limits?: Partial<ApiLimits>;
}

/** A listening control API. Owned by the daemon; `close()` is graceful and idempotent. */
export class ApiServer {
  readonly #servers: Server[];
  readonly #abort: AbortController;
  readonly #open: Set<Socket>;
  #closing: Promise<void> | undefined;
  /** The Unix socket's path, when it listens on one. */
  readonly socketPath: string | undefined;
  /** `http://host:port` of the TCP listener, with the port actually bound. */
  readonly url: string | undefined;

  private constructor(servers: Server[], abort: AbortController, open: Set<Socket>, socketPath: string | undefined, url: string | undefined) {
    this.#servers = servers;
    this.#abort = abort;
    this.#open = open;
    this.socketPath = socketPath;
    this.url = url;
  }

  /** Start listening. The server adds `closing` (aborted by `close()`), the limits and the stream set to `deps`. */
  static async listen(deps: ApiDeps, options: ApiListenOptions, routes: readonly Route[] = API_ROUTES): Promise<ApiServer> {
    if (options.socket === undefined && options.tcp === undefined) throw err('EINVAL', 'the API needs a socket or a TCP address');
    const abort = new AbortController();
    const limits: ApiLimits = { ...DEFAULT_LIMITS, ...options.limits };
    const ctx: ApiContext = { ...deps, closing: abort.signal, limits, streams: new Set(), stats: new ApiStats() };
    const policy: AccessPolicy = { ...options.access, token: options.tcp?.token };
    const router = new Router(routes);
    const callers = new WeakMap<Socket, Caller>();
    const open = new Set<Socket>();
    const servers: Server[] = [];
    const started = async (s: Server): Promise<void> => {
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.once('listening', () => {
          s.off('error', reject);
          resolve();
        });
      });
    };
    try {
      let socketPath: string | undefined;
      if (options.socket !== undefined) {
        const { path, mode, gid } = options.socket;
        const s = httpServer(ctx, router, policy, callers, open, (sock) => ({ via: 'unix', cred: peerOf(sock) }));
        const fd = native.listenUnix(path, 128, mode, gid);
        s.listen({ fd });
        await started(s);
        socketPath = path;
      }
      let url: string | undefined;
      if (options.tcp !== undefined) {
        const s = httpServer(ctx, router, policy, callers, open, () => ({ via: 'tcp' }));
        s.listen(options.tcp.port, options.tcp.host);
        await started(s);
        const addr = s.address() as AddressInfo;
        url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
      }
      return new ApiServer(servers, abort, open, socketPath, url);
    } catch (e) {
      for (const s of servers) s.close();
      throw e;
    }
  }

  /** Connections open now (both listeners). */
  get connections(): number {
    return this.#open.size;
  }

  /** Stop accepting, end event streams, let in-flight requests finish, then drop idle keep-alive connections. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#abort.abort();
      await Promise.all(
        this.#servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeIdleConnections();
              // A request still running after 2 s (a stuck client upload) must not hold shutdown hostage.
              setTimeout(() => s.closeAllConnections(), 2000).unref();
            }),
        ),
      );
      // The Unix socket file is ours (we created it); a listening fd handed to Node does not unlink it on close.
      if (this.socketPath !== undefined) await rm(this.socketPath, { force: true });
    })();
    return this.#closing;
  }
}

/** One listener's http.Server with the limits applied and each connection's caller recorded. */
function httpServer(
  ctx: ApiContext,
  router: Router,
  policy: AccessPolicy,
  callers: WeakMap<Socket, Caller>,
  open: Set<Socket>,
  identify: (socket: Socket) => Caller,
): Server {
  const { limits } = ctx;
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: Math.max(limits.requestTimeoutMs, limits.headersTimeoutMs),
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // How often the two timeouts above are enforced (Node's default, 30 s, would let a slow-loris sit that long).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, limits.headersTimeoutMs / 2)),
    },
    (req, res) => {
      const caller = callers.get(req.socket) ?? { via: 'unix', cred: undefined };
      handle(ctx, router, policy, caller, req, res).catch((e: unknown) => {
        // handle() answers every error itself; reaching here means the response could not even be written.
        ctx.log.child('api').error(`request failed after the reply began: ${describeError(e)}`);
        res.destroy();
      });
    },
  );
  // Beyond this Node closes each new connection as it accepts it, so a flood costs no fds. When accept itself fails
  // with EMFILE, libuv closes the pending connection through a reserved fd and waits for the next one: no spin.
  server.maxConnections = limits.maxConnections;
  const perUid = new Map<number, number>();
  server.on('connection', (socket: Socket) => {
    const caller = identify(socket);
    const uid = caller.via === 'unix' ? caller.cred?.uid : undefined;
    if (uid !== undefined && uid !== 0) {
      const n = perUid.get(uid) ?? 0;
      if (n >= limits.maxConnectionsPerUid) {
        ctx.log.child('api').debug(`uid ${uid} has ${n} connections open; closing a new one`);
        socket.destroy();
        return;
      }
      perUid.set(uid, n + 1);
      socket.once('close', () => {
        const left = (perUid.get(uid) ?? 1) - 1;
        if (left === 0) perUid.delete(uid);
        else perUid.set(uid, left);
      });
    }
    callers.set(socket, caller);
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  server.on('clientError', (e: NodeJS.ErrnoException, socket) => {
    if (e.code === 'ERR_HTTP_REQUEST_TIMEOUT' || !socket.writable) {
      socket.destroy();
      return;
    }
    socket.end(e.code === 'HPE_HEADER_OVERFLOW' ? 'HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\n\r\n' : 'HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
  });
  return server;
}

async function handle(ctx: ApiContext, router: Router, policy: AccessPolicy, caller: Caller, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const log = ctx.log.child('api');
  const t0 = performance.now();
  let route = 'refused';
  let timed = true;
  res.once('close', () => ctx.stats.observe(req.method, route, res.statusCode, timed ? (performance.now() - t0) / 1000 : undefined));
  try {
    const early = refusal(caller, req, policy);
    if (early !== undefined) return refuse(res, early);
    route = 'none';
    // Past the gate over TCP means the token matched; on the socket it is the peer's uid and groups.
    const privileged = caller.via === 'tcp' || isPrivileged(caller.cred, policy.gid);
    const url = new URL(req.url ?? '/', 'http://localhost');
    // A NUL cannot be part of any name; refuse it here so it never reaches a lookup or a file path.
    if (/%00/.test(url.pathname) || url.search.includes('%00') || containsNul([...url.searchParams])) throw err('EINVAL', 'NUL in the request path or query');
    let match;
    try {
      match = router.match(req.method ?? 'GET', url.pathname);
    } catch {
      throw err('EINVAL', `malformed path ${JSON.stringify(url.pathname)}`);
    }
    if (match.route === undefined) {
      if (match.allowed.length === 0) return sendError(res, 404, 'ENOENT', `no route ${req.method} ${url.pathname}`);
      res.setHeader('allow', match.allowed.join(', '));
      return sendError(res, 405, 'EOPNOTSUPP', `${req.method} is not allowed on ${url.pathname}`);
    }
    const matched = match.route;
    route = matched.pattern;
    if ('stream' in matched) {
      timed = false;
      matched.stream(ctx, req, res, match.params);
      return;
    }
    const badType = bodyTypeRefusal(req);
    if (badType !== undefined) return refuse(res, badType);
    const body = await readJson(req, ctx.limits.maxBody);
    if (containsNul(body)) throw err('EINVAL', 'NUL in a string of the request body');
    let reply: ApiReply;
    try {
      reply = await matched.handler(ctx, { privileged, headers: req.headers, params: match.params, query: url.searchParams, body });
    } finally {
      // Also after a failure: a forced removal may have taken part of the tree before the error.
      if (req.method !== 'GET') await ctx.settled?.();
    }
    send(res, reply);
  } catch (e) {
    if (!isUmdevError(e)) log.error(`${req.method} ${req.url}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    const u = toUmdevError(e);
    log.debug(`${req.method} ${req.url} failed: ${u.errno}: ${u.message}`);
    sendError(res, httpStatus(u.errno), u.errno, u.message);
  }
}

function send(res: ServerResponse, reply: ApiReply): void {
  for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
  if (reply.body === undefined) {
    res.writeHead(reply.status).end();
    return;
  }
  if (Buffer.isBuffer(reply.body)) {
    res.writeHead(reply.status, { 'content-length': reply.body.length });
    res.end(reply.body);
    return;
  }
  const text = `${JSON.stringify(reply.body)}\n`;
  res.writeHead(reply.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function refuse(res: ServerResponse, r: Refusal): void {
  for (const [k, v] of Object.entries(r.headers ?? {})) res.setHeader(k, v);
  // The body was not read; close after answering so an unread upload cannot sit on the connection.
  res.setHeader('connection', 'close');
  sendError(res, r.status, r.errno, r.message);
}

function sendError(res: ServerResponse, status: number, errno: Errno, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  send(res, { status, body: { error: { errno, message } } });
}
