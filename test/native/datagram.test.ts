// sendDatagram: one AF_UNIX datagram to a path or an abstract name, received by a socket the test owns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { native } from '../../src/native/index.js';
import { datagramReceiver } from '../datagram-receiver.js';

test('sendDatagram reaches a bound path and an abstract name, one datagram per call', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'umdev-dgram-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const address of [join(dir, 'notify'), `@umdev-test-${process.pid}`]) {
    const r = await datagramReceiver(t, address);
    assert.equal(native.sendDatagram(address, Buffer.from('READY=1\nSTATUS=x')), 16);
    assert.equal(native.sendDatagram(address, Buffer.from('WATCHDOG=1')), 10);
    await r.waitFor(`two datagrams at ${address}`, (m) => m.length >= 2);
    assert.deepEqual(r.messages(), ['READY=1\nSTATUS=x', 'WATCHDOG=1']);
  }
});

test('sendDatagram fails with the errno: nobody bound (ENOENT, ECONNREFUSED), an empty path (EINVAL)', () => {
  assert.throws(() => native.sendDatagram('/nonexistent/umdev-notify', Buffer.from('x')), (e: unknown) => (e as { errno?: string }).errno === 'ENOENT');
  assert.throws(() => native.sendDatagram(`@umdev-nobody-${process.pid}`, Buffer.from('x')), (e: unknown) => (e as { errno?: string }).errno === 'ECONNREFUSED');
  assert.throws(() => native.sendDatagram('', Buffer.from('x')), (e: unknown) => (e as { errno?: string }).errno === 'EINVAL');
});
