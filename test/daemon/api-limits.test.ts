/**
 * The API's bounds on the Unix socket: body size, connections per uid and header timeouts (slow-loris), event
 * subscribers, definitions per parent; and its name checks: NUL anywhere, bad names and UUIDs are 400 EINVAL, never
 * a 500 and never a file.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { apiOpen } from '../../src/api-client/http.js';
import { Core } from '../../src/core/core.js';
import type { ApiLimits } from '../../src/daemon/api/limits.js';
import { ApiServer } from '../../src/daemon/api/server.js';
import { exec, waitFor } from '../process.js';
import { NOBODY } from './as-user.js';
import { call, collectingLogger, errnoOf } from './helpers.js';
import { toyParent } from './toy.js';

async function setup(t: TestContext, limits: Partial<ApiLimits> = {}): Promise<{ core: Core; sock: string; dir: string; api: ApiServer; lines: string[] }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'umdevd-limits-'));
  await chmod(dir, 0o755);
  t.after(() => rm(dir, { recursive: true, force: true }));
  const core = new Core();
  core.registerParent(toyParent('toy'));
  const { log, lines } = collectingLogger();
  const api = await ApiServer.listen(
    { core, log, socketPath: () => undefined, definitions: { dir: path.join(dir, 'defs') } },
    { socket: { path: path.join(dir, 'api.sock'), mode: 0o666 }, access: { gid: undefined, readers: 'any' }, limits },
  );
  t.after(async () => {
    await api.close();
    await core.unregisterParent('toy').catch(() => undefined);
  });
  return { core, sock: api.socketPath as string, dir, api, lines };
}

test('a body nested 30,000 arrays deep is 400 EINVAL, not a stack overflow answered as 500', async (t) => {
  const { sock, lines } = await setup(t);
  for (const p of ['/devices', '/definitions']) {
    const r = await call(sock, 'POST', p, `${'['.repeat(30_000)}"x"${']'.repeat(30_000)}`);
    assert.equal(r.status, 400, p);
    assert.equal(errnoOf(r.body), 'EINVAL');
  }
  assert.deepEqual(lines.filter((l) => / error /.test(l)), []);
});

test('a definition whose parent name cannot go in a header raw gets an encoded location that undefines it', async (t) => {
  const { sock, lines } = await setup(t);
  for (const parent of ['to\u0001y', 'to\u0100y']) {
    const r = await call(sock, 'POST', '/definitions', { parent, type: 'toy-small' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const location = r.headers.get('location') ?? '';
    assert.ok(location.startsWith(`/definitions/${encodeURIComponent(parent)}/`), location);
    assert.equal((await call(sock, 'DELETE', location)).status, 204);
  }
  assert.deepEqual(lines.filter((l) => / error /.test(l)), []);
});

test('a client that hangs up before its body arrived is not logged as a bug', async (t) => {
  const { sock, lines } = await setup(t);
  const s = connect(sock);
  await once(s, 'connect');
  s.write('POST /devices HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"parent":');
  await new Promise((r) => setTimeout(r, 50));
  s.destroy();
  await waitFor('the aborted request to be handled', () => lines.some((l) => l.includes('went away')), 2000);
  assert.deepEqual(lines.filter((l) => / error /.test(l)), []);
  assert.equal((await call(sock, 'GET', '/parents')).status, 200);
});

test('a 70 KiB body is 413 E2BIG and creates nothing', async (t) => {
  const { core, sock, dir } = await setup(t);
  const body = JSON.stringify({ parent: 'toy', type: 'toy-small', start: 'auto', attrs: [{ 'vendor/knob': '1'.repeat(70 * 1024) }] });
  for (const p of ['/devices', '/definitions']) {
    const r = await call(sock, 'POST', p, body);
    assert.equal(r.status, 413, p);
    assert.equal(errnoOf(r.body), 'E2BIG');
  }
  assert.equal(core.devices().length, 0);
  assert.deepEqual(await readdir(path.join(dir, 'defs')).catch(() => []), []);
});

test('a NUL anywhere in the path, query or a body string is 400 EINVAL', async (t) => {
  const { core, sock, dir } = await setup(t);
  const u = '0000000c-0000-4000-8000-000000000001';
  const cases: [string, string, unknown][] = [
    ['GET', '/devices/%00', undefined],
    ['GET', `/devices/${u}%00`, undefined],
    ['DELETE', `/definitions/to%00y/${u}`, undefined],
    ['GET', '/devices?parent=to%00y', undefined],
    ['GET', '/parents/to%00y', undefined],
    ['POST', '/definitions', { parent: 'to\0y', type: 'toy-small' }],
    ['POST', '/definitions', { parent: 'toy', type: 'toy-small', attrs: [{ 'vendor/knob': '1\0' }] }],
    ['POST', '/definitions', { parent: 'toy', type: 'toy-small', attrs: [{ 'vendor/kn\0ob': '1' }] }],
    ['POST', '/devices', { parent: 'toy', type: 'toy-small\0' }],
    ['POST', '/devices', { parent: 'toy', type: 'toy-small', params: 'a\0b' }],
  ];
  for (const [method, p, body] of cases) {
    const r = await call(sock, method, p, body);
    assert.equal(r.status, 400, `${method} ${p} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
    assert.equal(errnoOf(r.body), 'EINVAL');
  }
  assert.equal(core.devices().length, 0);
  assert.deepEqual(await readdir(path.join(dir, 'defs')).catch(() => []), []);
});

test('bad names and UUIDs are 400 EINVAL with what was expected', async (t) => {
  const { sock, dir } = await setup(t);
  const u = '0000000c-0000-4000-8000-000000000002';
  const cases: [string, string, unknown, RegExp][] = [
    ['POST', '/definitions', { parent: 'scripts.d', type: 'toy-small' }, /body\.parent: expected a name other than "scripts\.d"/],
    ['POST', '/definitions', { parent: '..', type: 'toy-small' }, /body\.parent/],
    ['POST', '/definitions', { parent: 'p'.repeat(256), type: 'toy-small' }, /body\.parent: expected a name of 1 to 255 bytes/],
    ['POST', '/definitions', { parent: 'toy', type: 'a/b' }, /body\.type: expected a type id/],
    ['POST', '/definitions', { parent: 'toy', type: 'toy-small', uuid: 'x' }, /body\.uuid: expected a UUID/],
    ['POST', '/definitions', { parent: 'toy', type: 'toy-small', attrs: [{ '../../etc/x': '1' }] }, /body\.attrs\[0\] name: expected an attribute path/],
    ['POST', '/definitions', { parent: 'toy', type: 'toy-small', attrs: [{ '/abs': '1' }] }, /body\.attrs\[0\] name/],
    ['POST', '/devices', { parent: 'toy/..', type: 'toy-small' }, /body\.parent/],
    ['POST', '/devices', { parent: 'toy', type: 'toy-small', uuid: 'not-a-uuid' }, /body\.uuid: expected a UUID/],
    ['POST', '/groups/online', { uuids: ['x'], online: true }, /body\.uuids\[0\]: expected a UUID/],
    ['GET', '/devices/not-a-uuid', undefined, /uuid: expected a UUID/],
    ['DELETE', '/devices/not-a-uuid', undefined, /uuid: expected a UUID/],
    ['DELETE', `/definitions/scripts.d/${u}`, undefined, /parent: expected a name other than "scripts\.d"/],
    ['DELETE', '/definitions/toy/nope', undefined, /uuid: expected a UUID/],
    ['GET', '/devices?parent=.hidden', undefined, /parent: expected a name that does not start with "\."/],
  ];
  for (const [method, p, body, message] of cases) {
    const r = await call(sock, method, p, body);
    assert.equal(r.status, 400, `${method} ${p} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
    assert.equal(errnoOf(r.body), 'EINVAL');
    assert.match((r.body as { error: { message: string } }).error.message, message);
  }
  assert.deepEqual(await readdir(path.join(dir, 'defs')).catch(() => []), []);
});

test('definitions per parent are bounded: ENOSPC beyond the limit', async (t) => {
  const { sock } = await setup(t, { maxDefinitions: 2 });
  for (let i = 0; i < 2; i++) assert.equal((await call(sock, 'POST', '/definitions', { parent: 'toy', type: 'toy-small' })).status, 201);
  const full = await call(sock, 'POST', '/definitions', { parent: 'toy', type: 'toy-small' });
  assert.equal(full.status, 507);
  assert.equal(errnoOf(full.body), 'ENOSPC');
  assert.equal((await call(sock, 'POST', '/definitions', { parent: 'other', type: 'toy-small' })).status, 201, 'per parent');
});

test('event subscribers are bounded: EUSERS beyond the limit, a slot frees when one leaves', async (t) => {
  const { sock } = await setup(t, { maxSubscribers: 2 });
  const open: IncomingMessage[] = [];
  t.after(() => open.forEach((r) => r.destroy()));
  for (let i = 0; i < 2; i++) {
    const r = await apiOpen({ socket: sock }, 'GET', '/events');
    assert.equal(r.statusCode, 200);
    open.push(r);
  }
  const third = await call(sock, 'GET', '/events');
  assert.equal(third.status, 507);
  assert.equal(errnoOf(third.body), 'EUSERS');
  open.shift()?.destroy();
  let again: IncomingMessage | undefined;
  for (let i = 0; i < 50 && again === undefined; i++) {
    const r = await apiOpen({ socket: sock }, 'GET', '/events');
    if (r.statusCode === 200) again = r;
    else {
      r.resume();
      await new Promise((res) => setTimeout(res, 20));
    }
  }
  assert.ok(again, 'a new subscriber is admitted once one has left');
  open.push(again);
});

/** A slow-loris as nobody: opens `n` connections with half-sent headers and prints, after `secs`, how many the server closed. */
const LORIS = `
import socket, sys, time, select
path, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        s.send(b"GET /parents HTTP/1.1\\r\\nHost: x\\r\\n")
    except OSError:
        pass
    socks.append(s)
print("open", flush=True)
closed = set()
end = time.time() + secs
while time.time() < end and len(closed) < n:
    live = [s for s in socks if s not in closed]
    r, _, _ = select.select(live, [], [], 0.1)
    for s in r:
        try:
            if s.recv(4096) == b"":
                closed.add(s)
        except OSError:
            closed.add(s)
print("closed", len(closed), flush=True)
`;

