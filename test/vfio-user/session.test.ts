import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { native } from '../../src/native/index.js';
import { VfioUserClient } from '../../src/vfio-user/client.js';
import { IrqSetFlags as F } from '../../src/vfio-user/constants.js';
import { BAR0, MSI, Reg, doorbell, expectErrno, startServer, until } from './fixtures.js';
import { vfioOf } from '../../src/vfio/pci-device.js';

test('one client at a time: a second connection is refused with EBUSY; the first keeps working', async (t) => {
  const h = await startServer(t);
  const first = await h.connect();
  await expectErrno(VfioUserClient.connect(h.path), 'EBUSY');
  assert.equal((await first.deviceInfo()).numRegions, 9);
  assert.equal(h.device.opens, 1);
});

test('a silent second client is hung up on after the refusal timeout', async (t) => {
  const h = await startServer(t, { refuseTimeoutMs: 50 });
  await h.connect();
  const second = await VfioUserClient.connect(h.path, { negotiate: false });
  await second.whenClosed();
  assert.equal(second.closed, true);
});

test('disconnect drops DMA and closes the device (no reset: its registers stay), releases eventfds and the handle; a new client gets in', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  const efd = native.eventfd(0, { nonblock: true });
  t.after(() => native.close(efd));
  await c.setIrqs({ index: MSI, flags: F.DATA_EVENTFD | F.ACTION_TRIGGER, start: 0, count: 1, fds: [efd] });
  await c.dmaMap({ iova: 0x1000n, size: 0x1000n });
  await c.write(BAR0, Reg.SCRATCH, Buffer.from([5, 0, 0, 0]));
  assert.equal(h.mdev.openCount, 1, 'the session holds a core handle');
  await c.close();
  await until(() => h.device.closes === 1, 'device close');
  assert.equal(h.device.resets, 0, "no reset on lost connection: the kernel's release only closes the device");
  assert.equal(h.device.bar0[Reg.SCRATCH], 5, 'the registers the client left');
  assert.equal(vfioOf(h.device).heldIrqFds, 0, 'eventfds released');
  await until(() => h.mdev.openCount === 0, 'handle released');
  assert.equal(h.driver.connected(h.uuid), false);
  const again = await h.connect();
  // The old DMA window is gone: mapping the same range again succeeds.
  await again.dmaMap({ iova: 0x1000n, size: 0x1000n });
  assert.equal(h.device.opens, 2);
});

test('the device survives a client that dies in the middle of device DMA', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  await c.dmaMap({ iova: 0x1000n, size: 0x1000n });
  // The client serves no DMA memory and hangs up while the device awaits its DMA_READ reply.
  const pending = doorbell(c, 0x1000n, 0x1800n, 4).catch((e: unknown) => e);
  await until(() => h.device.bar0.readUInt32LE(Reg.DMA_LEN) === 4, 'doorbell programmed');
  await c.close();
  await pending;
  await until(() => h.device.closes === 1, 'device closed');
  const again = await h.connect();
  assert.equal((await again.deviceInfo()).numIrqs, 5);
});

test('forced removal closes the connection and unlinks the socket', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  assert.ok(existsSync(h.path));
  await h.core.remove(h.uuid, { force: true });
  await c.whenClosed();
  assert.equal(c.closed, true);
  assert.equal(existsSync(h.path), false, 'socket unlinked');
  assert.equal(h.device.closes, 1);
});

test('removing a device a client holds names the client (pid and uid): at once when forced, while waiting when plain', async (t) => {
  const who = `vfio-user client pid ${process.pid} \\(uid ${process.getuid?.()}\\)`;
  const forced = await startServer(t);
  const c = await forced.connect();
  await c.deviceInfo();
  await forced.core.remove(forced.uuid, { force: true });
  await c.whenClosed();
  const lines = forced.logs.filter((l) => l.includes('while in use'));
  assert.equal(lines.length, 1, forced.logs.join(''));
  // The client is this process: SO_PEERCRED of the accepted socket names it.
  assert.match(lines[0]!, new RegExp(` warn  vfio-user\\[${forced.uuid}\\]: removing ${forced.uuid} while in use by ${who}\n$`));

  const plain = await startServer(t, { releaseTimeoutMs: 5000 });
  const p = await plain.connect();
  await p.deviceInfo();
  const removal = plain.core.remove(plain.uuid);
  await until(() => plain.logs.some((l) => l.includes('removal waits for')), 'the removal to ask for the device');
  assert.match(plain.logs.find((l) => l.includes('removal waits for'))!, new RegExp(`removal waits for ${who} to release the device \\(request 0\\)`));
  await p.close();
  await removal;

  const idle = await startServer(t);
  await idle.core.remove(idle.uuid);
  assert.equal(idle.logs.filter((l) => l.includes('while in use') || l.includes('removal waits')).length, 0, idle.logs.join(''));
});

