import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { Core } from '../../src/core/core.js';
import { err } from '../../src/errors.js';
import type { MdevDevice } from '../../src/core/types.js';
import { parseConfig, type DaemonConfig } from '../../src/daemon/config.js';
import { Daemon, type DaemonParts } from '../../src/daemon/daemon.js';
import type { DeviceServer } from '../../src/daemon/device-server.js';
import { SysfsTree } from '../../src/sysfs/index.js';
import { exec } from '../process.js';
import { call, collectingLogger } from './helpers.js';
import { toyCatalog, type ToyState } from './toy.js';
import type { LocalInstance } from '../../src/vfio-user/local-instance.js';

/** A device server that listens on a real unix socket per device, like the vfio-user bus driver. */
function toyDeviceServer(dir: string): DeviceServer & { open: Map<string, Server>; closed: boolean } {
  const open = new Map<string, Server>();
  const socketPath = (d: MdevDevice): string => path.join(dir, `${d.uuid}.sock`);
  const self = {
    open,
    closed: false,
    socketPath,
    driver: {
      name: 'toy-bus',
      match: () => true,
      probe: async (d: MdevDevice) => {
        const s = createServer();
        await new Promise<void>((resolve, reject) => s.once('error', reject).listen(socketPath(d), resolve));
        open.set(d.uuid, s);
      },
      remove: async (d: MdevDevice) => {
        const s = open.get(d.uuid);
        open.delete(d.uuid);
        await new Promise((r) => s?.close(r) ?? r(undefined));
      },
    },
    close: async () => {
      self.closed = true;
    },
  };
  return self;
}

function parts(over: Partial<DaemonParts> = {}): DaemonParts & { server?: ReturnType<typeof toyDeviceServer> } {
  const p: DaemonParts & { server?: ReturnType<typeof toyDeviceServer> } = {
    drivers: toyCatalog(),
    sysfsTree: (core: Core) => new SysfsTree(core),
    mount: async () => {
      throw err('ENODEV', 'no /dev/fuse in this test');
    },
    deviceServer: (_core, config) => (p.server = toyDeviceServer(config.sockets.dir)),
    ...over,
  };
  return p;
}

async function setup(t: TestContext, raw: Record<string, unknown> = {}): Promise<{ dir: string; config: DaemonConfig }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'umdevd-daemon-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = parseConfig({ parents: [{ driver: 'toy' }], sockets: { mode: '0640' }, ...raw }, dir, toyCatalog());
  return { dir, config };
}

