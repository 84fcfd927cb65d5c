/**
 * Concepts: the control API's routing table. A route is a method plus a pattern such as `/devices/:uuid`; handlers
 * are small functions that take the parsed request and return a status and a JSON body, or throw `UmdevError`. The
 * server (server.ts) does all HTTP plumbing; handlers never touch a socket, except streaming routes, which get the
 * raw response.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Core } from '../../core/core.js';
import type { Logger } from '../../log.js';
import type { ApiEndpoint } from '../../cli/api-client.js';
import type { IncomingMigrations } from '../migrate/incoming.js';
import type { MigrationEvent, MigrationResult } from '../migrate/outgoing.js';
import type { ApiLimits } from './limits.js';
import type { DeviceInsight } from '../live/insight.js';
import type { MigrationBoard } from '../migrate/board.js';
import type { ApiStats } from './stats.js';

/** What every handler may use. Owned by the daemon; lives as long as the API server. */
export interface ApiContext {
  readonly core: Core;
  readonly log: Logger;
  /** Path of a device's vfio-user socket, when the device is bound to a driver that serves one. */
  readonly socketPath: (uuid: string) => string | undefined;
  /** A device's screen as PNG (GET /devices/:uuid/screen.png); absent where no transport can show one. */
  readonly screen?: (uuid: string) => Promise<Buffer>;
  /**
   * Resolves once the mount shows the changes made so far; a changing request (not GET) is answered only after it,
   * so a device the API removed is gone from the mount when its caller hears back. Absent without a mount.
   */
  readonly settled?: () => Promise<void>;
  /** Where definitions live and where their temp files go (same filesystem). */
  readonly definitions: { readonly dir: string };
  /** Aborted when the daemon shuts down: streaming routes end their responses. */
  readonly closing: AbortSignal;
  readonly limits: ApiLimits;
  /** Live migration in and out of this daemon; absent where the daemon has no device transport that migrates. */
  readonly migrations?: {
    readonly incoming: IncomingMigrations;
    /** Where the migrations in progress and their totals are kept. */
    readonly board: MigrationBoard;
    /** Refuse (EBUSY) a migration the attached client could not follow, unless `force`; ENODEV for no device. */
    check(uuid: string, force: boolean): Promise<void>;
    out(uuid: string, dest: ApiEndpoint, options: { maxBandwidth: number | undefined; force: boolean }, progress: (e: MigrationEvent) => void): Promise<MigrationResult>;
    /** Ask the running migration of `uuid` to roll back; ENOENT when none runs. */
    abort(uuid: string): void;
  };
  /** The event streams open now (bounded by `limits.maxSubscribers`); owned by the server. */
  readonly streams: Set<ServerResponse>;
  /** What the device transport knows about devices (clients, counters, screens, UARTs); absent in toy setups. */
  readonly insight?: DeviceInsight;
  /** Migrations in progress and their totals (also where none can run: it is empty then). */
  readonly board?: MigrationBoard;
  /** Requests this API answered, for /metrics; owned by the server. */
  readonly stats: ApiStats;
}

/** What the daemon passes to `ApiServer.listen`; the server adds the rest of `ApiContext`. */
export type ApiDeps = Omit<ApiContext, 'closing' | 'limits' | 'streams' | 'stats'>;

/** A parsed request, as handlers see it. */
export interface ApiRequest {
  /**
   * True when the caller may change devices (root or the API group on the socket, the bearer token over TCP).
   * Reads of tenant data (screens, UART output) need it too, whatever `api.readers` allows.
   */
  readonly privileged: boolean;
  /** The request's headers (conditional requests read `if-none-match`). */
  readonly headers: IncomingHttpHeaders;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** The parsed JSON body; undefined when the request had none. */
  readonly body: unknown;
}

/** A handler's answer; `body` undefined means no content, a Buffer is sent as it is (with its `content-type` header). */
export interface ApiReply {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface JsonRoute {
  readonly method: Method;
  readonly pattern: string;
  readonly handler: (ctx: ApiContext, req: ApiRequest) => ApiReply | Promise<ApiReply>;
}

/** A route that writes its own response (the event stream). It must end `res` when `ctx.closing` aborts. */
export interface StreamRoute {
  readonly method: Method;
  readonly pattern: string;
  readonly stream: (ctx: ApiContext, req: IncomingMessage, res: ServerResponse, params: Readonly<Record<string, string>>) => void;
}

export type Route = JsonRoute | StreamRoute;

/** A route table compiled for matching. */
export class Router {
  readonly #compiled: { route: Route; re: RegExp; names: string[] }[];

  constructor(routes: readonly Route[]) {
    this.#compiled = routes.map((route) => {
      const names: string[] = [];
      const src = route.pattern
        .split('/')
        .map((seg) => {
          if (!seg.startsWith(':')) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          names.push(seg.slice(1));
          return '([^/]+)';
        })
        .join('/');
      return { route, re: new RegExp(`^${src}/?$`), names };
    });
  }

  /**
   * The route for a method and path: `{route, params}`, or `{allowed}` listing the methods the path does accept
   * (empty when no route has this path at all).
   */
  match(
    method: string,
    pathname: string,
  ): { route: Route; params: Record<string, string> } | { route: undefined; allowed: Method[] } {
    const allowed: Method[] = [];
    for (const { route, re, names } of this.#compiled) {
      const m = re.exec(pathname);
      if (m === null) continue;
      if (route.method !== method) {
        allowed.push(route.method);
        continue;
      }
      const params: Record<string, string> = {};
      names.forEach((n, i) => {
        params[n] = decodeURIComponent(m[i + 1]);
      });
      return { route, params };
    }
    return { route: undefined, allowed };
  }
}