test('a plain remove leaves a running client served until it lets go, then completes', async (t) => {
  const h = await startServer(t, { releaseTimeoutMs: 5000 });
  const c = await h.connect();
  const removal = h.core.remove(h.uuid);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(c.closed, false, 'not disconnected by a plain remove');
  assert.equal((await c.read(BAR0, Reg.DONE, 4)).length, 4, 'still served while the removal waits');
  assert.deepEqual(h.device.releaseRequests, [0], 'the device was asked to request a release (REQ)');
  await c.close();
  await removal;
  assert.equal(existsSync(h.path), false, 'removed once the client let go');
  assert.equal(h.core.device(h.uuid), undefined);
});

test('a plain remove of a device whose client does not let go fails EBUSY; the client keeps the device', async (t) => {
  const h = await startServer(t, { releaseTimeoutMs: 200 });
  const c = await h.connect();
  await expectErrno(h.core.remove(h.uuid), 'EBUSY');
  assert.equal(c.closed, false);
  assert.equal((await c.deviceInfo()).numRegions, 9, 'still served');
  assert.ok(existsSync(h.path));
  assert.equal(h.core.device(h.uuid)?.state, 'active');
  await h.core.remove(h.uuid, { force: true });
  await c.whenClosed();
});

test('probe replaces a stale socket file; the socket is mode 0600', async (t) => {
  const h = await startServer(t);
  const { statSync } = await import('node:fs');
  assert.equal(statSync(h.path).mode & 0o777, 0o600);
  const stale = h.driver.socketPath('11111111-2222-4333-8444-555555555555');
  writeFileSync(stale, 'stale');
  await h.core.create('fixture', 'fixture-1', '11111111-2222-4333-8444-555555555555');
  t.after(async () => {
    if (h.core.device('11111111-2222-4333-8444-555555555555')) await h.core.remove('11111111-2222-4333-8444-555555555555', { force: true });
  });
  const c = await VfioUserClient.connect(stale);
  t.after(() => c.close());
  assert.equal((await c.deviceInfo()).numRegions, 9);
});

test('a client reconnecting at once is accepted; its session starts after the old one is cleaned up', async (t) => {
  const h = await startServer(t);
  const first = await h.connect();
  await first.dmaMap({ iova: 0x1000n, size: 0x1000n });
  await first.close();
  const second = await h.connect();
  assert.equal(h.device.closes, 1, 'the old session was closed before the new one opened');
  assert.equal(h.device.opens, 2);
  await second.dmaMap({ iova: 0x1000n, size: 0x1000n });
});

test('a client that drops mid-message and reconnects at once waits for the cleanup and is served', async (t) => {
  for (let round = 0; round < 20; round++) {
    const h = await startServer(t);
    const fd = native.connectUnix(h.path);
    const first = await VfioUserClient.fromFd(fd);
    await first.dmaMap({ iova: 0x1000n, size: 0x1000n });
    // Half of a REGION_READ header, then gone; the new connection is made before the server saw the hang-up.
    native.write(fd, Buffer.from([1, 0, 9, 0, 32, 0, 0]), 0, 7);
    const closing = first.close();
    const second = h.connect();
    await closing;
    const c = await second;
    assert.equal((await c.deviceInfo()).numRegions, 9, `round ${round}`);
    assert.equal(h.device.closes, 1, 'the old session was closed before the new one opened');
    await c.dmaMap({ iova: 0x1000n, size: 0x1000n });
  }
});
