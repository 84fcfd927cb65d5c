/** Read-only routes about parents and their types: `GET /parents`, `/parents/:parent`, `/types`, `/parents/:parent/types`. */
import { err } from '../../errors.js';
import type { ApiContext, ApiReply, ApiRequest, JsonRoute } from './router.js';
import { parentView, typeView } from './views.js';

function listParents(ctx: ApiContext): ApiReply {
  return { status: 200, body: ctx.core.parents().map((p) => parentView(ctx.core, p)) };
}

function getParent(ctx: ApiContext, req: ApiRequest): ApiReply {
  const p = ctx.core.parent(req.params.parent);
  if (p === undefined) throw err('ENODEV', `no parent named ${req.params.parent}`);
  return { status: 200, body: parentView(ctx.core, p) };
}

function listTypes(ctx: ApiContext): ApiReply {
  return { status: 200, body: ctx.core.parents().flatMap((p) => p.types.map((t) => typeView(ctx.core, t))) };
}

function parentTypes(ctx: ApiContext, req: ApiRequest): ApiReply {
  const p = ctx.core.parent(req.params.parent);
  if (p === undefined) throw err('ENODEV', `no parent named ${req.params.parent}`);
  return { status: 200, body: p.types.map((t) => typeView(ctx.core, t)) };
}

export const parentRoutes: readonly JsonRoute[] = [
  { method: 'GET', pattern: '/parents', handler: listParents },
  { method: 'GET', pattern: '/parents/:parent', handler: getParent },
  { method: 'GET', pattern: '/parents/:parent/types', handler: parentTypes },
  { method: 'GET', pattern: '/types', handler: listTypes },
];
