import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { Core } from '../../src/core/core.js';
import { ApiServer, MAX_BODY } from '../../src/daemon/api/server.js';
import { call, collectingLogger, errnoOf } from './helpers.js';
import { toyParent, type ToyState } from './toy.js';
import type { LocalInstance } from '../../src/vfio-user/local-instance.js';

async function setup(t: TestContext): Promise<{ core: Core; url: string; api: ApiServer; dir: string; lines: string[] }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'umdevd-api-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const core = new Core();
  core.registerParent(toyParent('toy'));
  const { log, lines } = collectingLogger();
  const api = await ApiServer.listen(
    { core, log, socketPath: (u) => `/run/x/${u}.sock`, definitions: { dir: path.join(dir, 'defs') } },
    { socket: { path: path.join(dir, 'api.sock'), mode: 0o600 }, access: { gid: undefined, readers: 'any' } },
  );
  t.after(async () => {
    await api.close();
    await core.unregisterParent('toy').catch(() => undefined);
  });
  return { core, url: api.socketPath as string, api, dir, lines };
}

test('parents and types', async (t) => {
  const { url } = await setup(t);
  const parents = await call(url, 'GET', '/parents');
  assert.equal(parents.status, 200);
  const [p] = parents.body as { name: string; driver: string; types: { id: string; availableInstances: number }[] }[];
  assert.equal(p.name, 'toy');
  assert.equal(p.driver, 'toy');
  assert.deepEqual(
    p.types.map((x) => [x.id, x.availableInstances]),
    [
      ['toy-small', 4],
      ['toy-big', 4],
    ],
  );
  const types = (await call(url, 'GET', '/types')).body as { id: string; name: string; description?: string }[];
  assert.deepEqual(
    types.map((x) => [x.id, x.name, x.description]),
    [
      ['toy-small', 'Small toy', undefined],
      ['toy-big', 'big', 'a big one'],
    ],
  );
  assert.equal(((await call(url, 'GET', '/parents/toy/types')).body as unknown[]).length, 2);
  assert.equal((await call(url, 'GET', '/parents/toy')).status, 200);
  const missing = await call(url, 'GET', '/parents/nosuch');
  assert.equal(missing.status, 404);
  assert.equal(errnoOf(missing.body), 'ENODEV');
});

