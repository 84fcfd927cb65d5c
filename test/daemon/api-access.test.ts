/**
 * Who may call the API on its Unix socket: anyone may read (readers "any"), only root and members of the API group
 * (primary or supplementary) may change anything, judged by the peer credentials the kernel recorded at connect.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { Core } from '../../src/core/core.js';
import type { ApiReaders } from '../../src/daemon/config.js';
import { ApiServer } from '../../src/daemon/api/server.js';
import { callAs, NOBODY } from './as-user.js';
import { call, collectingLogger, errnoOf } from './helpers.js';
import { toyParent } from './toy.js';

const GROUP = 4242;
const U1 = '0000000a-0000-4000-8000-000000000001';
const U2 = '0000000a-0000-4000-8000-000000000002';

async function setup(t: TestContext, readers: ApiReaders = 'any', mode = 0o666): Promise<{ core: Core; sock: string; defs: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'umdevd-access-'));
  // mkdtemp makes 0700; nobody must be able to reach the socket inside.
  await chmod(dir, 0o755);
  t.after(() => rm(dir, { recursive: true, force: true }));
  const core = new Core();
  core.registerParent(toyParent('toy'));
  const defs = path.join(dir, 'defs');
  const api = await ApiServer.listen(
    { core, log: collectingLogger().log, socketPath: () => undefined, definitions: { dir: defs } },
    { socket: { path: path.join(dir, 'api.sock'), mode, gid: GROUP }, access: { gid: GROUP, readers } },
  );
  t.after(async () => {
    await api.close();
    await core.unregisterParent('toy').catch(() => undefined);
  });
  return { core, sock: api.socketPath as string, defs };
}

test('the socket is created with its mode and group', async (t) => {
  const { sock } = await setup(t, 'group', 0o660);
  const st = await stat(sock);
  assert.equal(st.mode & 0o777, 0o660);
  assert.equal(st.gid, GROUP);
});

test('uid 65534 may read but every change is 403 EACCES and changes nothing', async (t) => {
  const { core, sock, defs } = await setup(t);
  await core.create('toy', 'toy-small', U1);
  const online = core.device(U1)?.online;
  const nobody = {};
  const read = await callAs(nobody, sock, 'GET', '/devices');
  assert.equal(read.status, 200, JSON.stringify(read));
  assert.deepEqual((read.body as { uuid: string }[]).map((d) => d.uuid), [U1]);
  const attempts: [string, string, string | undefined][] = [
    ['POST', '/devices', JSON.stringify({ parent: 'toy', type: 'toy-small', uuid: U2 })],
    ['DELETE', `/devices/${U1}?force=1`, undefined],
    ['POST', '/definitions', JSON.stringify({ parent: 'toy', type: 'toy-small', uuid: U2, start: 'auto' })],
    ['POST', `/devices/${U1}/online`, JSON.stringify({ online: false })],
    ['POST', '/groups/online', JSON.stringify({ uuids: [U1], online: false })],
    ['POST', `/devices/${U1}/reset`, undefined],
    ['DELETE', `/definitions/toy/${U1}`, undefined],
  ];
  for (const [method, p, body] of attempts) {
    const r = await callAs(nobody, sock, method, p, body);
    assert.equal(r.status, 403, `${method} ${p}: ${JSON.stringify(r)}`);
    assert.equal(errnoOf(r.body), 'EACCES', `${method} ${p}`);
  }
  assert.deepEqual(core.devices().map((d) => d.uuid), [U1], 'the device is still there and nothing was created');
  assert.equal(core.device(U1)?.online, online);
  assert.deepEqual(await readdir(defs).catch(() => []), [], 'no definition was written');
  // Another group than the API's does not help.
  assert.equal((await callAs({ groups: [GROUP + 1] }, sock, 'DELETE', `/devices/${U1}?force=1`)).status, 403);
});

test('root and members of the API group (supplementary or primary) may change devices', async (t) => {
  const { core, sock } = await setup(t);
  const root = await call(sock, 'POST', '/devices', { parent: 'toy', type: 'toy-small', uuid: U1 });
  assert.equal(root.status, 201, JSON.stringify(root.body));
  const member = await callAs({ groups: [GROUP] }, sock, 'POST', '/devices', JSON.stringify({ parent: 'toy', type: 'toy-small', uuid: U2 }));
  assert.equal(member.status, 201, JSON.stringify(member));
  assert.equal((await callAs({ groups: [GROUP] }, sock, 'DELETE', `/devices/${U1}?force=1`)).status, 204);
  assert.equal((await callAs({ gid: GROUP }, sock, 'DELETE', `/devices/${U2}`)).status, 204);
  assert.equal(core.devices().length, 0);
});

test('readers "group": a non-member cannot read either, by file mode and by credentials', async (t) => {
  const { sock } = await setup(t, 'group', 0o660);
  const refused = await callAs({}, sock, 'GET', '/parents');
  assert.equal(refused.status, 0, 'the 0660 socket refuses the connection');
  assert.equal(refused.curlExit, 7, "curl's could-not-connect exit");
  assert.equal((await callAs({ groups: [GROUP] }, sock, 'GET', '/parents')).status, 200);
});

test('readers "group" is enforced by credentials even when the socket mode lets anyone connect', async (t) => {
  const { sock } = await setup(t, 'group', 0o666);
  const r = await callAs({}, sock, 'GET', '/parents');
  assert.equal(r.status, 403, JSON.stringify(r));
  assert.equal(errnoOf(r.body), 'EACCES');
  assert.equal((await callAs({ groups: [GROUP] }, sock, 'GET', '/parents')).status, 200);
  assert.equal((await call(sock, 'GET', '/parents')).status, 200, 'root reads');
});

test('a uid-65534 caller cannot upgrade itself by sending headers', async (t) => {
  const { sock } = await setup(t);
  // Claims in headers mean nothing on the socket: only the kernel's record of the peer counts.
  const r = await callAs({}, sock, 'POST', '/devices', JSON.stringify({ parent: 'toy', type: 'toy-small' }), [
    'content-type: application/json',
    'authorization: Bearer x',
    'x-forwarded-user: root',
  ]);
  assert.equal(r.status, 403);
  assert.match((r.body as { error: { message: string } }).error.message, new RegExp(`uid ${NOBODY} may only read`));
});

test("a device's screen is its tenant's: 403 for a reader outside root and the group, whatever readers says", async (t) => {
  const { core, sock } = await setup(t, 'any');
  await core.create('toy', 'toy-small', U1);
  for (const url of [`/devices/${U1}/screen.png`, `/devices/${U1}/screen.png?x=1`]) {
    const r = await callAs({}, sock, 'GET', url);
    assert.equal(r.status, 403, `${url}: ${JSON.stringify(r)}`);
    assert.equal(errnoOf(r.body), 'EACCES');
  }
  assert.equal((await callAs({}, sock, 'GET', `/devices/${U1}`)).status, 200, 'the rest of the device stays readable');
  // A group member gets past the gate (and on to the device, which has no display here).
  const member = await callAs({ groups: [GROUP] }, sock, 'GET', `/devices/${U1}/screen.png`);
  assert.notEqual(member.status, 403, JSON.stringify(member));
});
