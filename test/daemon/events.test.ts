import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { test } from 'node:test';
import { Core } from '../../src/core/core.js';
import type { CoreEvent } from '../../src/core/types.js';
import { ApiServer } from '../../src/daemon/api/server.js';
import { call, collectingLogger } from './helpers.js';
import { toyParent } from './toy.js';

/** Open `/events` and collect parsed lines as they arrive. */
function openStream(socketPath: string): Promise<{ events: CoreEvent[]; next: (n: number) => Promise<void>; abort: () => void; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const events: CoreEvent[] = [];
    const waiters: { n: number; resolve: () => void }[] = [];
    const req = request({ socketPath, path: '/events' }, (res) => {
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-type'], 'application/x-ndjson');
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buf.slice(0, nl)) as CoreEvent);
          buf = buf.slice(nl + 1);
        }
        for (const w of waiters.splice(0)) {
          if (events.length >= w.n) w.resolve();
          else waiters.push(w);
        }
      });
      const ended = once(res, 'end').then(() => undefined);
      ended.catch(() => undefined);
      resolve({
        events,
        next: (n) => (events.length >= n ? Promise.resolve() : new Promise((r) => waiters.push({ n, resolve: r }))),
        abort: () => req.destroy(),
        ended,
      });
    });
    req.on('error', reject);
    req.end();
  });
}

test('GET /events streams core events as NDJSON, one per line, as they happen', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'umdevd-events-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const core = new Core();
  const { log } = collectingLogger();
  const api = await ApiServer.listen(
    { core, log, socketPath: () => undefined, definitions: { dir } },
    { socket: { path: path.join(dir, 'api.sock'), mode: 0o600 }, access: { gid: undefined, readers: 'any' } },
  );
  const url = api.socketPath as string;
  t.after(() => api.close());

  const s = await openStream(url);
  const before = core.subscribers;
  assert.ok(before >= 1, 'the stream subscribed');
  core.registerParent(toyParent('toy'));
  await s.next(1);
  assert.equal(s.events[0].kind, 'registered');
  assert.equal(s.events[0].parent, 'toy');

  const uuid = '22222222-3333-4444-8555-666666666666';
  assert.equal((await call(url, 'POST', '/devices', { parent: 'toy', type: 'toy-small', uuid })).status, 201);
  await s.next(2);
  const add = s.events.find((e) => e.kind === 'add');
  assert.ok(add, `an add event arrived: ${JSON.stringify(s.events)}`);
  assert.equal(add.uuid, uuid);
  const seqs = s.events.map((e) => e.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'events arrive in sequence order');

  // A client that goes away is unsubscribed; the server keeps serving.
  s.abort();
  for (let i = 0; i < 50 && core.subscribers >= before; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(core.subscribers, before - 1);
  assert.equal((await call(url, 'DELETE', `/devices/${uuid}`)).status, 204);

  // Shutdown ends open streams cleanly.
  const s2 = await openStream(url);
  await api.close();
  await s2.ended;
  await core.unregisterParent('toy');
});
