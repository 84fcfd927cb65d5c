/**
 * Live routes, what the dashboard polls: `GET /whoami` (may this caller change things?), `GET /activity` (per
 * device: attached client, host process, counters; only devices with something to say), `GET /migrations` (those
 * in progress), `GET /devices/:uuid/screen.png` (a frame, conditional on `If-None-Match`) and
 * `GET /devices/:uuid/uart?since=N` (what its UART sent). Screens and UART output are tenant data: only a privileged
 * caller (root or the API group, the bearer token over TCP) may read them, whatever `api.readers` says.
 */
import { err } from '../../errors.js';
import type { ClientInfo, DeviceCounters } from '../../vfio/device-activity.js';
import type { HostStats } from '../live/types.js';
import { uuidProblem } from '../names.js';
import { checked } from '../validate.js';
import type { ApiContext, ApiReply, ApiRequest, JsonRoute } from './router.js';

/** One device's live facts. Plain data. */
export interface ActivityView {
  readonly uuid: string;
  readonly client?: ClientInfo;
  readonly host?: HostStats;
  readonly counters?: DeviceCounters;
}

function whoami(_ctx: ApiContext, req: ApiRequest): ApiReply {
  return { status: 200, body: { privileged: req.privileged } };
}

function activity(ctx: ApiContext): ApiReply {
  const out: ActivityView[] = [];
  const insight = ctx.insight;
  if (insight !== undefined) {
    for (const d of ctx.core.devices()) {
      const client = insight.client(d);
      const host = insight.host(d);
      const counters = insight.counters(d);
      if (client === undefined && host === undefined && counters === undefined) continue;
      out.push({ uuid: d.uuid, ...(client === undefined ? {} : { client }), ...(host === undefined ? {} : { host }), ...(counters === undefined ? {} : { counters }) });
    }
  }
  return { status: 200, body: out };
}

function migrationsInProgress(ctx: ApiContext): ApiReply {
  return { status: 200, body: ctx.board?.active() ?? [] };
}

function tenantData(req: ApiRequest, what: string): void {
  if (!req.privileged) throw err('EACCES', `${what} is tenant data: it needs root or the API group`);
}

/** The tag of `If-None-Match` (one strong or weak tag; a list or `*` never matches a frame). */
function wantedTag(header: string | string[] | undefined): string | undefined {
  const m = typeof header === 'string' ? /^\s*(?:W\/)?"([^"]*)"\s*$/.exec(header) : null;
  return m === null ? undefined : m[1];
}

async function screen(ctx: ApiContext, req: ApiRequest): Promise<ApiReply> {
  const uuid = checked(req.params.uuid ?? '', 'uuid', uuidProblem);
  tenantData(req, 'a device\'s screen');
  if (ctx.core.device(uuid) === undefined) throw err('ENODEV', `no device ${uuid}`);
  // A frame changes all the time: a browser or proxy may keep it only to revalidate.
  const headers = { 'cache-control': 'no-cache, private' };
  if (ctx.insight !== undefined) {
    const f = await ctx.insight.frame(uuid, wantedTag(req.headers['if-none-match']));
    const etag = `"${f.etag}"`;
    if ('unchanged' in f) return { status: 304, headers: { ...headers, etag } };
    return { status: 200, body: f.png, headers: { ...headers, etag, 'content-type': 'image/png' } };
  }
  if (ctx.screen === undefined) throw err('EOPNOTSUPP', 'this daemon cannot show device screens');
  return { status: 200, body: await ctx.screen(uuid), headers: { ...headers, 'content-type': 'image/png' } };
}

async function uart(ctx: ApiContext, req: ApiRequest): Promise<ApiReply> {
  const uuid = checked(req.params.uuid ?? '', 'uuid', uuidProblem);
  tenantData(req, 'a device\'s UART output');
  const sinceText = req.query.get('since');
  if (sinceText !== null && !/^\d{1,15}$/.test(sinceText)) throw err('EINVAL', `since: expected a byte position, got ${JSON.stringify(sinceText)}`);
  const d = ctx.core.device(uuid);
  if (d === undefined) throw err('ENODEV', `no device ${uuid}`);
  if (ctx.insight === undefined) throw err('EOPNOTSUPP', 'this daemon cannot show UART output');
  const out = await ctx.insight.uart(d, sinceText === null ? undefined : Number(sinceText));
  return { status: 200, body: { start: out.start, end: out.end, lost: out.lost, data: out.data.toString('base64') } };
}

export const liveRoutes: readonly JsonRoute[] = [
  { method: 'GET', pattern: '/whoami', handler: whoami },
  { method: 'GET', pattern: '/activity', handler: activity },
  { method: 'GET', pattern: '/migrations', handler: migrationsInProgress },
  { method: 'GET', pattern: '/devices/:uuid/screen.png', handler: screen },
  { method: 'GET', pattern: '/devices/:uuid/uart', handler: uart },
];
