/**
 * Migration routes. On the source: `POST /devices/:uuid/migrate {"to": URL|SOCKET, "token"?, "maxBandwidth"?, "force"?}`
 * moves the device to another umdevd (the source daemon drives; see migrate/outgoing.ts) and answers with one JSON
 * line per step (`application/x-ndjson`), ending with `{"done": result}` or `{"error": {errno, message}}` after the
 * rollback; a migration the attached client could not follow is refused first (409 EBUSY) unless `force`.
 * `DELETE /devices/:uuid/migrate` aborts a running one (it rolls back, and its stream says so). On
 * the destination, the calls the source makes: `POST /migrations {parent, type, uuid, flags}` (create, RESUMING),
 * `PUT /migrations/:uuid/data` (stream bytes, `application/octet-stream`), `POST /migrations/:uuid/finish
 * {platform, data?, definition?}` (the stream's last bytes in base64 if small, the device's definition, which is
 * written first and taken back if the load fails; load, RUNNING; answers with the device's socket) and `DELETE /migrations/:uuid` (abort: the device is removed). All of them change
 * devices, so they need root or the API group on the socket and the bearer token over TCP, like any other change.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseEndpoint } from '../../cli/api-client.js';
import { err, toUmdevError } from '../../errors.js';
import type { IrqConfig } from '../../vfio/irqs.js';
import type { PlatformState } from '../../vfio/pci-device.js';
import { attrNameProblem, parentNameProblem, typeIdProblem, uuidProblem } from '../names.js';
import { Issues, boolean, checked, integer, named, object, oneOf, string } from '../validate.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { removeDefinition, writeDefinition } from '../../mdevctl/store.js';
import { writeDefinitionFile } from '../../mdevctl/definitions.js';
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
    const b = object(body, 'body', issues, ['to', 'token', 'maxBandwidth', 'force']);
    const to = string(b?.to, 'body.to', issues, { nonEmpty: true });
    const token = b?.token === undefined ? undefined : string(b.token, 'body.token', issues, { nonEmpty: true });
    const maxBandwidth = b?.maxBandwidth === undefined ? undefined : integer(b.maxBandwidth, 'body.maxBandwidth', issues, 1, Number.MAX_SAFE_INTEGER);
    const force = b?.force === undefined ? false : boolean(b.force, 'body.force', issues);
    const bad = issues.toError('bad request');
    if (bad !== undefined) throw bad;
    const m = migrations(ctx);
    // Refusals (no such device, a client that could not follow) answer with their status, before any step.
    await m.check(uuid, force === true);
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const line = (v: unknown): void => {
      if (!res.writableEnded) res.write(`${JSON.stringify(v)}\n`);
    };
    try {
      const result = await m.out(uuid, parseEndpoint(to as string, token), { maxBandwidth, force: force === true }, (e) => line(e));
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
  const b = object(req.body, 'body', issues, ['platform', 'data', 'definition']);
  const platform = platformState(b?.platform, issues);
  const data = b?.data === undefined ? undefined : base64(b.data, 'body.data', issues);
  const def = b?.definition === undefined ? undefined : definitionOf(b.definition, issues);
  const bad = issues.toError('bad request');
  if (bad !== undefined) throw bad;
  const inc = incoming(ctx);
  // The definition is in place before the device runs here, so no moment exists where it runs defined nowhere;
  // if the load fails, the one it replaced comes back (or none).
  const undo = def === undefined ? undefined : await defineHere(ctx, uuid, def);
  let bytes: number;
  try {
    bytes = await inc.finish(uuid, platform as PlatformState, data === undefined ? undefined : Buffer.from(data, 'base64'));
  } catch (e) {
    await undo?.().catch((u: unknown) => ctx.log.warn(`migration of ${uuid}: its definition could not be taken back: ${toUmdevError(u).message}`));
    throw e;
  }
  const socket = ctx.socketPath(uuid);
  return { status: 200, body: { uuid, bytes, ...(socket === undefined ? {} : { socket }) } };
}

/** `{start: "auto"|"manual", attrs: [{name: value}, …]}`, as mdevctl's files hold them. */
function definitionOf(v: unknown, issues: Issues): { autostart: boolean; attrs: Array<[string, string]> } | undefined {
  const o = object(v, 'body.definition', issues, ['start', 'attrs']);
  const start = oneOf(o?.start, 'body.definition.start', issues, ['auto', 'manual'] as const);
  const attrs: Array<[string, string]> = [];
  if (o?.attrs !== undefined) {
    if (!Array.isArray(o.attrs)) issues.add('body.definition.attrs', 'an array of {"name": "value"} objects', o.attrs);
    else {
      o.attrs.forEach((a: unknown, i: number) => {
        const entry = typeof a === 'object' && a !== null && !Array.isArray(a) ? (a as Record<string, unknown>) : undefined;
        const keys = entry === undefined ? [] : Object.keys(entry);
        const value = keys.length === 1 ? entry?.[keys[0]!] : undefined;
        if (keys.length !== 1 || typeof value !== 'string' || attrNameProblem(keys[0]!) !== undefined) {
          issues.add(`body.definition.attrs[${i}]`, 'one attribute path with a string value', a);
        } else attrs.push([keys[0]!, value]);
      });
    }
  }
  return start === undefined ? undefined : { autostart: start === 'auto', attrs };
}

/** Write the migrating device's definition here; returns what puts back the one it replaced (or removes it). */
async function defineHere(ctx: ApiContext, uuid: string, def: { autostart: boolean; attrs: Array<[string, string]> }): Promise<() => Promise<void>> {
  // The device `POST /migrations` created here, in RESUMING: its parent and type are the definition's.
  const d = ctx.core.device(uuid);
  if (d === undefined) throw err('ENOENT', `no migration of ${uuid} is in progress here`);
  const m = { parent: d.parent.name, type: d.type.id };
  const dir = ctx.definitions.dir;
  const file = path.join(dir, m.parent, uuid);
  const before = await readFile(file, 'utf8').catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  });
  await writeDefinition(dir, { parent: m.parent, uuid, mdevType: m.type, autostart: def.autostart, attrs: def.attrs });
  return async () => {
    if (before === undefined) await removeDefinition(dir, m.parent, uuid);
    else await writeDefinitionFile(file, before);
  };
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

async function abortOut(ctx: ApiContext, req: ApiRequest): Promise<ApiReply> {
  const uuid = checked(req.params.uuid ?? '', 'uuid', uuidProblem);
  migrations(ctx).abort(uuid);
  return { status: 202, body: { uuid, aborting: true } };
}

const streamed: readonly StreamRoute[] = [
  { method: 'POST', pattern: '/devices/:uuid/migrate', stream: migrateDevice },
  { method: 'PUT', pattern: '/migrations/:uuid/data', stream: data },
];

const json: readonly JsonRoute[] = [
  { method: 'POST', pattern: '/migrations', handler: begin },
  { method: 'POST', pattern: '/migrations/:uuid/finish', handler: finish },
  { method: 'DELETE', pattern: '/migrations/:uuid', handler: abort },
  { method: 'DELETE', pattern: '/devices/:uuid/migrate', handler: abortOut },
];

export const migrationRoutes: readonly Route[] = [...streamed, ...json];
