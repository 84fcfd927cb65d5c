/**
 * Device routes: list, get, create, remove, online/offline (one device or a group) and reset (screens and UART
 * output are in live.ts). Each handler checks its
 * input, calls one core operation and renders the result; the core decides and its errno is the answer.
 */
import { randomUUID } from 'node:crypto';
import { err } from '../../errors.js';
import { parentNameProblem, typeIdProblem, uuidProblem } from '../names.js';
import { Issues, array, boolean, checked, integer, named, object, string } from '../validate.js';
import type { ApiContext, ApiReply, ApiRequest, JsonRoute } from './router.js';
import { deviceView } from './views.js';

function view(ctx: ApiContext, uuid: string): ApiReply {
  checked(uuid, 'uuid', uuidProblem);
  const d = ctx.core.device(uuid);
  if (d === undefined) throw err('ENODEV', `no device ${uuid}`);
  return { status: 200, body: deviceView(d, ctx.socketPath(d.uuid)) };
}

function listDevices(ctx: ApiContext, req: ApiRequest): ApiReply {
  const parent = req.query.get('parent') ?? undefined;
  if (parent !== undefined) checked(parent, 'parent', parentNameProblem);
  const devices = ctx.core.devices(parent === undefined ? undefined : { parent });
  return { status: 200, body: devices.map((d) => deviceView(d, ctx.socketPath(d.uuid))) };
}

async function createDevice(ctx: ApiContext, req: ApiRequest): Promise<ApiReply> {
  const issues = new Issues();
  const b = object(req.body, 'body', issues, ['parent', 'type', 'uuid', 'instance', 'params']);
  const parent = named(b?.parent, 'body.parent', issues, parentNameProblem);
  const type = named(b?.type, 'body.type', issues, typeIdProblem);
  const uuid = b?.uuid === undefined ? randomUUID() : named(b.uuid, 'body.uuid', issues, uuidProblem);
  const instance = b?.instance === undefined ? undefined : integer(b.instance, 'body.instance', issues, 0, 0x7fffffff);
  const params = b?.params === undefined ? undefined : string(b.params, 'body.params', issues);
  const bad = issues.toError('bad request');
  if (bad !== undefined) throw bad;
  const options = {
    ...(instance === undefined ? {} : { instance }),
    ...(params === undefined ? {} : { params }),
    origin: 'api',
  };
  // Logged by the daemon from the core's `add` event, like creates from sysfs (device-log.ts).
  const d = await ctx.core.create(parent as string, type as string, uuid as string, options);
  return {
    status: 201,
    body: deviceView(d, ctx.socketPath(d.uuid)),
    headers: { location: `/devices/${d.uuid}` },
  };
}

async function removeDevice(ctx: ApiContext, req: ApiRequest): Promise<ApiReply> {
  checked(req.params.uuid, 'uuid', uuidProblem);
  const force = ['1', 'true', 'yes'].includes(req.query.get('force') ?? '');
  // Logged from the core's `remove` event (device-log.ts).
  await ctx.core.remove(req.params.uuid, { force, origin: 'api' });
  return { status: 204 };
}

function onlineFlag(body: unknown, issues: Issues, extra: readonly string[] = []): boolean | undefined {
  const b = object(body, 'body', issues, ['online', ...extra]);
  return b === undefined ? undefined : boolean(b.online, 'body.online', issues);
}

async function setOnline(ctx: ApiContext, req: ApiRequest): Promise<ApiReply> {
  const issues = new Issues();
  const online = onlineFlag(req.body, issues);
  named(req.params.uuid, 'uuid', issues, uuidProblem);
  const bad = issues.toError('bad request');
  if (bad !== undefined) throw bad;
  await ctx.core.setOnline(req.params.uuid, online as boolean);
  return view(ctx, req.params.uuid);
}

async function setGroupOnline(ctx: ApiContext, req: ApiRequest): Promise<ApiReply> {
  const issues = new Issues();
  const online = onlineFlag(req.body, issues, ['uuids']);
  const list = array((req.body as { uuids?: unknown } | undefined)?.uuids, 'body.uuids', issues) ?? [];
  const uuids = list.map((u, i) => named(u, `body.uuids[${i}]`, issues, uuidProblem));
  const bad = issues.toError('bad request');
  if (bad !== undefined) throw bad;
  await ctx.core.setOnlineGroup(uuids as string[], online as boolean);
  return {
    status: 200,
    body: (uuids as string[]).map((u) => {
      const d = ctx.core.device(u);
      return d === undefined ? { uuid: u, state: 'gone' } : deviceView(d, ctx.socketPath(d.uuid));
    }),
  };
}

async function resetDevice(ctx: ApiContext, req: ApiRequest): Promise<ApiReply> {
  checked(req.params.uuid, 'uuid', uuidProblem);
  await ctx.core.reset(req.params.uuid);
  return { status: 204 };
}

export const deviceRoutes: readonly JsonRoute[] = [
  { method: 'GET', pattern: '/devices', handler: listDevices },
  { method: 'POST', pattern: '/devices', handler: createDevice },
  { method: 'GET', pattern: '/devices/:uuid', handler: (ctx, req) => view(ctx, req.params.uuid) },
  { method: 'DELETE', pattern: '/devices/:uuid', handler: removeDevice },
  { method: 'POST', pattern: '/devices/:uuid/online', handler: setOnline },
  { method: 'POST', pattern: '/devices/:uuid/reset', handler: resetDevice },
  { method: 'POST', pattern: '/groups/online', handler: setGroupOnline },
];
