import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../../src/native/index.js';
import { decodeHeader, encodeHeader, encodeQuad, encodeVersion } from '../../src/vfio-user/codec.js';
import { Command, Flags } from '../../src/vfio-user/constants.js';
import { startServer, until } from './fixtures.js';

/** A raw connection that has negotiated VERSION, for frames the client class will not build. */
async function rawSession(t: { after(fn: () => void): void }, path: string) {
  const fd = native.connectUnix(path);
  let open = true;
  t.after(() => {
    if (open) native.close(fd);
  });
  const buf = Buffer.alloc(1 << 16);
  const recv = async (): Promise<{ header: ReturnType<typeof decodeHeader>; fds: number[] } | 'eof'> => {
    for (let i = 0; i < 500; i++) {
      const r = native.recvMsg(fd, buf, 0, buf.length, 8);
      if (r && r.bytes === 0) return 'eof';
      if (r) return { header: decodeHeader(buf), fds: r.fds };
      await new Promise((res) => setTimeout(res, 4));
    }
    throw new Error('no reply');
  };
  const send = (msgId: number, cmd: number, body: Buffer, opts: { size?: number; flags?: number; fds?: number[] } = {}) =>
    native.sendMsg(fd, [encodeHeader({ msgId, cmd, size: opts.size ?? 16 + body.length, flags: opts.flags ?? 0, errorNo: 0 }), body], opts.fds);
  send(1, Command.VERSION, encodeVersion({ major: 0, minor: 0, json: undefined }));
  const v = await recv();
  assert.notEqual(v, 'eof');
  return {
    send,
    recv,
    close: () => {
      open = false;
      native.close(fd);
    },
  };
}

test('unknown command, dead command 14, no-payload command, reply-type junk: EINVAL, connection keeps working', async (t) => {
  const h = await startServer(t);
  const s = await rawSession(t, h.path);
  for (const [id, cmd, body, flags] of [
    [2, 99, Buffer.alloc(8), 0],
    [3, 14, Buffer.alloc(8), 0],
    [4, Command.DEVICE_GET_INFO, Buffer.alloc(0), 0],
    [5, Command.DEVICE_GET_INFO, encodeQuad({ argsz: 16, flags: 0, a: 0, b: 0 }), 2],
  ] as const) {
    s.send(id, cmd, body, { flags });
    const r = await s.recv();
    assert.ok(r !== 'eof');
    assert.deepEqual([r.header.msgId, r.header.flags, r.header.errorNo], [id, Flags.TYPE_REPLY | Flags.ERROR, 22], `msg ${id}`);
  }
  // A stray reply (type 1) with no request pending is dropped silently; the next command is answered normally.
  s.send(6, Command.DMA_READ, Buffer.alloc(16), { flags: Flags.TYPE_REPLY });
  s.send(7, Command.DEVICE_GET_INFO, encodeQuad({ argsz: 16, flags: 0, a: 0, b: 0 }));
  const ok = await s.recv();
  assert.ok(ok !== 'eof');
  assert.deepEqual([ok.header.msgId, ok.header.flags], [7, Flags.TYPE_REPLY]);
});

test('fds on a command that takes none: EINVAL, fds closed, connection keeps working', async (t) => {
  const h = await startServer(t);
  const s = await rawSession(t, h.path);
  const [x, y] = native.socketpair();
  t.after(() => native.close(x));
  s.send(2, Command.DEVICE_GET_INFO, encodeQuad({ argsz: 16, flags: 0, a: 0, b: 0 }), { fds: [y, y, y] });
  native.close(y);
  const r = await s.recv();
  assert.ok(r !== 'eof');
  assert.deepEqual([r.header.flags, r.header.errorNo], [Flags.TYPE_REPLY | Flags.ERROR, 22]);
  // Once the server has closed its copies, the peer of y sees end of stream.
  const probe = Buffer.alloc(1);
  let eof = false;
  for (let i = 0; i < 200 && !eof; i++) {
    eof = native.read(x, probe, 0, 1) === 0;
    if (!eof) await new Promise((res) => setTimeout(res, 4));
  }
  assert.ok(eof, 'server closed the unexpected fds');
  s.send(3, Command.DEVICE_GET_INFO, encodeQuad({ argsz: 16, flags: 0, a: 0, b: 0 }));
  const ok = await s.recv();
  assert.ok(ok !== 'eof');
  assert.equal(ok.header.flags, Flags.TYPE_REPLY);
});

test('framing errors (msg_size < 16, absurd msg_size) get an EINVAL reply and close only that connection', async (t) => {
  const h = await startServer(t);
  for (const size of [12, 0x40000000]) {
    const s = await rawSession(t, h.path);
    s.send(9, Command.DEVICE_GET_INFO, Buffer.alloc(0), { size });
    const r = await s.recv();
    assert.ok(r !== 'eof');
    assert.deepEqual([r.header.msgId, r.header.errorNo], [9, 22]);
    assert.equal(await s.recv(), 'eof', 'then the server hangs up');
    s.close();
    // The device survives: the next client is served.
    const c = await h.connect();
    assert.equal((await c.deviceInfo()).numRegions, 9);
    await c.close();
    // One client at a time: the next round connects only once the server has released this session's handle.
    await until(() => h.core.device(h.uuid)?.openCount === 0, 'the session to release the device');
  }
  assert.ok(h.core.device(h.uuid), 'mdev still exists');
});
