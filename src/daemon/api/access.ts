/**
 * Concepts: who may call what, decided before a request is routed. Like kernel sysfs (world-readable attributes,
 * root-only `create` and `remove`), reads are open to anyone who can connect unless `readers` is `group`, and every
 * call that changes something needs root or a member of the API group, judged by the peer's credentials on the Unix
 * socket. A tenant's data (a device's screen, its UART output) is read only by those who may change devices
 * (`tenantData` in the live routes), whatever `readers` says. The TCP listener has no peer credentials: every call there needs the bearer token, and a request carrying
 * `Origin` (a web page's fetch, a DNS-rebinding page) is refused whatever it carries.
 */
import type { IncomingMessage } from 'node:http';
import type { Errno } from '../../errors.js';
import type { PeerCred } from '../../native/index.js';
import type { ApiReaders } from '../config.js';
import { bearerMatches } from './token.js';

/** How a connection reached the API. Fixed when it connects; owned by the server. */
export type Caller = { readonly via: 'unix'; readonly cred: PeerCred | undefined } | { readonly via: 'tcp' };

/** The rules of one API server. */
export interface AccessPolicy {
  /** The group whose members may change things besides root. */
  readonly gid: number | undefined;
  readonly readers: ApiReaders;
  /** The TCP listener's bearer token. */
  readonly token: string | undefined;
}

/** An answer given instead of routing: the status, the errno for the body, and extra headers. */
export interface Refusal {
  readonly status: number;
  readonly errno: Errno;
  readonly message: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Methods that only read; everything else changes state and needs the rights to. */
export function isReadOnly(method: string | undefined): boolean {
  return method === 'GET' || method === 'HEAD';
}

/** True for root and for members (primary or supplementary) of the group. */
export function isPrivileged(cred: PeerCred | undefined, gid: number | undefined): boolean {
  if (cred === undefined) return false;
  if (cred.uid === 0) return true;
  return gid !== undefined && (cred.gid === gid || cred.groups.includes(gid));
}

/** Why `req` from `caller` is refused, or undefined when it may go on. */
export function refusal(caller: Caller, req: IncomingMessage, policy: AccessPolicy): Refusal | undefined {
  if (caller.via === 'tcp') {
    // Browsers always send Origin on cross-origin and on non-GET requests; scripts and umdevctl never do.
    if (req.headers.origin !== undefined) return { status: 403, errno: 'EACCES', message: 'requests from web pages (with an Origin header) are refused' };
    if (policy.token === undefined || !bearerMatches(req.headers.authorization, policy.token)) {
      return { status: 401, errno: 'EACCES', message: 'the TCP API needs "Authorization: Bearer <token>" (the token is in the daemon\'s api.token)', headers: { 'www-authenticate': 'Bearer' } };
    }
    return undefined;
  }
  if (isPrivileged(caller.cred, policy.gid)) return undefined;
  const who = caller.cred === undefined ? 'an unknown peer' : `uid ${caller.cred.uid}`;
  const rights = policy.gid === undefined ? 'root' : `root or members of group ${policy.gid}`;
  if (!isReadOnly(req.method)) return { status: 403, errno: 'EACCES', message: `${req.method} needs ${rights}; ${who} may only read` };
  if (policy.readers === 'group') return { status: 403, errno: 'EACCES', message: `reading the API needs ${rights}, not ${who}` };
  return undefined;
}

/**
 * A request that may carry a body must declare it as JSON: a form or `text/plain` POST is what a web page can send
 * without asking first, so accepting any type would let one reach the API. POST and PUT always count (an empty
 * `text/plain` POST to `/devices/:uuid/reset` would otherwise reset a device).
 */
export function bodyTypeRefusal(req: IncomingMessage): Refusal | undefined {
  const hasBody = req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH' || req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0' || req.headers['transfer-encoding'] !== undefined;
  if (!hasBody) return undefined;
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'application/json') return undefined;
  return { status: 415, errno: 'EINVAL', message: `${req.method} bodies must be "content-type: application/json", not ${JSON.stringify(req.headers['content-type'] ?? 'none')}` };
}
