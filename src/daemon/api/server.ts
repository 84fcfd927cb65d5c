/**
 * Concepts: the control API's HTTP server (node:http, JSON in and out). It owns the plumbing every route shares:
 * body reading with a size limit, JSON parsing, routing, and the one error mapping: a `UmdevError` becomes the HTTP
 * status of its errno (`httpStatus`) and `{"error":{"errno","message"}}`; anything else is a bug, logged with its
 * stack and answered as `EIO`. No request, however malformed, can crash the daemon.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { err, httpStatus, isUmdevError, toUmdevError, type Errno } from '../../core/errors.js';
import { describeError } from '../../log.js';
import { definitionRoutes } from './definitions.js';
import { deviceRoutes } from './devices.js';
import { eventRoutes } from './events.js';
import { parentRoutes } from './parents.js';
import { Router, type ApiContext, type ApiReply, type Route } from './router.js';

/** Largest request body accepted (API bodies are a few hundred bytes). */
export const MAX_BODY = 64 * 1024;

/** Every route of the control API. */
export const API_ROUTES: readonly Route[] = [...parentRoutes, ...deviceRoutes, ...definitionRoutes, ...eventRoutes];

/** What `ApiServer.listen` needs besides the context. */
export interface ApiListenOptions {
  readonly host: string;
  readonly port: number;
}

/** A listening control API. Owned by the daemon; `close()` is graceful and idempotent. */
export class ApiServer {
  readonly #server: Server;
  readonly #abort: AbortController;
  #closing: Promise<void> | undefined;
  /** `http://host:port`, with the port actually bound. */
  readonly url: string;

  private constructor(server: Server, abort: AbortController, url: string) {
    this.#server = server;
    this.#abort = abort;
    this.url = url;
  }

  /** Start listening. `ctx.closing` is replaced by the server's own signal (aborted by `close()`). */
  static async listen(ctx: Omit<ApiContext, 'closing'>, options: ApiListenOptions, routes: readonly Route[] = API_ROUTES): Promise<ApiServer> {
    const abort = new AbortController();
    const full: ApiContext = { ...ctx, closing: abort.signal };
    const router = new Router(routes);
    const server = createServer((req, res) => {
      handle(full, router, req, res).catch((e: unknown) => {
        // handle() answers every error itself; reaching here means the response could not even be written.
        full.log.child('api').error(`request failed after the reply began: ${describeError(e)}`);
        res.destroy();
      });
    });
    server.on('clientError', (_e, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return new ApiServer(server, abort, `http://${host}:${addr.port}`);
  }

  /** Stop accepting, end event streams, let in-flight requests finish, then drop idle keep-alive connections. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#abort.abort();
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
      // A request still running after 2 s (a stuck client upload) must not hold shutdown hostage.
      setTimeout(() => this.#server.closeAllConnections(), 2000).unref();
    });
    return this.#closing;
  }
}

async function handle(ctx: ApiContext, router: Router, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const log = ctx.log.child('api');
  try {
    const url = new URL(req.url ?? '/', 'http://localhost');
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
    const route = match.route;
    if ('stream' in route) {
      route.stream(ctx, req, res, match.params);
      return;
    }
    const body = await readJson(req);
    const reply = await route.handler(ctx, { params: match.params, query: url.searchParams, body });
    send(res, reply);
  } catch (e) {
    if (!isUmdevError(e)) log.error(`${req.method} ${req.url}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    const u = toUmdevError(e);
    log.debug(`${req.method} ${req.url} failed: ${u.errno}: ${u.message}`);
    sendError(res, httpStatus(u.errno), u.errno, u.message);
  }
}

/** Read the whole body (at most `MAX_BODY`) and parse it as JSON; no body means undefined. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) {
    req.resume();
    throw err('E2BIG', `request body is larger than ${MAX_BODY} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) {
      req.resume();
      throw err('E2BIG', `request body is larger than ${MAX_BODY} bytes`);
    }
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw err('EINVAL', `request body is not valid JSON: ${(e as Error).message}`);
  }
}

function send(res: ServerResponse, reply: ApiReply): void {
  for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
  if (reply.body === undefined) {
    res.writeHead(reply.status).end();
    return;
  }
  const text = `${JSON.stringify(reply.body)}\n`;
  res.writeHead(reply.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, errno: Errno, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  send(res, { status, body: { error: { errno, message } } });
}
