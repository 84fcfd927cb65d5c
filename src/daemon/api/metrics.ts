/** `GET /metrics`: Prometheus text (see live/collect-metrics.ts for every family and its cardinality). */
import { readFileSync } from 'node:fs';
import { TEXT_FORMAT } from '../../metrics/text-format.js';
import { collectMetrics } from '../live/collect-metrics.js';
import type { ApiContext, ApiReply, JsonRoute } from './router.js';

let version: string | undefined;
function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return version;
}

function metrics(ctx: ApiContext): ApiReply {
  const text = collectMetrics({ core: ctx.core, api: ctx.stats, version: packageVersion(), ...(ctx.insight === undefined ? {} : { insight: ctx.insight }), ...(ctx.board === undefined ? {} : { board: ctx.board }) });
  return { status: 200, body: Buffer.from(text), headers: { 'content-type': TEXT_FORMAT, 'cache-control': 'no-store' } };
}

export const metricsRoutes: readonly JsonRoute[] = [{ method: 'GET', pattern: '/metrics', handler: metrics }];
