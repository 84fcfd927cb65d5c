/**
 * Migration routes. On the source: `POST /devices/:uuid/migrate {"to": URL|SOCKET, "token"?, "maxBandwidth"?}` moves the device to
 * another umdevd (the source daemon drives; see migrate/outgoing.ts) and answers with one JSON line per step
 * (`application/x-ndjson`), ending with `{"done": result}` or `{"error": {errno, message}}` after the rollback. On
 * the destination, the calls the source makes: `POST /migrations {parent, type, uuid, flags}` (create, RESUMING),
 * `PUT /migrations/:uuid/data` (stream bytes, `application/octet-stream`), `POST /migrations/:uuid/finish
 * {platform, data?}` (the stream's last bytes in base64 if small, load, RUNNING) and `DELETE /migrations/:uuid` (abort: the device is removed). All of them change
 * devices, so they need root or the API group on the socket and the bearer token over TCP, like any other change.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseEndpoint } from '../../cli/api-client.js';
import { err, toUmdevError } from '../../errors.js';
import type { IrqConfig } from '../../vfio/irqs.js';
import type { PlatformState } from '../../vfio/pci-device.js';
import { parentNameProblem, typeIdProblem, uuidProblem } from '../names.js';
import { Issues, boolean, checked, integer, named, object, string } from '../validate.js';
import { bodyTypeRefusal } from './access.js';
import { readChunks, readJson, sendFailure, sendJson } from './body.js';
import type { ApiContext, ApiReply, ApiRequest, JsonRoute, Route, StreamRoute } from './router.js';
import type { IncomingMigrations } from '../migrate/incoming.js';

function migrations(ctx: ApiContext): NonNullable<ApiContext['migrations']> {
  if (ctx.migrations === undefined) throw err('EOPNOTSUPP', 'this daemon does not migrate devices');
  return ctx.migrations;
}

function incoming(ctx: ApiContext): IncomingMigrations {
  return migrations(ctx).incoming;
}

/** `POST /devices/:uuid/migrate`: progress lines while it runs, then the result or the error. */
function migrateDevice(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, params: Readonly<Record<string, string>>): void {
  (async () => {
    const badType = bodyTypeRefusal(req);
    if (badType !== undefined) throw err(badType.errno, badType.message);
    const uuid = checked(params.uuid ?? '', 'uuid', uuidProblem);
    const body = await readJson(req, ctx.limits.maxBody);
    const issues = new Issues();
    const b = object(body, 'body', issues, ['to', 'token', 'maxBandwidth']);
    const to = string(b?.to, 'body.to', issues, { nonEmpty: true });
    const token = b?.token === undefined ? undefined : string(b.token, 'body.token', issues, { nonEmpty: true });
    const maxBandwidth = b?.maxBandwidth === undefined ? undefined : integer(b.maxBandwidth, 'body.maxBandwidth', issues, 1, Number.MAX_SAFE_INTEGER);
    const bad = issues.toError('bad request');
    if (bad !== undefined) throw bad;
    const m = migrations(ctx);
    if (ctx.core.device(uuid) === undefined) throw err('ENODEV', `no device ${uuid}`);
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const line = (v: unknown): void => {
      if (!res.writableEnded) res.write(`${JSON.stringify(v)}\n`);
    };
    try {
      const result = await m.out(uuid, parseEndpoint(to as string, token), maxBandwidth, (e) => line(e));
      await ctx.settled?.(); // The source's device is removed: gone from the mount before the caller hears so.
      line({ done: result });
    } catch (e) {
      const u = toUmdevError(e);
      line({ error: { errno: u.errno, message: u.message } });
    }
    res.end();
  })().catch((e: unknown) => sendFailure(res, e));
}

