import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Core } from '../../src/core/core.js';
import { native } from '../../src/native/index.js';
import { VfioUserBusDriver } from '../../src/vfio-user/bus-driver.js';
import { VfioUserClient } from '../../src/vfio-user/client.js';
import { decodeVersion, encodeVersion } from '../../src/vfio-user/codec.js';
import { Command } from '../../src/vfio-user/constants.js';
import { expectErrno, startServer } from './fixtures.js';

test('VERSION: short payload is EINVAL and the connection closes', async (t) => {
  const h = await startServer(t);
  const c = await VfioUserClient.connect(h.path, { negotiate: false });
  t.after(() => c.close());
  await expectErrno(c.request(Command.VERSION, Buffer.from([0, 0])), 'EINVAL');
  await c.whenClosed();
});

test('VERSION: bad major, bad JSON, unterminated JSON, bad capability, fds: EINVAL', async (t) => {
  const h = await startServer(t);
  const raw = (text: string) => Buffer.concat([Buffer.from([0, 0, 2, 0]), Buffer.from(text)]);
  const [fdA, fdB] = native.socketpair();
  t.after(() => [fdA, fdB].forEach((fd) => native.close(fd)));
  const bad: [string, Buffer, number[]?][] = [
    ['major 1', encodeVersion({ major: 1, minor: 0, json: undefined })],
    ['JSON garbage', raw('{"capabilities"\0')],
    ['JSON not NUL-terminated', raw('{}')],
    ['max_msg_fds not a number', encodeVersion({ major: 0, minor: 0, json: { capabilities: { max_msg_fds: 'many' } } })],
    ['max_msg_fds above 1024', encodeVersion({ major: 0, minor: 0, json: { capabilities: { max_msg_fds: 5000 } } })],
    ['with an fd', encodeVersion({ major: 0, minor: 0, json: undefined }), [fdA]],
  ];
  for (const [what, body, fds] of bad) {
    const c = await VfioUserClient.connect(h.path, { negotiate: false });
    await expectErrno(c.request(Command.VERSION, body, fds), 'EINVAL').catch((e) => assert.fail(`${what}: ${e}`));
    await c.whenClosed();
  }
  // The device survives all of that: a well-behaved client still gets in.
  const good = await h.connect();
  assert.equal((await good.deviceInfo()).numRegions, 9);
});

test('a command before VERSION is EINVAL and closes the connection', async (t) => {
  const h = await startServer(t);
  const c = await VfioUserClient.connect(h.path, { negotiate: false });
  t.after(() => c.close());
  await expectErrno(c.request(Command.DEVICE_GET_INFO, Buffer.alloc(16)), 'EINVAL');
  await c.whenClosed();
});

test('VERSION: valid negotiation announces only what is implemented', async (t) => {
  const h = await startServer(t);
  const c = await VfioUserClient.connect(h.path, { negotiate: false });
  t.after(() => c.close());
  const r = await c.request(Command.VERSION, encodeVersion({ major: 0, minor: 7, json: { capabilities: { max_msg_fds: 4, twin_socket: { supported: true } } } }));
  assert.equal(r.body[r.body.length - 1], 0, 'reply JSON is NUL-terminated');
  const v = decodeVersion(r.body);
  assert.equal(v.major, 0);
  assert.equal(v.minor, 2, 'minor is min(client, 2)');
  const caps = v.json!.capabilities as Record<string, unknown>;
  // twin_socket was offered, and this session (the bus driver in this process) can make the pair.
  assert.deepEqual(Object.keys(caps).sort(), ['max_data_xfer_size', 'max_dma_maps', 'max_msg_fds', 'pgsizes', 'twin_socket']);
  assert.deepEqual(caps.twin_socket, { supported: true, fd_index: 0 });
  assert.equal(r.fds.length, 1, 'the client\'s end came with the reply');
  // Kept open: a client that hangs its twin socket up loses the session.
  t.after(() => r.fds.forEach((fd) => native.close(fd)));
  assert.equal(caps.max_msg_fds, 8);
  assert.equal(caps.max_data_xfer_size, 1 << 20);
  assert.equal(caps.pgsizes, 4096);
  // A second VERSION is refused, but the session goes on.
  await expectErrno(c.request(Command.VERSION, encodeVersion({ major: 0, minor: 0, json: undefined })), 'EINVAL');
  assert.equal((await c.deviceInfo()).numIrqs, 5);
});

test('VERSION: minor 0 without JSON (QEMU style) and write_multiple echoed only when offered', async (t) => {
  const h = await startServer(t);
  const c = await VfioUserClient.connect(h.path, { negotiate: false });
  t.after(() => c.close());
  const v = decodeVersion((await c.request(Command.VERSION, encodeVersion({ major: 0, minor: 0, json: undefined }))).body);
  assert.equal(v.minor, 0);
  assert.equal((v.json!.capabilities as Record<string, unknown>).write_multiple, undefined);
  await c.close();
  const wm = await h.connect({ writeMultiple: true });
  assert.equal(wm.serverCaps!.writeMultiple, true);
});

test('max_dma_maps is announced within what QEMU accepts: a bus driver asked for more than 65535 is EINVAL', async (t) => {
  for (const maxDmaMaps of [0, 65536, 1.5]) {
    assert.throws(() => new VfioUserBusDriver({ core: new Core(), runDir: '/nonexistent', maxDmaMaps }), (e: unknown) => (e as { errno?: string }).errno === 'EINVAL');
  }
  const h = await startServer(t);
  const c = await h.connect();
  assert.equal(c.serverCaps!.maxDmaMaps, 1024, 'an honest default, far below what exhausts vm.max_map_count');
});
