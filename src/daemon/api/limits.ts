/**
 * Concepts: the bounds that keep one client from exhausting the daemon through the API: how many connections (in
 * all, and per uid on the Unix socket, root exempt), how long a request may take to arrive, how big a body may be,
 * how many event streams may be open and how much may queue for one. Defaults suit a control API whose bodies are a
 * few hundred bytes; tests shorten the timeouts.
 */

export interface ApiLimits {
  /** Connections open at once; more are closed as they are accepted (`server.maxConnections`). */
  readonly maxConnections: number;
  /** Connections one non-root uid may hold on the Unix socket. */
  readonly maxConnectionsPerUid: number;
  /** Time for a request's headers to arrive (slow-loris). */
  readonly headersTimeoutMs: number;
  /** Time for a whole request (headers and body) to arrive. */
  readonly requestTimeoutMs: number;
  /** How long an idle keep-alive connection is kept. */
  readonly keepAliveTimeoutMs: number;
  /** Largest request body; more is 413. */
  readonly maxBody: number;
  /** Event streams open at once; more are refused with `EUSERS`. */
  readonly maxSubscribers: number;
  /** Bytes queued for one event stream before its client is cut off as not reading. */
  readonly maxQueuedEventBytes: number;
  /** Definitions one parent may have; a define beyond it is `ENOSPC`. */
  readonly maxDefinitions: number;
}

export const DEFAULT_LIMITS: ApiLimits = {
  maxConnections: 256,
  maxConnectionsPerUid: 32,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 2_000,
  maxBody: 64 * 1024,
  maxSubscribers: 64,
  maxQueuedEventBytes: 1 << 20,
  maxDefinitions: 1024,
};
