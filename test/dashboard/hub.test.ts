/**
 * The live hub against a fake umdevd (a Unix socket answering the few routes it uses, counting each request) and
 * pages read as raw Server-Sent Events: what an event costs upstream, how a burst is gathered, and when a page is
 * sent a snapshot.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LiveHub } from '../../src/dashboard/hub.js';

const uuid = (i: number): string => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;

/** A fake umdevd: `devices` is what it has; `requests` counts the paths asked for; `emit` sends an event. */
async function fakeUmdevd(t: TestContext, n: number): Promise<{ socket: string; devices: Map<string, object>; requests: string[]; emit(e: object): void; delayMs: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'umdev-hub-'));
  const socket = path.join(dir, 'api.sock');
  const devices = new Map<string, object>();
  for (let i = 0; i < n; i++) devices.set(uuid(i), { uuid: uuid(i), parent: 'mtty', type: 'mtty-1', state: 'active', online: true });
  const streams = new Set<ServerResponse>();
  const fake = {
    socket,
    devices,
    requests: [] as string[],
    delayMs: 0,
    emit: (e: object) => {
      for (const s of streams) s.write(`${JSON.stringify(e)}\n`);
    },
  };
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '/';
    fake.requests.push(url);
    if (url === '/events') {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.flushHeaders();
      streams.add(res);
      res.on('close', () => streams.delete(res));
      return;
    }
    const answer = (status: number, body: unknown): void => {
      // As umdevd writes a reply: compact JSON and a newline.
      setTimeout(() => res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`), fake.delayMs);
    };
    const one = /^\/devices\/([0-9a-f-]{36})$/.exec(url);
    if (url === '/devices') return answer(200, [...devices.values()]);
    if (one !== null) {
      const d = devices.get(one[1]!);
      return d === undefined ? answer(404, { error: { errno: 'ENODEV', message: 'no such device' } }) : answer(200, d);
    }
    if (url === '/parents') return answer(200, [{ name: 'mtty', driver: 'mtty', types: [{ id: 'mtty-1', availableInstances: 4096 - devices.size }] }]);
    if (url === '/definitions') return answer(200, { definitions: [], errors: [] });
    if (url === '/activity' || url === '/migrations') return answer(200, []);
    answer(404, { error: { errno: 'ENOENT', message: url } });
  });
  await new Promise<void>((r) => server.listen(socket, r));
  t.after(async () => {
    for (const s of streams) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });
  return fake;
}

/** A dashboard-like server whose only route is the hub's stream; `open` is a page reading it. */
async function hubServer(t: TestContext, hub: LiveHub): Promise<{ open(since?: string): Promise<{ messages: { event: string; id?: string; data: string }[]; close(): void }> }> {
  const server = createServer((req, res) => hub.attach(res, new URL(req.url ?? '/', 'http://x').searchParams.get('since') ?? undefined));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(async () => {
    hub.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const port = (server.address() as AddressInfo).port;
  return {
    open: (since) => new Promise((resolve, reject) => {
      const messages: { event: string; id?: string; data: string }[] = [];
      const req = request({ host: '127.0.0.1', port, path: since === undefined ? '/' : `/?since=${since}` }, (res) => {
        let pending = '';
        res.setEncoding('utf8').on('data', (c: string) => {
          pending += c;
          for (let end = pending.indexOf('\n\n'); end >= 0; end = pending.indexOf('\n\n')) {
            const m: { event: string; id?: string; data: string } = { event: 'message', data: '' };
            for (const line of pending.slice(0, end).split('\n')) {
              const [k, v] = [line.slice(0, line.indexOf(': ')), line.slice(line.indexOf(': ') + 2)];
              if (k === 'event') m.event = v;
              if (k === 'id') m.id = v;
              if (k === 'data') m.data = v;
            }
            pending = pending.slice(end + 2);
            messages.push(m);
          }
        });
        res.on('error', () => undefined);
        resolve({ messages, close: () => req.destroy() });
      });
      req.on('error', reject);
      req.end();
    }),
  };
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('an event that names a device costs a look at that device and the pools, not the whole list', async (t) => {
  const fake = await fakeUmdevd(t, 1000);
  const hub = new LiveHub({ api: { socket: fake.socket }, log: () => undefined, activityMs: 60_000, definitionsMs: 60_000 });
  const page = await (await hubServer(t, hub)).open();
  await until(() => page.messages.some((m) => m.event === 'snapshot'), 'a snapshot');
  // The stream's open fetches the whole list once (whatever happened while nothing followed umdevd).
  await until(() => fake.requests.filter((r) => r === '/devices').length === 2, 'the look after the stream opened');
  await new Promise((r) => setTimeout(r, 50));
  fake.requests.length = 0;
  const added = uuid(5000);
  fake.devices.set(added, { uuid: added, parent: 'mtty', type: 'mtty-1', state: 'active', online: true });
  fake.emit({ kind: 'add', parent: 'mtty', uuid: added, type: 'mtty-1', seq: 1 });
  await until(() => page.messages.some((m) => m.event === 'devices' && m.data.includes(added)), 'the new device');
  assert.deepEqual(fake.requests.sort(), [`/devices/${added}`, '/parents']);
  const changes = page.messages.filter((m) => m.event === 'devices').map((m) => JSON.parse(m.data) as { upsert: { uuid: string }[]; removed: string[] });
  assert.deepEqual(changes.map((c) => c.upsert.map((d) => d.uuid)), [[added]], 'only the change (the first state came as the snapshot)');
  // A removal: the look finds nothing, and the page hears the device is gone.
  fake.devices.delete(added);
  fake.emit({ kind: 'remove', parent: 'mtty', uuid: added, type: 'mtty-1', seq: 2 });
  await until(() => page.messages.some((m) => m.event === 'devices' && m.data.includes(`"removed":["${added}"]`)), 'the removal');
  // An event that names no device looks at them all.
  fake.requests.length = 0;
  fake.emit({ kind: 'registered', parent: 'mbochs', seq: 3 });
  await until(() => fake.requests.includes('/devices'), 'the whole list');
  page.close();
});

test('a burst of events is looked at together; past maxTargeted devices, as one fetch of the list', async (t) => {
  const fake = await fakeUmdevd(t, 10);
  const hub = new LiveHub({ api: { socket: fake.socket }, log: () => undefined, activityMs: 60_000, definitionsMs: 60_000, maxTargeted: 4 });
  const page = await (await hubServer(t, hub)).open();
  await until(() => page.messages.some((m) => m.event === 'snapshot'), 'a snapshot');
  await until(() => fake.requests.filter((r) => r === '/devices').length === 2, 'the look after the stream opened');
  await new Promise((r) => setTimeout(r, 50));
  // Each look takes 30 ms: the events after the first arrive while it runs.
  fake.delayMs = 30;
  fake.requests.length = 0;
  const burst = (from: number, count: number): string[] => {
    const out: string[] = [];
    for (let i = from; i < from + count; i++) {
      fake.devices.set(uuid(i), { uuid: uuid(i), parent: 'mtty', type: 'mtty-1', state: 'active', online: true });
      fake.emit({ kind: 'add', parent: 'mtty', uuid: uuid(i), type: 'mtty-1', seq: i });
      out.push(uuid(i));
    }
    return out;
  };
  const three = burst(100, 3);
  await until(() => three.every((u) => page.messages.some((m) => m.event === 'devices' && m.data.includes(u))), 'three devices');
  const looks = fake.requests.filter((r) => r === '/parents').length;
  assert.ok(looks <= 2, `${looks} looks for a burst of 3 (one for the first, one for those that came meanwhile)`);
  assert.ok(!fake.requests.includes('/devices'));
  fake.requests.length = 0;
  const many = burst(200, 10);
  await until(() => many.every((u) => page.messages.some((m) => m.event === 'devices' && m.data.includes(u))), 'ten devices');
  assert.ok(fake.requests.filter((r) => r.startsWith('/devices/')).length <= 4, `one by one only up to maxTargeted: ${fake.requests.join(' ')}`);
  assert.ok(fake.requests.includes('/devices'), 'the rest as one list');
  page.close();
});

test('a page that has the current state is sent no snapshot; one that missed a change is', async (t) => {
  const fake = await fakeUmdevd(t, 3);
  const hub = new LiveHub({ api: { socket: fake.socket }, log: () => undefined, activityMs: 60_000, definitionsMs: 60_000 });
  const server = await hubServer(t, hub);
  const first = await server.open();
  await until(() => first.messages.some((m) => m.event === 'snapshot'), 'a snapshot');
  await until(() => fake.requests.filter((r) => r === '/devices').length === 2, 'the look after the stream opened');
  await new Promise((r) => setTimeout(r, 50));
  // What a page is served with its HTML while another page keeps the hub live.
  const state = JSON.parse(await hub.snapshot()) as { version: string; devices: unknown[] };
  assert.equal(state.devices.length, 3);
  assert.equal(state.version, hub.version);
  const current = await server.open(state.version);
  await until(() => current.messages.length > 0, 'a first message');
  assert.deepEqual(current.messages.map((m) => m.event), ['upstream'], 'no snapshot for a page that has the state');
  // A change meanwhile: a page with the older state gets a snapshot, whose id is the new version.
  fake.devices.set(uuid(9), { uuid: uuid(9), parent: 'mtty', type: 'mtty-1', state: 'active', online: true });
  fake.emit({ kind: 'add', parent: 'mtty', uuid: uuid(9), type: 'mtty-1', seq: 1 });
  await until(() => current.messages.some((m) => m.event === 'devices'), 'the change');
  const ids = current.messages.filter((m) => m.event !== 'upstream').map((m) => m.id);
  assert.ok(ids.length > 0 && new Set(ids).size === ids.length, `each change carries its own version as the SSE id: ${ids.join(' ')}`);
  assert.equal(ids.at(-1), hub.version);
  const stale = await server.open(state.version);
  await until(() => stale.messages.length > 0, 'a first message');
  assert.equal(stale.messages[0]!.event, 'snapshot');
  assert.equal(stale.messages[0]!.id, hub.version);
  assert.equal((JSON.parse(stale.messages[0]!.data) as { devices: unknown[] }).devices.length, 4);
  for (const p of [first, current, stale]) p.close();
});

test('a page served while none was open starts from umdevd\'s list as it was written, then gets changes only', async (t) => {
  const fake = await fakeUmdevd(t, 5);
  const hub = new LiveHub({ api: { socket: fake.socket }, log: () => undefined, activityMs: 60_000, definitionsMs: 60_000 });
  const server = await hubServer(t, hub);
  const text = await hub.snapshot();
  assert.doesNotMatch(text, /\n/, 'one line, as an event\'s data must be');
  const state = JSON.parse(text) as { version: string; devices: { uuid: string }[] };
  assert.deepEqual(state.devices.map((d) => d.uuid), [0, 1, 2, 3, 4].map(uuid));
  const page = await server.open(state.version);
  await until(() => page.messages.length > 0, 'a first message');
  assert.equal(page.messages[0]!.event, 'upstream', 'nothing changed: no snapshot');
  // The look when the stream opens finds nothing new; a change after it arrives as a change.
  await until(() => fake.requests.filter((r) => r === '/devices').length === 2, 'the look after the stream opened');
  fake.devices.delete(uuid(2));
  fake.emit({ kind: 'remove', parent: 'mtty', uuid: uuid(2), type: 'mtty-1', seq: 1 });
  await until(() => page.messages.some((m) => m.event === 'devices'), 'the change');
  assert.deepEqual(page.messages.filter((m) => m.event === 'devices').map((m) => JSON.parse(m.data) as unknown), [{ upsert: [], removed: [uuid(2)] }]);
  page.close();
});