test('create, list, get, remove', async (t) => {
  const { url, core } = await setup(t);
  const created = await call(url, 'POST', '/devices', { parent: 'toy', type: 'toy-small' });
  assert.equal(created.status, 201);
  const dev = created.body as { uuid: string; parent: string; type: string; socket?: string };
  assert.match(dev.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.equal(dev.parent, 'toy');
  assert.equal(dev.type, 'toy-small');
  assert.equal(created.headers.get('location'), `/devices/${dev.uuid}`);
  assert.ok(core.device(dev.uuid), 'the core has the device');

  const fixed = '3f2a8c5e-1b2d-4e6f-8a9b-0c1d2e3f4a5b';
  assert.equal((await call(url, 'POST', '/devices', { parent: 'toy', type: 'toy-big', uuid: fixed })).status, 201);
  const dup = await call(url, 'POST', '/devices', { parent: 'toy', type: 'toy-big', uuid: fixed });
  assert.equal(dup.status, 409);
  assert.equal(errnoOf(dup.body), 'EEXIST');
  assert.equal(typeof (dup.body as { error: { message: string } }).error.message, 'string');

  const list = (await call(url, 'GET', '/devices')).body as { uuid: string }[];
  assert.deepEqual(list.map((d) => d.uuid).sort(), [dev.uuid, fixed].sort());
  assert.equal(((await call(url, 'GET', '/devices?parent=nosuch')).body as unknown[]).length, 0);
  const one = await call(url, 'GET', `/devices/${fixed.toUpperCase()}`);
  assert.equal(one.status, 200);
  assert.equal((one.body as { uuid: string }).uuid, fixed);

  assert.equal((await call(url, 'DELETE', `/devices/${fixed}`)).status, 204);
  assert.equal(core.device(fixed), undefined);
  const again = await call(url, 'DELETE', `/devices/${fixed}`);
  assert.equal(again.status, 404);
  assert.equal(errnoOf(again.body), 'ENODEV');
  assert.equal((await call(url, 'DELETE', `/devices/${dev.uuid}?force=1`)).status, 204);
  assert.equal((await call(url, 'GET', `/devices/${dev.uuid}`)).status, 404);
});

test('the core pool running out is 507 EUSERS', async (t) => {
  const { url } = await setup(t);
  for (let i = 0; i < 4; i++) assert.equal((await call(url, 'POST', '/devices', { parent: 'toy', type: 'toy-small' })).status, 201);
  const full = await call(url, 'POST', '/devices', { parent: 'toy', type: 'toy-small' });
  assert.equal(full.status, 507);
  assert.equal(errnoOf(full.body), 'EUSERS');
});

test('online, group online and reset', async (t) => {
  const { url, core } = await setup(t);
  const a = '00000000-0000-4000-8000-00000000000a';
  const b = '00000000-0000-4000-8000-00000000000b';
  for (const uuid of [a, b]) await call(url, 'POST', '/devices', { parent: 'toy', type: 'toy-small', uuid });
  const off = await call(url, 'POST', `/devices/${a}/online`, { online: false });
  assert.equal(off.status, 200);
  assert.equal((off.body as { online: boolean }).online, false);
  assert.equal(core.device(a)?.online, false);
  const group = await call(url, 'POST', '/groups/online', { uuids: [a, b], online: false });
  assert.equal(group.status, 200, JSON.stringify(group.body));
  assert.equal(core.device(b)?.online, false);
  assert.equal((await call(url, 'POST', '/groups/online', { uuids: [a, b], online: true })).status, 200);
  assert.equal(core.device(a)?.online, true);
  assert.equal(core.device(b)?.online, true);
  const bad = await call(url, 'POST', `/devices/${a}/online`, { online: 'yes' });
  assert.equal(bad.status, 400);
  assert.match((bad.body as { error: { message: string } }).error.message, /body\.online: expected true or false/);

  assert.equal((await call(url, 'POST', `/devices/${a}/reset`)).status, 204);
  assert.equal(((core.device(a)?.driverData as LocalInstance).model as ToyState).resets, 1);
  assert.equal((await call(url, 'POST', `/devices/00000000-0000-4000-8000-0000000000ff/reset`)).status, 404);
});

test('bad input is answered, never fatal', async (t) => {
  const { url, core } = await setup(t);
  const cases: [string, string, string | undefined, number, string][] = [
    ['POST', '/devices', '{"parent":', 400, 'EINVAL'],
    ['POST', '/devices', '[]', 400, 'EINVAL'],
    ['POST', '/devices', '{"parent":"toy"}', 400, 'EINVAL'],
    ['POST', '/devices', '{"parent":"toy","type":"toy-small","colour":"red"}', 400, 'EINVAL'],
    ['POST', '/devices', '{"parent":"toy","type":"toy-small","uuid":"not-a-uuid"}', 400, 'EINVAL'],
    ['POST', '/devices', '{"parent":"nosuch","type":"toy-small"}', 404, 'ENODEV'],
    ['POST', '/groups/online', '{"uuids":"x","online":true}', 400, 'EINVAL'],
    ['GET', '/nosuch', undefined, 404, 'ENOENT'],
    ['PUT', '/devices', '{}', 405, 'EOPNOTSUPP'],
    ['GET', '/devices/%E0%A4%A', undefined, 400, 'EINVAL'],
  ];
  for (const [method, p, body, status, errno] of cases) {
    const r = await call(url, method, p, body);
    assert.equal(r.status, status, `${method} ${p} ${body}: ${JSON.stringify(r.body)}`);
    assert.equal(errnoOf(r.body), errno, `${method} ${p} ${body}`);
  }
  const unknownKey = await call(url, 'POST', '/devices', '{"parent":"toy","type":"toy-small","colour":"red"}');
  assert.match((unknownKey.body as { error: { message: string } }).error.message, /body\.colour: unknown key/);
  const huge = await call(url, 'POST', '/devices', JSON.stringify({ parent: 'x'.repeat(MAX_BODY), type: 't' }));
  assert.equal(huge.status, 413);
  assert.equal(errnoOf(huge.body), 'E2BIG');
  assert.equal(core.devices().length, 0, 'nothing was created by bad requests');
  assert.equal((await call(url, 'GET', '/parents')).status, 200, 'the server still answers');
});

test('define and undefine write mdevctl-format files atomically', async (t) => {
  const { url, dir } = await setup(t);
  const uuid = '11111111-2222-4333-8444-555555555555';
  const r = await call(url, 'POST', '/definitions', {
    parent: 'toy',
    type: 'toy-small',
    uuid,
    start: 'auto',
    attrs: [{ 'vendor/knob': '7' }],
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const text = await readFile(path.join(dir, 'defs', 'toy', uuid), 'utf8');
  assert.equal(text, '{\n  "mdev_type": "toy-small",\n  "start": "auto",\n  "attrs": [\n    {\n      "vendor/knob": "7"\n    }\n  ]\n}');
  const dup = await call(url, 'POST', '/definitions', { parent: 'toy', type: 'toy-big', uuid });
  assert.equal(dup.status, 409);
  assert.equal(await readFile(path.join(dir, 'defs', 'toy', uuid), 'utf8'), text, 'a refused define changes nothing');
  const listed = (await call(url, 'GET', '/definitions')).body as { definitions: { uuid: string; start: string }[] };
  assert.deepEqual(listed.definitions.map((d) => [d.uuid, d.start]), [[uuid, 'auto']]);
  const bad = await call(url, 'POST', '/definitions', { parent: '../etc', type: 't', attrs: [{ a: 1 }] });
  assert.equal(bad.status, 400);
  assert.match((bad.body as { error: { message: string } }).error.message, /body\.parent.*\n.*body\.attrs\[0\]/s);
  assert.equal((await call(url, 'DELETE', `/definitions/toy/${uuid}`)).status, 204);
  assert.equal((await call(url, 'DELETE', `/definitions/toy/${uuid}`)).status, 404);
});