async function begin(ctx: ApiContext, req: ApiRequest): Promise<ApiReply> {
  const issues = new Issues();
  const b = object(req.body, 'body', issues, ['parent', 'type', 'uuid', 'flags']);
  const parent = named(b?.parent, 'body.parent', issues, parentNameProblem);
  const type = named(b?.type, 'body.type', issues, typeIdProblem);
  const uuid = named(b?.uuid, 'body.uuid', issues, uuidProblem);
  const flags = b?.flags === undefined ? undefined : integer(b.flags, 'body.flags', issues, 0, 0xffff);
  const bad = issues.toError('bad request');
  if (bad !== undefined) throw bad;
  await incoming(ctx).begin(parent as string, type as string, uuid as string, flags);
  return { status: 201, body: { uuid }, headers: { location: `/migrations/${uuid}` } };
}

/** `PUT /migrations/:uuid/data`: the body goes to the device as it arrives. */
function data(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, params: Readonly<Record<string, string>>): void {
  (async () => {
    const uuid = checked(params.uuid ?? '', 'uuid', uuidProblem);
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/octet-stream') throw err('EINVAL', `migration data must be "content-type: application/octet-stream", not ${JSON.stringify(req.headers['content-type'] ?? 'none')}`);
    const inc = incoming(ctx);
    const bytes = await readChunks(req, Number.MAX_SAFE_INTEGER, (chunk) => inc.write(uuid, chunk));
    sendJson(res, 200, { bytes });
  })().catch((e: unknown) => {
    req.resume();
    sendFailure(res, e);
  });
}

async function finish(ctx: ApiContext, req: ApiRequest): Promise<ApiReply> {
  const uuid = checked(req.params.uuid ?? '', 'uuid', uuidProblem);
  const issues = new Issues();
  const b = object(req.body, 'body', issues, ['platform', 'data']);
  const platform = platformState(b?.platform, issues);
  const data = b?.data === undefined ? undefined : base64(b.data, 'body.data', issues);
  const bad = issues.toError('bad request');
  if (bad !== undefined) throw bad;
  const bytes = await incoming(ctx).finish(uuid, platform as PlatformState, data === undefined ? undefined : Buffer.from(data, 'base64'));
  return { status: 200, body: { uuid, bytes } };
}

async function abort(ctx: ApiContext, req: ApiRequest): Promise<ApiReply> {
  const uuid = checked(req.params.uuid ?? '', 'uuid', uuidProblem);
  await incoming(ctx).abort(uuid, 'the source gave up');
  return { status: 204 };
}

function base64(v: unknown, path: string, issues: Issues): string | undefined {
  const s = string(v, path, issues);
  if (s !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
    issues.add(path, 'base64', s.slice(0, 16));
    return undefined;
  }
  return s;
}

/** `{config: base64, irqs: {active, enabled, intxMasked}}`, checked for shape (the device checks that it fits). */
function platformState(v: unknown, issues: Issues): PlatformState | undefined {
  const p = object(v, 'body.platform', issues, ['config', 'irqs']);
  const config = base64(p?.config, 'body.platform.config', issues);
  const i = object(p?.irqs, 'body.platform.irqs', issues, ['active', 'enabled', 'intxMasked']);
  const active = i?.active === null ? null : integer(i?.active, 'body.platform.irqs.active', issues, 0, 8);
  const enabled = integer(i?.enabled, 'body.platform.irqs.enabled', issues, 0, 2048);
  const intxMasked = boolean(i?.intxMasked, 'body.platform.irqs.intxMasked', issues);
  if (config === undefined || active === undefined || enabled === undefined || intxMasked === undefined) return undefined;
  const irqs: IrqConfig = { active, enabled, intxMasked };
  return { config, irqs };
}

const streamed: readonly StreamRoute[] = [
  { method: 'POST', pattern: '/devices/:uuid/migrate', stream: migrateDevice },
  { method: 'PUT', pattern: '/migrations/:uuid/data', stream: data },
];

const json: readonly JsonRoute[] = [
  { method: 'POST', pattern: '/migrations', handler: begin },
  { method: 'POST', pattern: '/migrations/:uuid/finish', handler: finish },
  { method: 'DELETE', pattern: '/migrations/:uuid', handler: abort },
];

export const migrationRoutes: readonly Route[] = [...streamed, ...json];