test('a daemon comes up, serves the API, and closes once for every caller', async (t) => {
  const { dir, config } = await setup(t);
  const { log, lines } = collectingLogger();
  const p = parts();
  const d = await Daemon.start(config, p, log);
  t.after(() => d.close());
  assert.equal(d.mounted, false);
  assert.match(d.mountProblem ?? '', /ENODEV: no \/dev\/fuse in this test/);
  assert.ok(lines.some((l) => /^\S+Z warn .*cannot mount the sysfs tree at .*: ENODEV: no \/dev\/fuse in this test; running without the mount/.test(l)), lines.join(''));

  const info = JSON.parse(await readFile(path.join(dir, 'api.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(info, { socket: path.join(dir, 'api.sock'), url: null, pid: process.pid, sysfs: null, run: path.join(dir, 'run'), definitions: path.join(dir, 'mdevctl.d') });
  for (const sub of ['scripts.d/callouts', 'scripts.d/notifiers']) assert.ok((await stat(path.join(dir, 'mdevctl.d', sub))).isDirectory());

  const created = await call(d.apiSocket as string, 'POST', '/devices', { parent: 'toy', type: 'toy-small' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const uuid = (created.body as { uuid: string; socket: string }).uuid;
  assert.equal((created.body as { socket: string }).socket, path.join(dir, 'run', `${uuid}.sock`));
  const st = await stat(path.join(dir, 'run', `${uuid}.sock`));
  assert.ok(st.isSocket());

  const a = d.close();
  const b = d.close();
  assert.equal(a, b, 'close() returns the same promise to every caller');
  await a;
  assert.equal(p.server?.closed, true, 'the device server is closed');
  assert.equal(p.server?.open.size, 0, 'devices were removed, their sockets closed');
  await assert.rejects(stat(path.join(dir, 'api.json')), /ENOENT/);
  assert.ok((await stat(path.join(dir, 'mdevctl.d'))).isDirectory(), 'definitions stay');
  await assert.rejects(call(d.apiSocket as string, 'GET', '/parents'), 'the API is gone');
  await assert.rejects(stat(path.join(dir, 'api.sock')), /ENOENT/, 'its socket file is removed');
});

test('autostart starts auto definitions with their attributes and skips bad ones', async (t) => {
  const { dir, config } = await setup(t);
  const defs = path.join(dir, 'mdevctl.d', 'toy');
  await mkdir(defs, { recursive: true });
  const U = (n: number): string => `0000000${n}-0000-4000-8000-000000000000`;
  const write = (n: number, body: unknown): Promise<void> => writeFile(path.join(defs, U(n)), typeof body === 'string' ? body : JSON.stringify(body));
  await write(1, { mdev_type: 'toy-small', start: 'auto', attrs: [{ 'vendor/knob': '5' }] });
  await write(2, { mdev_type: 'toy-small', start: 'manual', attrs: [] });
  await write(3, { mdev_type: 'toy-big', start: 'auto', attrs: [{ 'vendor/knob': 'not digits' }] });
  await write(4, { mdev_type: 'toy-big', start: 'auto', attrs: [{ 'vendor/nosuch': '1' }] });
  await write(5, '{"mdev_type": "toy-big", ');
  await write(6, { mdev_type: 'toy-nosuch', start: 'auto' });
  await write(7, { mdev_type: 'toy-big', start: 'auto' });
  const { log, lines } = collectingLogger();
  const d = await Daemon.start(config, parts(), log);
  t.after(() => d.close());
  assert.deepEqual(d.core.devices().map((x) => x.uuid).sort(), [U(1), U(7)]);
  assert.equal(((d.core.device(U(1))?.driverData as LocalInstance).model as ToyState).knob, '5', 'the attribute was written through the tree');
  const text = lines.join('');
  assert.match(text, new RegExp(`autostart\\[${U(3)}\\]: failed to write "not digits" to attribute vendor/knob: EINVAL`));
  assert.match(text, new RegExp(`autostart\\[${U(4)}\\]: failed to write "1" to attribute vendor/nosuch: ENOENT`));
  assert.match(text, new RegExp(`skipping .*${U(5)}`));
  assert.match(text, new RegExp(`autostart\\[${U(6)}\\]: cannot start toy-nosuch on toy`));
  assert.match(text, /toy: started 2 defined device\(s\), 3 failed/);
});

test('autostart runs the callouts mdevctl start runs: a pre-start veto keeps the device down', async (t) => {
  const { dir, config } = await setup(t);
  const defs = path.join(dir, 'mdevctl.d');
  const U = (n: number): string => `0000000${n}-0000-4000-8000-00000000000${n}`;
  await mkdir(path.join(defs, 'toy'), { recursive: true });
  for (const n of [1, 2]) await writeFile(path.join(defs, 'toy', U(n)), JSON.stringify({ mdev_type: 'toy-small', start: 'auto', attrs: [{ 'vendor/knob': String(n) }] }));
  const trace = path.join(dir, 'trace');
  for (const sub of ['callouts', 'notifiers']) await mkdir(path.join(defs, 'scripts.d', sub), { recursive: true });
  // mdevctl's argv: -t TYPE -e EVENT -a ACTION -s STATE -u UUID -p PARENT, and the definition on stdin.
  const script = (body: string): string => `#!/bin/sh\necho "$4 $6 $8 \${10} \${12} $(cat)" >> "${trace}"\n${body}\n`;
  await writeFile(path.join(defs, 'scripts.d/callouts/veto'), script(`[ "$4" = pre ] && [ "\${10}" = ${U(1)} ] && { echo "refusing \${10}" >&2; exit 1; }\nexit 0`), { mode: 0o755 });
  await writeFile(path.join(defs, 'scripts.d/notifiers/tell'), script('exit 0'), { mode: 0o755 });
  const { log, lines } = collectingLogger();
  const d = await Daemon.start(config, parts(), log);
  t.after(() => d.close());
  assert.deepEqual(d.core.devices().map((x) => x.uuid), [U(2)], 'the vetoed device stays down; the other starts');
  const text = lines.join('');
  assert.match(text, new RegExp(`autostart\\[${U(1)}\\]: callout: veto: refusing ${U(1)}`));
  assert.match(text, new RegExp(`autostart\\[${U(1)}\\]: cannot start toy-small on toy: ECANCELED: callout script "[^"]*/veto" failed with return code 1`));
  const calls = (await readFile(trace, 'utf8')).trim().split('\n');
  const json = (n: number): string => `{"mdev_type":"toy-small","start":"auto","attrs":[{"vendor/knob":"${n}"}]}`;
  for (const line of [
    `pre start none ${U(1)} toy ${json(1)}`,
    `notify start none ${U(1)} toy ${json(1)}`,
    `pre start none ${U(2)} toy ${json(2)}`,
    `post start success ${U(2)} toy ${json(2)}`,
    `notify start success ${U(2)} toy ${json(2)}`,
  ]) assert.ok(calls.includes(line), `expected the call "${line}" in:\n${calls.join('\n')}`);
  assert.equal(calls.some((c) => c.startsWith(`post start`) && c.includes(U(1))), false, 'no post after a veto');
});

test('a failed start undoes what it did', async (t) => {
  const { dir, config } = await setup(t, { parents: [{ driver: 'toy' }, { driver: 'toy' }] });
  const { log } = collectingLogger();
  const p = parts();
  await assert.rejects(Daemon.start(config, p, log), (e: unknown) => (e as { errno?: string }).errno === 'EEXIST');
  assert.equal(p.server?.closed, true, 'the device server was closed again');
  await assert.rejects(stat(path.join(dir, 'api.json')), /ENOENT/);
});

test('a state dir is owned by the flock of a live umdevd, never by a pid in api.json', async (t) => {
  const { dir, config } = await setup(t);
  const { log } = collectingLogger();
  // A leftover api.json naming a live process (a reused pid) does not block a start.
  await writeFile(path.join(dir, 'api.json'), JSON.stringify({ url: 'http://127.0.0.1:1', pid: process.ppid }));
  const first = await Daemon.start(config, parts(), log);
  await assert.rejects(Daemon.start(config, parts(), log), new RegExp(`is in use by umdevd pid ${process.pid}`));
  await first.close();
  const second = await Daemon.start(config, parts(), log);
  await second.close();
});

test('the lock of a killed holder is gone at once', async (t) => {
  const { dir, config } = await setup(t);
  const { log } = collectingLogger();
  // A process that holds the same lock as a daemon would (util-linux flock(1) on an fd), until SIGKILL ends it.
  const holder = spawn('sh', ['-c', 'exec 9>>"$0" && flock 9 && exec sleep 60', path.join(dir, 'umdevd.lock')], { stdio: 'ignore' });
  t.after(() => holder.kill('SIGKILL'));
  await waitUntil(async () => (await exec('flock', ['-n', path.join(dir, 'umdevd.lock'), 'true'])).code !== 0);
  await assert.rejects(Daemon.start(config, parts(), log), (e: unknown) => (e as { errno?: string }).errno === 'EBUSY');
  holder.kill('SIGKILL');
  await once(holder, 'exit');
  const d = await Daemon.start(config, parts(), log);
  await d.close();
});

test('sockets left in run/ by a killed daemon are removed at start', async (t) => {
  const { dir, config } = await setup(t);
  const { log } = collectingLogger();
  await mkdir(path.join(dir, 'run'), { recursive: true });
  await writeFile(path.join(dir, 'run', '11111111-2222-3333-4444-555555555555.sock'), '');
  const d = await Daemon.start(config, parts(), log);
  t.after(() => d.close());
  await assert.rejects(stat(path.join(dir, 'run', '11111111-2222-3333-4444-555555555555.sock')), /ENOENT/);
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('with the mount disabled the mount part is never called', async (t) => {
  const { config } = await setup(t, { mount: { enabled: false } });
  const { log, lines } = collectingLogger();
  let mounts = 0;
  const d = await Daemon.start(
    config,
    parts({
      mount: async () => {
        mounts++;
        return { close: async () => undefined };
      },
    }),
    log,
  );
  t.after(() => d.close());
  assert.equal(mounts, 0);
  assert.equal(d.mountProblem, 'disabled by configuration');
  assert.ok(!lines.some((l) => l.includes('cannot mount')), 'no warning for a mount that was not asked for');
});

test('api.tcp adds a token-guarded TCP listener; api.json says where both are and never holds the token', async (t) => {
  const { dir, config } = await setup(t, { api: { tcp: { host: '127.0.0.1', port: 0 } } });
  const d = await Daemon.start(config, parts(), collectingLogger().log);
  t.after(() => d.close());
  const infoFile = path.join(dir, 'api.json');
  const text = await readFile(infoFile, 'utf8');
  const info = JSON.parse(text) as { socket: string; url: string };
  assert.equal(info.socket, path.join(dir, 'api.sock'));
  assert.equal(info.url, d.apiUrl);
  assert.match(info.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal((await stat(infoFile)).mode & 0o777, 0o644);
  const tokenFile = path.join(dir, 'api.token');
  assert.equal((await stat(tokenFile)).mode & 0o777, 0o600);
  const token = (await readFile(tokenFile, 'utf8')).trim();
  assert.ok(!text.includes(token), 'api.json does not contain the token');
  assert.equal((await call(info.url, 'GET', '/parents')).status, 401);
  assert.equal((await call({ url: info.url, token }, 'GET', '/parents')).status, 200);
  assert.equal((await call(info.socket, 'GET', '/parents')).status, 200, 'the socket serves too');
});

test('a parent whose driver names it "scripts.d" is refused at start, before anything is served', async (t) => {
  const { dir, config } = await setup(t, { parents: [{ driver: 'toy', name: 'toy' }] });
  const named = { ...config, parents: [{ driver: 'toy', options: { name: 'scripts.d' } }] };
  await assert.rejects(Daemon.start(named, parts(), collectingLogger().log), /parent "scripts\.d" from driver toy: expected a name other than "scripts\.d"/);
  await assert.rejects(stat(path.join(dir, 'api.json')), /ENOENT/);
});

test('creates and removes are logged once each, from sysfs writes as from the API, with their origin', async (t) => {
  const { config } = await setup(t);
  const { log, lines } = collectingLogger();
  const d = await Daemon.start(config, parts(), log);
  t.after(() => d.close());
  const U1 = '11111111-0000-4000-8000-000000000001';
  const U2 = '22222222-0000-4000-8000-000000000002';
  const store = async (p: string[], value: string): Promise<void> => {
    const node = d.tree.resolve(p);
    assert.ok(node?.kind === 'file' && node.store !== undefined, `${p.join('/')} is a writable file`);
    await node.store(Buffer.from(value));
  };
  // What mdevctl does: write the UUID to the type's `create`, then 1 to the device's `remove`.
  await store(['devices', 'virtual', 'toy', 'toy', 'mdev_supported_types', 'toy-small', 'create'], `${U1}\n`);
  await store(['devices', 'virtual', 'toy', 'toy', U1, 'remove'], '1\n');
  const created = await call(d.apiSocket as string, 'POST', '/devices', { parent: 'toy', type: 'toy-small', uuid: U2 });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal((await call(d.apiSocket as string, 'DELETE', `/devices/${U2}?force=1`)).status, 204);

  const about = (uuid: string): string[] => lines.filter((l) => l.includes(`[${uuid}]`)).map((l) => l.replace(/^\S+ /, ''));
  assert.deepEqual(about(U1), [`info  sysfs[${U1}]: created toy-small on toy\n`, `info  sysfs[${U1}]: removed\n`]);
  assert.deepEqual(about(U2), [`info  api[${U2}]: created toy-small on toy\n`, `info  api[${U2}]: removed (forced)\n`]);
});
