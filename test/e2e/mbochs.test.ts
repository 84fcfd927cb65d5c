/**
 * mbochs through umdevd as shipped: the real `mdevctl` (in a fresh mount namespace, by `umdevctl exec`) lists both
 * parents with `available_instances` following mbochs's MiB budget as devices are created and removed, the vendor
 * attribute reads as the sample's, and a vfio-user client that maps BAR0 through the region's fd sees its stores in
 * `screen.png` (and `umdevctl screenshot`); the device then migrates live to a second umdevd, and the reconnected
 * client finds the registers and the video memory it left, and the destination's `screen.png` the same picture.
 */
import { type TestContext, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { apiCall, parseEndpoint } from '../../src/cli/api-client.js';
import { decodePng } from '../../src/display/png.js';
import { DISPI } from '../../src/drivers/mbochs/dispi.js';
import { MMIO } from '../../src/drivers/mbochs/spec.js';
import { native } from '../../src/native/index.js';
import { VFIO_PCI_REGION as R, VFIO_REGION_INFO_FLAG as F } from '../../src/vfio/constants.js';
import { VfioUserClient } from '../../src/vfio-user/client.js';
import { call } from '../daemon/helpers.js';
import { requireTools } from './harness.js';
import { UMDEVCTL, run, start, stateDir } from './umdevd-process.js';

const U1 = 'b0c5e2e0-0000-4000-8000-000000000001';
const U2 = 'b0c5e2e0-0000-4000-8000-000000000002';
const U3 = 'b0c5e2e0-0000-4000-8000-000000000003';

/** `Available instances` of every type in `mdevctl types` output, by type id. */
function available(types: string): Record<string, number> {
  const out: Record<string, number> = {};
  let type = '';
  for (const line of types.split('\n')) {
    const t = /^ {2}(\S+)$/.exec(line);
    if (t) type = t[1]!;
    const a = /^ {4}Available instances: (\d+)$/.exec(line);
    if (a) out[type] = Number(a[1]);
  }
  return out;
}

/** GET on the API: status and body bytes. */
async function get(socket: string, url: string): Promise<{ status: number; body: Buffer }> {
  const r = await apiCall(parseEndpoint(socket), 'GET', url);
  return { status: r.status, body: r.body };
}

test('mdevctl types lists mtty and mbochs; mbochs instances follow the MiB budget as devices come and go', async (t) => {
  await requireTools();
  const ctx = await stateDir(t, 'umdev-mbochs-');
  const config = path.join(ctx.dir, 'umdevd.json');
  await writeFile(config, JSON.stringify({ parents: [{ driver: 'mtty' }, { driver: 'mbochs', max_mbytes: 100 }] }));
  await start(ctx, ['--config', config]);
  const mdevctl = async (...args: string[]): Promise<string> => {
    const r = await run(process.execPath, [UMDEVCTL, 'exec', '--state-dir', ctx.dir, '--', 'mdevctl', ...args]);
    assert.equal(r.code, 0, `mdevctl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  const types = await mdevctl('types');
  assert.match(types, /^mbochs\n {2}mbochs-large\n/m);
  assert.match(types, /^ {2}mbochs-small\n {4}Available instances: 25\n {4}Device API: vfio-pci\n {4}Name: mbochs-small\n {4}Description: virtual display, 4 MB video memory\n/m);
  assert.match(types, /^mtty\n/m);
  assert.deepEqual(available(types), { 'mbochs-small': 25, 'mbochs-medium': 6, 'mbochs-large': 1, 'mtty-1': 24, 'mtty-2': 12 });

  assert.equal((await mdevctl('start', '-u', U1, '-p', 'mbochs', '-t', 'mbochs-large')).trim(), '');
  assert.deepEqual(available(await mdevctl('types')), { 'mbochs-small': 9, 'mbochs-medium': 2, 'mbochs-large': 0, 'mtty-1': 24, 'mtty-2': 12 });
  await mdevctl('start', '-u', U2, '-p', 'mbochs', '-t', 'mbochs-medium');
  await mdevctl('start', '-u', U3, '-p', 'mbochs', '-t', 'mbochs-medium');
  assert.deepEqual(available(await mdevctl('types', '-p', 'mbochs')), { 'mbochs-small': 1, 'mbochs-medium': 0, 'mbochs-large': 0 });
  // Over-commit: the sample's ENOSPC, as mdevctl reports a failed create write.
  const over = await run(process.execPath, [UMDEVCTL, 'exec', '--state-dir', ctx.dir, '--', 'mdevctl', 'start', '-p', 'mbochs', '-t', 'mbochs-medium']);
  assert.notEqual(over.code, 0);
  assert.match(over.stderr, /No space left on device|No available instances/);
  const vendor = await readFile(path.join(ctx.dir, 'sys/bus/mdev/devices', U2, 'vendor/memory'), 'utf8');
  assert.equal(vendor, '16 MB\n');
  assert.match(await mdevctl('list'), new RegExp(`${U2} mbochs mbochs-medium manual`));

  await mdevctl('stop', '-u', U1);
  assert.deepEqual(available(await mdevctl('types', '-p', 'mbochs')), { 'mbochs-small': 17, 'mbochs-medium': 4, 'mbochs-large': 1 });
  await mdevctl('stop', '-u', U2);
  await mdevctl('stop', '-u', U3);
  assert.deepEqual(available(await mdevctl('types')), { 'mbochs-small': 25, 'mbochs-medium': 6, 'mbochs-large': 1, 'mtty-1': 24, 'mtty-2': 12 });
});

for (const hosts of [true, false]) {
  test(`a vfio-user client maps BAR0 through the region fd; its stores show in screen.png and umdevctl screenshot (device hosts ${hosts ? 'on' : 'off'})`, (t) => mappedScreen(t, hosts));
}

/** The client's session runs in a device host (the video memory is there) or, with hosts off, inside umdevd. */
async function mappedScreen(t: TestContext, hosts: boolean): Promise<void> {
  const ctx = await stateDir(t, 'umdev-mbochs-');
  const config = path.join(ctx.dir, 'umdevd.json');
  await writeFile(config, JSON.stringify({ parents: [{ driver: 'mtty' }, { driver: 'mbochs' }], deviceHosts: { enabled: hosts } }));
  const daemon = await start(ctx, ['--config', config, '--no-mount']);
  const created = await call(daemon.url, 'POST', '/devices', { parent: 'mbochs', type: 'mbochs-small', uuid: U1 });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const socket = (created.body as { socket: string }).socket;

  // No client yet: nothing is shown.
  const off = await get(daemon.url, `/devices/${U1}/screen.png`);
  assert.equal(off.status, 409);
  assert.equal((JSON.parse(off.body.toString()) as { error: { errno: string } }).error.errno, 'EBUSY');
  // mtty has no display.
  const mttyUuid = 'b0c5e2e0-0000-4000-8000-0000000000ff';
  assert.equal((await call(daemon.url, 'POST', '/devices', { parent: 'mtty', type: 'mtty-1', uuid: mttyUuid })).status, 201);
  assert.equal((await get(daemon.url, `/devices/${mttyUuid}/screen.png`)).status, 501);
  assert.equal((await get(daemon.url, '/devices/b0c5e2e0-0000-4000-8000-00000000dead/screen.png')).status, 404);

  const client = await VfioUserClient.connect(socket);
  t.after(() => client.close());
  // A client that can follow a migration asks about it, as a VFIO VMM does; umdevd refuses to move a device from
  // under one that never did.
  assert.ok((await client.migrationFlags()) !== 0);
  const info = await client.regionInfo(R.BAR0);
  assert.ok(info.fd !== undefined, 'BAR0 comes with its memfd');
  t.after(() => native.close(info.fd!));
  assert.equal(info.flags & (F.MMAP | F.CAPS), F.MMAP | F.CAPS);
  assert.deepEqual(info.sparse, [{ offset: 0n, size: 4n * 1024n * 1024n }]);
  const vram = new Uint8Array(native.mmap(info.fd, info.offset, 4 * 1024 * 1024, true));
  t.after(() => native.munmap(vram.buffer as ArrayBuffer));

  // Set 128x64 at 32 bpp through the DISPI registers (16-bit REGION_WRITEs to BAR2), panned 10 lines down.
  const reg = async (index: number, value: number): Promise<void> => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(value);
    await client.write(R.BAR2, BigInt(MMIO.DISPI.offset + index * 2), b);
  };
  assert.equal((await client.read(R.BAR2, BigInt(MMIO.DISPI.offset), 2)).readUInt16LE(0), 0xb0c5);
  await reg(DISPI.BPP, 32);
  await reg(DISPI.XRES, 128);
  await reg(DISPI.YRES, 64);
  await reg(DISPI.VIRT_WIDTH, 128);
  await reg(DISPI.Y_OFFSET, 10);
  await reg(DISPI.ENABLE, DISPI.ENABLED | DISPI.LFB_ENABLED);
  // Draw through the mapping only: a gradient, B, G, R, X per pixel.
  const stride = 128 * 4;
  for (let y = 0; y < 64; y++) for (let x = 0; x < 128; x++) vram.set([y * 4, x * 2, 200, 0], (10 + y) * stride + x * 4);

  const shot = await get(daemon.url, `/devices/${U1}/screen.png`);
  assert.equal(shot.status, 200, shot.body.toString());
  const img = decodePng(shot.body);
  assert.deepEqual([img.width, img.height], [128, 64]);
  for (const [x, y] of [[0, 0], [127, 0], [0, 63], [127, 63], [64, 32]] as const) {
    const at = (y * 128 + x) * 3;
    assert.deepEqual([...img.rgb.subarray(at, at + 3)], [200, x * 2, y * 4], `pixel (${x}, ${y})`);
  }

  // The CLI writes the same picture to a file.
  const file = path.join(ctx.dir, 'screen.png');
  const r = await run(process.execPath, [UMDEVCTL, '--json', 'screenshot', U1, file, '--state-dir', ctx.dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { uuid: U1, file, width: 128, height: 64, bytes: (await readFile(file)).length });
  assert.ok(decodePng(await readFile(file)).rgb.equals(img.rgb));
  const bad = await run(process.execPath, [UMDEVCTL, 'screenshot', mttyUuid, file, '--state-dir', ctx.dir]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /no display/);

  // Live migration to a second daemon: the registers and the video memory the client drew go with the device, and
  // the reconnected client's mapping and the destination's screen show the same picture.
  const ctx2 = await stateDir(t, 'umdev-mbochs-to-');
  const config2 = path.join(ctx2.dir, 'umdevd.json');
  await writeFile(config2, JSON.stringify({ parents: [{ driver: 'mbochs' }], deviceHosts: { enabled: hosts } }));
  const daemon2 = await start(ctx2, ['--config', config2, '--no-mount']);
  const moved = await apiCall(parseEndpoint(daemon.url), 'POST', `/devices/${U1}/migrate`, { body: JSON.stringify({ to: daemon2.url }) });
  const last = JSON.parse(moved.text.trim().split('\n').at(-1)!) as { done?: { downtimeMs: number }; error?: unknown };
  assert.ok(last.done, moved.text);
  await client.whenClosed();
  const client2 = await VfioUserClient.connect(path.join(ctx2.dir, 'run', `${U1}.sock`));
  t.after(() => client2.close());
  assert.equal((await client2.read(R.BAR2, BigInt(MMIO.DISPI.offset + DISPI.YRES * 2), 2)).readUInt16LE(0), 64);
  const info2 = await client2.regionInfo(R.BAR0);
  assert.ok(info2.fd !== undefined);
  t.after(() => native.close(info2.fd!));
  const vram2 = new Uint8Array(native.mmap(info2.fd, info2.offset, 4 * 1024 * 1024, true));
  t.after(() => native.munmap(vram2.buffer as ArrayBuffer));
  assert.ok(Buffer.from(vram2).equals(Buffer.from(vram)), 'video memory arrived whole');
  const shot2 = await get(daemon2.url, `/devices/${U1}/screen.png`);
  assert.equal(shot2.status, 200, shot2.body.toString());
  assert.ok(decodePng(shot2.body).rgb.equals(img.rgb), 'the same screen on the destination');
}
