/**
 * What the api fuzz target sends: raw HTTP/1.1 bytes, so anything malformed is possible. Real routes with mutated
 * parameters (NUL, `%00`, bad escapes, huge), odd methods and queries, content-type and content-length variants,
 * chunked bodies right and wrong, huge and repeated headers, and bodies that are valid for a route, mutated, random
 * JSON, or JSON nested deeper than a parser's stack.
 */
import type { Rng } from '../rng.js';
import { payload, uuid } from './sysfs-payloads.js';

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'get', 'CONNECT', 'TRACE', 'PRI', 'X'.repeat(300)];
const ROUTES = [
  '/parents', '/parents/:parent', '/parents/:parent/types', '/types', '/devices', '/devices/:uuid', '/devices/:uuid/online',
  '/devices/:uuid/reset', '/groups/online', '/definitions', '/definitions/:parent/:uuid', '/events', '/', '*',
];
const TYPES = ['application/json', 'APPLICATION/JSON; charset=utf-8', 'application/json;', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', '', 'application/jsonx'];

/** A request: its bytes, and whether it is whole (so the server owes an answer). */
export interface RawRequest {
  readonly bytes: Buffer;
  readonly line: string;
}

/** One request, or a few pipelined. `known` are device UUIDs that exist now. */
export function request(rng: Rng, known: readonly string[]): RawRequest {
  const method = rng.chance(0.85) ? rng.pick(['GET', 'POST', 'DELETE', 'POST', 'PUT']) : rng.pick(METHODS);
  const path = rng.pick(ROUTES).replace(':parent', () => param(rng, 'mtty')).replace(':uuid', () => param(rng, known.length > 0 && rng.chance(0.5) ? rng.pick(known) : uuid(rng)));
  const target = rng.chance(0.3) ? `${path}?${query(rng)}` : path;
  const body = bodyFor(rng, path, known);
  const headers: string[] = [];
  if (rng.chance(0.9)) headers.push('host: umdev');
  if (body.length > 0 || rng.chance(0.5)) headers.push(`content-type: ${rng.chance(0.8) ? 'application/json' : rng.pick(TYPES)}`);
  const chunked = rng.chance(0.1);
  if (chunked) headers.push('transfer-encoding: chunked');
  else if (rng.chance(0.9)) headers.push(`content-length: ${rng.chance(0.85) ? body.length : rng.pick(['-1', '1e20', 'abc', '0', `${body.length + 1}`, `${Math.max(0, body.length - 1)}`, '99999999', `${body.length}, ${body.length}`])}`);
  if (rng.chance(0.05)) headers.push(`x-big: ${'a'.repeat(rng.pick([8000, 20_000, 100_000]))}`);
  if (rng.chance(0.05)) for (let i = 0, n = rng.pick([50, 200, 2000]); i < n; i++) headers.push(`x-${i}: ${i}`);
  if (rng.chance(0.05)) headers.push(rng.pick(['expect: 100-continue', 'connection: keep-alive', 'origin: http://evil', 'authorization: Bearer x', 'content-length: 5', 'transfer-encoding: gzip, chunked', 'bad header', ': empty', 'x-nul: a\0b']));
  const version = rng.chance(0.95) ? 'HTTP/1.1' : rng.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/9', 'http/1.1', '']);
  const head = Buffer.from(`${method} ${target} ${version}\r\n${headers.join('\r\n')}\r\n\r\n`, 'latin1');
  const bytes = Buffer.concat([head, chunked ? chunk(rng, body) : body]);
  return { bytes: rng.chance(0.1) ? rng.mutate(bytes) : bytes, line: `${method} ${target.slice(0, 120)}` };
}

/** A path parameter: the real value, or one mutated, encoded, NUL-bearing or huge. */
function param(rng: Rng, real: string): string {
  switch (rng.int(10)) {
    case 0:
      return encodeURIComponent(payload(rng, [real]).toString('latin1'));
    case 1:
      return rng.pick(['%00', `${real}%00`, '%', '%zz', '%E0%A4%A', '%2F', '..', '%2e%2e', '%C0%AF', 'a'.repeat(100_000)]);
    case 2:
      return real.toUpperCase();
    default:
      return real;
  }
}

function query(rng: Rng): string {
  return rng.pick(['force=1', 'force=true', 'force=yes', 'force=0', 'force', 'force=%00', 'parent=mtty', 'parent=%00', 'parent=', 'parent=..%2F..', 'force=1&force=0', '%zz=1', `x=${'y'.repeat(10_000)}`, '&&&=']);
}

/** A body for the route, often valid, sometimes mutated, random or hostile. */
function bodyFor(rng: Rng, path: string, known: readonly string[]): Buffer {
  const r = rng.int(20);
  if (r < 3) return Buffer.alloc(0);
  if (r === 3) return Buffer.from(`${'['.repeat(rng.pick([1000, 30_000, 60_000]))}${rng.pick(['"x"', '1', ''])}${']'.repeat(30_000)}`);
  if (r === 4) return Buffer.from(`${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`);
  if (r === 5) return payload(rng, known);
  if (r === 6) return Buffer.alloc(rng.pick([65_536, 65_537, 200_000]), 0x20);
  const u = known.length > 0 && rng.chance(0.5) ? rng.pick(known) : uuid(rng);
  const type = rng.pick(['mtty-1', 'mtty-2', 'mtty-3', 'MTTY-1', '', '../x']);
  const valid = path.startsWith('/definitions')
    ? { parent: rng.pick(['mtty', 'mtty', 'nope', '']), type, ...(rng.chance(0.5) ? { uuid: u } : {}), start: rng.pick(['auto', 'manual', 'x']), attrs: rng.chance(0.5) ? [{ a: 'b' }] : [] }
    : path.includes('online')
      ? { online: rng.pick([true, false, 1, 'yes', null]), uuids: rng.chance(0.8) ? [u, ...(rng.chance(0.3) ? [u] : [])] : u }
      : { parent: rng.pick(['mtty', 'mtty', 'nope', 1]), type, ...(rng.chance(0.5) ? { uuid: u } : {}), ...(rng.chance(0.2) ? { instance: rng.pick([0, 1, -1, 2 ** 31, 1.5]) } : {}), ...(rng.chance(0.1) ? { params: 'a\0b' } : {}), ...(rng.chance(0.05) ? { extra: 1 } : {}) };
  const json = Buffer.from(JSON.stringify(valid));
  return r < 16 ? json : rng.mutate(json);
}

/** A chunked body: right, with bad sizes, or never terminated. */
function chunk(rng: Rng, body: Buffer): Buffer {
  const size = rng.chance(0.8) ? body.length.toString(16) : rng.pick(['zz', '-1', 'ffffffffffffffff', '1;ext=1', '']);
  return Buffer.concat([Buffer.from(`${size}\r\n`), body, Buffer.from(rng.chance(0.8) ? '\r\n0\r\n\r\n' : rng.pick(['\r\n', '0\r\n', 'garbage']))]);
}