test('a slow-loris of idle half-sent requests is bounded per uid and cut off; others are served meanwhile', async (t) => {
  const { sock, api, dir } = await setup(t, { maxConnectionsPerUid: 8, headersTimeoutMs: 400 });
  const script = path.join(dir, 'loris.py');
  await writeFile(script, LORIS, { mode: 0o644 });
  const n = 200;
  const attack = exec('/usr/bin/setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '/usr/bin/python3', script, sock, String(n), '4'], { timeoutMs: 20_000 });
  // While it runs, root is served at once and the attacker never holds more than its share.
  let peak = 0;
  for (let i = 0; i < 10; i++) {
    const started = Date.now();
    const r = await call(sock, 'GET', '/parents');
    assert.equal(r.status, 200);
    assert.ok(Date.now() - started < 1000, 'served without waiting for the attacker');
    peak = Math.max(peak, api.connections);
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(peak <= 8 + 1, `at most the per-uid share plus our own connection were open (saw ${peak})`);
  const out = await attack;
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, new RegExp(`closed ${n}\\n`), `every idle connection was closed by the server: ${out.stdout}`);
});

test('an event stream outlives the request and keep-alive timeouts (they bound arriving requests, not answers)', async (t) => {
  const { core, sock } = await setup(t, { headersTimeoutMs: 200, requestTimeoutMs: 300, keepAliveTimeoutMs: 200 });
  const res = await apiOpen({ socket: sock }, 'GET', '/events');
  t.after(() => res.destroy());
  assert.equal(res.statusCode, 200);
  let text = '';
  res.setEncoding('utf8').on('data', (s: string) => (text += s));
  await new Promise((r) => setTimeout(r, 1200));
  await core.create('toy', 'toy-small', '0000000c-0000-4000-8000-000000000003');
  for (let i = 0; i < 50 && !text.includes('\n'); i++) await new Promise((r) => setTimeout(r, 20));
  assert.match(text, /"kind":"add"/);
});
