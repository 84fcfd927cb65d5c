import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Core } from '../../src/core/core.js';
import { createLogger } from '../../src/log.js';
import type { CoreEvent } from '../../src/core/types.js';
import { expectErrno, randomUUID, spec } from './helpers.js';

test('events arrive for every kind and for chosen kinds, with increasing seq', async () => {
  const core = new Core();
  const all: CoreEvent[] = [];
  const adds: CoreEvent[] = [];
  core.subscribe((e: CoreEvent) => all.push(e));
  core.subscribe((e: CoreEvent) => adds.push(e), ['add']);
  core.registerParent(spec('p'));
  const d = await core.create('p', 'test-1', randomUUID());
  await core.remove(d.uuid);
  await core.unregisterParent('p');
  assert.deepEqual(all.map((e) => e.kind), ['registered', 'add', 'remove', 'unregistered']);
  assert.deepEqual(all.map((e) => e.seq), [1, 2, 3, 4]);
  assert.deepEqual(adds, [all[1]]);
});

test('watch() streams events from the moment it is called until aborted', async () => {
  const core = new Core();
  const ac = new AbortController();
  const stream = core.watch(ac.signal);
  core.registerParent(spec('p'));
  const d = await core.create('p', 'test-1', randomUUID());
  const got: string[] = [];
  for await (const e of stream) {
    got.push(`${e.kind}:${e.seq}`);
    if (e.kind === 'add') {
      ac.abort();
    }
  }
  assert.deepEqual(got, ['registered:1', 'add:2']);
  assert.ok(d);
  // An already aborted signal gives an empty stream.
  const empty: CoreEvent[] = [];
  for await (const e of core.watch(ac.signal)) empty.push(e);
  assert.deepEqual(empty, []);
});

test('a waiting consumer is woken by the next event; break ends the stream', async () => {
  const core = new Core();
  const seen: string[] = [];
  const reader = (async () => {
    for await (const e of core.watch()) {
      seen.push(e.kind);
      if (e.kind === 'add') break;
    }
  })();
  await new Promise((r) => setImmediate(r));
  core.registerParent(spec('p'));
  await core.create('p', 'test-1', randomUUID());
  await reader;
  assert.deepEqual(seen, ['registered', 'add']);
});

test('a stream that overflows its buffer hands out what it holds, then fails with EOVERFLOW', async () => {
  const core = new Core({ watchBufferSize: 3 });
  const it = core.watch()[Symbol.asyncIterator]();
  core.registerParent(spec('p', { maxInstances: 10 }));
  for (let i = 0; i < 5; i++) await core.create('p', 'test-1', randomUUID());
  const seqs: number[] = [];
  for (let i = 0; i < 3; i++) seqs.push((await it.next()).value.seq);
  assert.deepEqual(seqs, [1, 2, 3]);
  await expectErrno(it.next(), 'EOVERFLOW');
  assert.equal((await it.next()).done, true);
});

test('a listener that throws does not fail the create it was told about; it is logged and the others still run', async () => {
  const lines: string[] = [];
  const core = new Core({ log: createLogger({ sink: { write: (l: string) => lines.push(l) } }) });
  core.registerParent(spec('p'));
  const later: string[] = [];
  core.subscribe(() => {
    throw new Error('listener bug');
  });
  core.subscribe((e) => later.push(e.kind));
  const uuid = randomUUID();
  const d = await core.create('p', 'test-1', uuid);
  assert.equal(d.state, 'active');
  assert.equal(core.device(uuid)?.state, 'active', 'the device exists');
  assert.deepEqual(later, ['add']);
  assert.ok(lines.some((l) => l.includes('add event') && l.includes('listener bug')), lines.join(''));
});

test('views subscribe and unsubscribe but cannot emit: the core has no public emitter', async () => {
  const core = new Core();
  assert.equal((core as unknown as { events?: unknown }).events, undefined);
  const kinds: string[] = [];
  const off = core.subscribe((e) => kinds.push(e.kind), ['add']);
  assert.equal(core.subscribers, 1);
  core.registerParent(spec('p'));
  await core.create('p', 'test-1', randomUUID());
  off();
  off();
  assert.equal(core.subscribers, 0);
  await core.create('p', 'test-1', randomUUID());
  assert.deepEqual(kinds, ['add'], 'only the chosen kind, and nothing after unsubscribing');
});
