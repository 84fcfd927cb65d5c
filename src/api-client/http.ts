/**
 * Concepts: the transport to umdevd's control API, shared by the CLI and tests: HTTP over the daemon's Unix socket
 * (the default; the daemon judges the caller by its uid and groups), or over TCP with the bearer token. `fetch`
 * cannot reach a Unix socket, so this uses node:http, which can.
 */
import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';

/** Where the API is: its Unix socket, or a TCP URL and the token it needs. Plain data. */
export type ApiEndpoint = { readonly socket: string } | { readonly url: string; readonly token?: string };

/** `--api`/`UMDEV_API` text: an `http://` URL, else a socket path (an optional `unix:` prefix is dropped). */
export function parseEndpoint(text: string, token?: string): ApiEndpoint {
  if (/^https?:\/\//i.test(text)) return token === undefined || token === '' ? { url: text } : { url: text, token };
  return { socket: text.startsWith('unix:') ? text.slice(5) : text };
}

/** How an endpoint reads in messages. */
export function describeEndpoint(ep: ApiEndpoint): string {
  return 'socket' in ep ? ep.socket : ep.url;
}

/** A whole reply. */
export interface RawReply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  /** The body's bytes (a PNG, for a screenshot). */
  readonly body: Buffer;
}

export interface RequestOptions {
  /** Sent as it is; a body gets `content-type: application/json` unless `headers` says otherwise. */
  readonly body?: string | Buffer;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

/** Start a request and resolve with the response head; the caller reads (or destroys) the body. */
export function apiOpen(ep: ApiEndpoint, method: string, path: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
  const headers: Record<string, string> = {};
  if (opts.body !== undefined || method === 'POST' || method === 'PUT') headers['content-type'] = 'application/json';
  if (opts.body !== undefined) headers['content-length'] = String(Buffer.byteLength(opts.body));
  if ('url' in ep && ep.token !== undefined) headers.authorization = `Bearer ${ep.token}`;
  Object.assign(headers, opts.headers);
  return new Promise((resolve, reject) => {
    const req =
      'socket' in ep
        ? request({ socketPath: ep.socket, path, method, headers: { host: 'umdev', ...headers }, signal: opts.signal })
        : request(new URL(path, ep.url), { method, headers, signal: opts.signal });
    req.once('response', resolve);
    req.once('error', reject);
    req.end(opts.body);
  });
}

/** One request, read to the end. Rejects only when no reply came (no daemon, connection refused or reset). */
export async function apiCall(ep: ApiEndpoint, method: string, path: string, opts: RequestOptions = {}): Promise<RawReply> {
  const res = await apiOpen(ep, method, path, opts);
  const chunks: Buffer[] = [];
  for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
  const body = Buffer.concat(chunks);
  return { status: res.statusCode ?? 0, headers: res.headers, text: body.toString('utf8'), body };
}
