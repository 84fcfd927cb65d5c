/**
 * A tenant's screen under many viewers, through umdevd as shipped: 50 screenshot requests at once on a 1920×1080
 * mbochs screen are all answered with the one frame the device's host made, the client keeps being served by the
 * same host, and someone outside root and the API group gets 403 whatever `readers` says; then the device migrates
 * to a second daemon where no client is attached, and its host there answers the same 50 with the same picture.
 * How long the client waits meanwhile, and the roots' CPU, are `npm run bench -- screen-load`'s to measure.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { apiCall, parseEndpoint } from '../../src/cli/api-client.js';
import { decodePng } from '../../src/display/png.js';
import { DISPI } from '../../src/drivers/mbochs/dispi.js';
import { MMIO } from '../../src/drivers/mbochs/spec.js';
import { native } from '../../src/native/index.js';
import { VFIO_PCI_REGION as R } from '../../src/vfio/constants.js';
import { VfioUserClient } from '../../src/vfio-user/client.js';
import { callAs } from '../daemon/as-user.js';
import { call } from '../daemon/helpers.js';
import { hosts } from './hosts.js';
import { type RunningDaemon, type StateDir, start, stateDir } from './umdevd-process.js';

const W = 1920;
const H = 1080;

async function mbochsDaemon(t: Parameters<typeof stateDir>[0]): Promise<{ ctx: StateDir; d: RunningDaemon }> {
  const ctx = await stateDir(t, 'umdev-screens-');
  const config = path.join(ctx.dir, 'umdevd.json');
  await writeFile(config, JSON.stringify({ parents: [{ driver: 'mbochs' }] }));
  return { ctx, d: await start(ctx, ['--config', config, '--no-mount']) };
}

/** 50 screenshots at once: every answer, as status and body. */
async function fifty(api: string, uuid: string): Promise<{ status: number; body: Buffer }[]> {
  const ep = parseEndpoint(api);
  return Promise.all(Array.from({ length: 50 }, async () => {
    const r = await apiCall(ep, 'GET', `/devices/${uuid}/screen.png`);
    return { status: r.status, body: r.body };
  }));
}

test('50 screenshots at once share one frame made in the host; the client is served throughout; the screen is privileged', async (t) => {
  const { ctx, d } = await mbochsDaemon(t);
  const uuid = randomUUID();
  assert.equal((await call(d.url, 'POST', '/devices', { parent: 'mbochs', type: 'mbochs-large', uuid })).status, 201);
  const c = await VfioUserClient.connect(path.join(ctx.dir, 'run', `${uuid}.sock`));
  t.after(() => c.close());
  // A VMM that can follow the migration below: it asks about it.
  await c.migrationFlags();
  const info = await c.regionInfo(R.BAR0);
  t.after(() => native.close(info.fd!));
  const vram = new Uint8Array(native.mmap(info.fd!, info.offset, W * H * 4, true));
  t.after(() => native.munmap(vram.buffer as ArrayBuffer));
  for (const [i, v] of [[DISPI.BPP, 32], [DISPI.XRES, W], [DISPI.YRES, H], [DISPI.VIRT_WIDTH, W], [DISPI.ENABLE, DISPI.ENABLED | DISPI.LFB_ENABLED]] as const) {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    await c.write(R.BAR2, BigInt(MMIO.DISPI.offset + i * 2), b);
  }
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) vram.set([y & 0xff, x & 0xff, 0x80, 0], (y * W + x) * 4);
  const [host] = await hosts(d);

  const answers = await fifty(d.url, uuid);
  assert.deepEqual([...new Set(answers.map((a) => a.status))], [200]);
  assert.equal(new Set(answers.map((a) => a.body.toString('base64'))).size, 1, 'one frame for all of them');
  const img = decodePng(answers[0]!.body);
  assert.deepEqual([img.width, img.height], [W, H]);
  const at = (1000 * W + 1500) * 3;
  assert.deepEqual([...img.rgb.subarray(at, at + 3)], [0x80, 1500 & 0xff, 1000 & 0xff], 'pixel (1500, 1000)');
  assert.equal((await c.read(R.CONFIG, 0n, 4)).readUInt32LE(0), 0x11111234, 'the client is served');
  assert.deepEqual((await hosts(d)).map((h) => h.pid), [host!.pid], 'by the same host');
  // The state dir is 0700; the API socket (0666 with readers "any") is what any user reaches.
  await chmod(ctx.dir, 0o755);
  const nobody = await callAs({}, d.url, 'GET', `/devices/${uuid}/screen.png`);
  assert.equal(nobody.status, 403, 'a tenant screen is not for any reader');

  // Migrated, and no client at the destination: its host has the device, and makes the frame there.
  const ctx2 = await stateDir(t, 'umdev-screens-to-');
  const config2 = path.join(ctx2.dir, 'umdevd.json');
  await writeFile(config2, JSON.stringify({ parents: [{ driver: 'mbochs' }] }));
  const d2 = await start(ctx2, ['--config', config2, '--no-mount']);
  const moved = await apiCall(parseEndpoint(d.url), 'POST', `/devices/${uuid}/migrate`, { body: JSON.stringify({ to: d2.url }) });
  assert.ok(moved.text.includes('"done"'), moved.text);
  const there = await fifty(d2.url, uuid);
  assert.deepEqual([...new Set(there.map((a) => a.status))], [200]);
  assert.ok(there.every((a) => a.body.equals(answers[0]!.body)), 'the same picture, from the destination');
  const [host2] = await hosts(d2);
  assert.ok(host2 !== undefined, 'made in a device host of the destination');
  assert.equal(d2.proc.exitCode, null);
});
