/**
 * Definition routes: `GET /definitions`, `POST /definitions` (define; 201, `EEXIST` when already defined on that
 * parent), `DELETE /definitions/:parent/:uuid` (undefine). Files are mdevctl's own format, written atomically, so
 * mdevctl and umdevctl see them exactly as if they had written them.
 */
import { randomUUID } from 'node:crypto';
import { err } from '../../errors.js';
import { attrNameProblem, parentNameProblem, typeIdProblem, uuidProblem } from '../names.js';
import { countDefinitions, readAllDefinitions, removeDefinition, writeDefinition, type StoredDefinition } from '../../mdevctl/store.js';
import { Issues, array, checked, named, object, oneOf } from '../../validate.js';
import type { ApiContext, ApiReply, ApiRequest, JsonRoute } from './router.js';

function definitionView(d: StoredDefinition): Record<string, unknown> {
  return { parent: d.parent, uuid: d.uuid, type: d.mdevType, start: d.autostart ? 'auto' : 'manual', attrs: d.attrs.map(([name, value]) => ({ [name]: value })) };
}

async function listDefinitions(ctx: ApiContext): Promise<ApiReply> {
  const { definitions, errors } = await readAllDefinitions(ctx.definitions.dir);
  return {
    status: 200,
    body: {
      definitions: definitions.map(definitionView),
      errors: errors.map((e) => ({ file: e.file, message: e.error.message })),
    },
  };
}

async function define(ctx: ApiContext, req: ApiRequest): Promise<ApiReply> {
  const issues = new Issues();
  const b = object(req.body, 'body', issues, ['parent', 'type', 'uuid', 'start', 'attrs']);
  const parent = named(b?.parent, 'body.parent', issues, parentNameProblem);
  const type = named(b?.type, 'body.type', issues, typeIdProblem);
  const uuid = b?.uuid === undefined ? randomUUID() : named(b.uuid, 'body.uuid', issues, uuidProblem);
  const start = b?.start === undefined ? 'manual' : oneOf(b.start, 'body.start', issues, ['auto', 'manual'] as const);
  const attrs: (readonly [string, string])[] = [];
  if (b?.attrs !== undefined) {
    (array(b.attrs, 'body.attrs', issues) ?? []).forEach((a, i) => {
      const o = typeof a === 'object' && a !== null && !Array.isArray(a) ? Object.entries(a) : [];
      if (o.length !== 1 || typeof o[0][1] !== 'string') return issues.add(`body.attrs[${i}]`, 'an object with one string field', a);
      if (named(o[0][0], `body.attrs[${i}] name`, issues, attrNameProblem) === undefined) return undefined;
      attrs.push([o[0][0], o[0][1]]);
      return undefined;
    });
  }
  const bad = issues.toError('bad request');
  if (bad !== undefined) throw bad;
  const def: StoredDefinition = {
    parent: parent as string,
    uuid: (uuid as string).toLowerCase(),
    mdevType: type as string,
    autostart: start === 'auto',
    attrs,
  };
  // Counted before the write: defines racing each other can pass the bound by how many run at once, itself bounded.
  const held = await countDefinitions(ctx.definitions.dir, def.parent);
  if (held >= ctx.limits.maxDefinitions) throw err('ENOSPC', `${def.parent} has ${held} definitions; the limit is ${ctx.limits.maxDefinitions}`);
  await writeDefinition(ctx.definitions.dir, def, true);
  ctx.log.child('api', def.uuid).info(`defined ${def.mdevType} on ${def.parent} (${start ?? 'manual'})`);
  // The parent encoded: a name may hold what a header cannot (a control character, a code point above 255).
  return { status: 201, body: definitionView(def), headers: { location: `/definitions/${encodeURIComponent(def.parent)}/${def.uuid}` } };
}

async function undefine(ctx: ApiContext, req: ApiRequest): Promise<ApiReply> {
  const parent = checked(req.params.parent, 'parent', parentNameProblem);
  const uuid = checked(req.params.uuid, 'uuid', uuidProblem);
  await removeDefinition(ctx.definitions.dir, parent, uuid);
  return { status: 204 };
}

export const definitionRoutes: readonly JsonRoute[] = [
  { method: 'GET', pattern: '/definitions', handler: listDefinitions },
  { method: 'POST', pattern: '/definitions', handler: define },
  { method: 'DELETE', pattern: '/definitions/:parent/:uuid', handler: undefine },
];
