/**
 * A client that sends requests but never reads the replies: the server stops reading from it once its unsent
 * replies pass the bound, so memory stays bounded, and other devices' clients are served meanwhile.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VfioUserClient } from '../../src/vfio-user/client.js';
import { native } from '../../src/native/index.js';
import { BAR1, BAR1_SIZE, startServer, until } from './fixtures.js';
import { drain, rawConnect, regionReadFrame, sendSome, versionFrame } from './raw.js';

test('a client that never reads replies is throttled: its sends stall, RSS stays bounded, others are served', async (t) => {
  const h = await startServer(t);
  const other = await h.core.create('fixture', 'fixture-1', '00000000-0000-4000-8000-0000000000ff');
  t.after(async () => {
    if (h.core.device(other.uuid)) await h.core.remove(other.uuid, { force: true });
  });
  const fd = rawConnect(h.path);
  assert.equal(sendSome(fd, versionFrame()), versionFrame().length);
  // Each 32-byte request asks for an 8 KiB reply: unthrottled, 4 MB sent would queue 1 GiB in the daemon.
  const batch = Buffer.concat(Array.from({ length: 256 }, (_, i) => regionReadFrame(i + 1, BAR1, 0, BAR1_SIZE)));
  const rss0 = process.memoryUsage().rss;
  let sent = 0;
  let stalledSince = 0;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const n = sendSome(fd, batch);
    sent += n;
    if (n === 0) {
      stalledSince ||= Date.now();
      if (Date.now() - stalledSince > 300) break;
    } else {
      stalledSince = 0;
    }
    await new Promise((r) => setImmediate(r));
  }
  assert.ok(stalledSince > 0, `the flood never stalled (${sent} bytes sent)`);
  assert.ok(sent < 4 << 20, `the daemon stopped reading early: ${sent} request bytes got in`);
  const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
  assert.ok(grown < 128, `RSS grew ${grown.toFixed(0)} MiB`);
  // Another device's client is served while the flooder is throttled.
  const c = await VfioUserClient.connect(h.driver.socketPath(other.uuid));
  assert.equal((await c.deviceInfo()).numRegions, 9);
  await c.close();
  // The flooder reads at last: the replies it asked for flow, and reading resumes.
  let got = 0;
  await until(() => {
    const n = drain(fd);
    if (n > 0) got += n;
    return got >= (sent / 32) * (BAR1_SIZE + 32) * 0.9;
  }, 'the queued replies');
  native.close(fd);
  await until(() => h.device.closes === 1, 'the throttled session ended after the hangup');
});

test('a throttled client that hangs up without reading is seen at once and its session ends', async (t) => {
  const h = await startServer(t);
  const fd = rawConnect(h.path);
  sendSome(fd, versionFrame());
  const batch = Buffer.concat(Array.from({ length: 256 }, (_, i) => regionReadFrame(i + 1, BAR1, 0, BAR1_SIZE)));
  for (let i = 0; i < 2000 && sendSome(fd, batch) > 0; i++) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 100));
  native.close(fd);
  await until(() => h.device.closes === 1, 'the session ended');
  assert.equal(h.mdev.openCount, 0);
});
