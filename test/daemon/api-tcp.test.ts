/**
 * The API's TCP listener: every call needs the bearer token, a request with an Origin header (a web page) is refused
 * whatever it carries, bodies must be JSON, and no CORS header ever tells a browser it may read an answer.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { Core } from '../../src/core/core.js';
import { ApiServer } from '../../src/daemon/api/server.js';
import { loadToken } from '../../src/daemon/api/token.js';
import { call, collectingLogger, errnoOf } from './helpers.js';
import { toyParent } from './toy.js';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'umdevd-tcp-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function setup(t: TestContext): Promise<{ core: Core; url: string; token: string; dir: string }> {
  const dir = await tempDir(t);
  const core = new Core();
  core.registerParent(toyParent('toy'));
  const token = await loadToken(path.join(dir, 'api.token'));
  const api = await ApiServer.listen(
    { core, log: collectingLogger().log, socketPath: () => undefined, definitions: { dir: path.join(dir, 'defs') } },
    { tcp: { host: '127.0.0.1', port: 0, token }, access: { gid: undefined, readers: 'any' } },
  );
  t.after(async () => {
    await api.close();
    await core.unregisterParent('toy').catch(() => undefined);
  });
  return { core, url: api.url as string, token, dir };
}

test('the token file is made once, 0600, and reused; a token others can read is refused', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'api.token');
  const token = await loadToken(file);
  assert.match(token, /^[0-9a-f]{64}$/);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.equal(await loadToken(file), token, 'kept across restarts');
  await chmod(file, 0o644);
  await assert.rejects(loadToken(file), (e: unknown) => (e as { errno?: string }).errno === 'EACCES');
  await writeFile(path.join(dir, 'short'), 'abc\n', { mode: 0o600 });
  await assert.rejects(loadToken(path.join(dir, 'short')), /no usable token/);
});

test('without the token every call is 401; with it the API works', async (t) => {
  const { core, url, token } = await setup(t);
  for (const [method, p, body] of [
    ['GET', '/parents', undefined],
    ['POST', '/devices', { parent: 'toy', type: 'toy-small' }],
    ['POST', '/definitions', { parent: 'toy', type: 'toy-small', start: 'auto' }],
  ] as const) {
    const r = await call(url, method, p, body);
    assert.equal(r.status, 401, `${method} ${p}`);
    assert.equal(errnoOf(r.body), 'EACCES');
    assert.equal(r.headers.get('www-authenticate'), 'Bearer');
    const wrong = await call({ url, token: 'f'.repeat(64) }, method, p, body);
    assert.equal(wrong.status, 401, `${method} ${p} with a wrong token`);
  }
  assert.equal(core.devices().length, 0);
  assert.equal((await call({ url, token }, 'GET', '/parents')).status, 200);
  const created = await call({ url, token }, 'POST', '/devices', { parent: 'toy', type: 'toy-small' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(core.devices().length, 1);
});

test('a request with an Origin header is 403 even with the token; no CORS headers anywhere', async (t) => {
  const { core, url, token } = await setup(t);
  const ep = { url, token };
  const fromPage = await call(ep, 'POST', '/devices', { parent: 'toy', type: 'toy-small' }, { origin: 'http://evil.example' });
  assert.equal(fromPage.status, 403);
  assert.equal(errnoOf(fromPage.body), 'EACCES');
  assert.equal((await call(url, 'GET', '/parents', undefined, { origin: 'null' })).status, 403, 'without a token too');
  const preflight = await call(url, 'OPTIONS', '/devices', undefined, { origin: 'http://evil.example', 'access-control-request-method': 'POST' });
  assert.equal(preflight.status, 403);
  for (const r of [fromPage, preflight, await call(ep, 'GET', '/parents')]) {
    for (const h of r.headers.keys()) assert.ok(!h.startsWith('access-control-'), `no ${h}`);
  }
  assert.equal(core.devices().length, 0);
});

test('a body that is not declared JSON is 415 and changes nothing', async (t) => {
  const { core, url, token, dir } = await setup(t);
  const ep = { url, token };
  const body = JSON.stringify({ parent: 'toy', type: 'toy-small', start: 'auto' });
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx']) {
    const r = await call(ep, 'POST', '/definitions', body, { 'content-type': type });
    assert.equal(r.status, 415, type);
    assert.equal(errnoOf(r.body), 'EINVAL');
  }
  const u = '0000000b-0000-4000-8000-000000000001';
  assert.equal((await call(ep, 'POST', '/devices', { parent: 'toy', type: 'toy-small', uuid: u })).status, 201);
  // An empty text/plain POST (what a page can send without a preflight) cannot reset a device either.
  const reset = await call(ep, 'POST', `/devices/${u}/reset`, undefined, { 'content-type': 'text/plain' });
  assert.equal(reset.status, 415);
  assert.equal(core.devices().length, 1);
  await assert.rejects(readFile(path.join(dir, 'defs', 'toy')), /ENOENT/);
  assert.equal((await call(ep, 'POST', '/definitions', body, { 'content-type': 'Application/JSON; charset=utf-8' })).status, 201);
});

test('TCP connections are bounded and slow requests are cut off, so a fresh client is served', async (t) => {
  const dir = await tempDir(t);
  const core = new Core();
  const token = await loadToken(path.join(dir, 'api.token'));
  const api = await ApiServer.listen(
    { core, log: collectingLogger().log, socketPath: () => undefined, definitions: { dir } },
    { tcp: { host: '127.0.0.1', port: 0, token }, access: { gid: undefined, readers: 'any' }, limits: { maxConnections: 16, headersTimeoutMs: 300 } },
  );
  t.after(() => api.close());
  const u = new URL(api.url as string);
  const idle = Array.from({ length: 100 }, () => {
    const s = connect(Number(u.port), u.hostname);
    s.on('error', () => undefined);
    s.write('GET /parents HTTP/1.1\r\nHost: x\r\n');
    return s;
  });
  t.after(() => idle.forEach((s) => s.destroy()));
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(api.connections <= 16, `${api.connections} connections held`);
  const started = Date.now();
  let r;
  while ((r = await call({ url: api.url as string, token }, 'GET', '/parents').catch(() => undefined)) === undefined) {
    assert.ok(Date.now() - started < 5000, 'a fresh client is served within a few header timeouts');
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(r.status, 200);
});
