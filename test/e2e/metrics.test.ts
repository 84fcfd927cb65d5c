/**
 * `GET /metrics` on a live umdevd with both drivers (mtty and mbochs), its FUSE mount and a vfio-user client
 * attached: Debian's `promtool check metrics` accepts the text, and the families say what happened (requests,
 * interrupts, DMA maps, the client, FUSE reads). With device hosts on, the families are still valid; the per-device
 * counters come from the hosts, whose report the transport provides (absent until it does).
 */
import { type TestContext, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { apiCall, parseEndpoint } from '../../src/cli/api-client.js';
import { native } from '../../src/native/index.js';
import { VFIO_IRQ_SET, VFIO_PCI_IRQ, VFIO_PCI_REGION as R } from '../../src/vfio/constants.js';
import { VfioUserClient } from '../../src/vfio-user/client.js';
import { exec } from '../process.js';
import { callAs } from '../daemon/as-user.js';
import { call } from '../daemon/helpers.js';
import { requireTools } from './harness.js';
import { start, stateDir } from './umdevd-process.js';

const PROMTOOL = '/usr/bin/promtool';
const MTTY = 'e7c1c500-0000-4000-8000-000000000001';
const MBOCHS = 'e7c1c500-0000-4000-8000-000000000002';

/** The value of one sample line `name{labels} value`, or undefined. */
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function promtool(text: string): Promise<void> {
  const r = await exec(PROMTOOL, ['check', 'metrics'], { input: text });
  assert.notEqual(r.code, 127, `${PROMTOOL} not found: install the Debian package prometheus (./setup does)`);
  assert.equal(r.code, 0, `promtool check metrics:\n${r.stdout}${r.stderr}`);
}

async function metricsOf(t: TestContext, hosts: boolean): Promise<string> {
  await requireTools();
  const ctx = await stateDir(t, 'umdev-metrics-');
  await chmod(ctx.dir, 0o755);
  const config = path.join(ctx.dir, 'umdevd.json');
  await writeFile(config, JSON.stringify({ parents: [{ driver: 'mtty' }, { driver: 'mbochs' }], deviceHosts: { enabled: hosts } }));
  const d = await start(ctx, ['--config', config]);
  const mtty = await call(d.url, 'POST', '/devices', { parent: 'mtty', type: 'mtty-2', uuid: MTTY });
  assert.equal(mtty.status, 201);
  assert.equal((await call(d.url, 'POST', '/devices', { parent: 'mbochs', type: 'mbochs-small', uuid: MBOCHS })).status, 201);
  // FUSE traffic: a few reads through the mount.
  assert.equal((await readFile(path.join(ctx.dir, 'sys/bus/mdev/devices', MTTY, 'mdev_type/name'), 'utf8')).trim(), 'Dual port serial');

  const client = await VfioUserClient.connect((mtty.body as { socket: string }).socket);
  t.after(() => client.close());
  await client.read(R.CONFIG, 0, 4);
  await client.read(R.BAR0, 5, 1);
  // One interrupt: MSI with an eventfd, then a loopback trigger (which the device delivers through the eventfd).
  const efd = native.eventfd(0);
  t.after(() => native.close(efd));
  await client.setIrqs({ index: VFIO_PCI_IRQ.MSI, flags: VFIO_IRQ_SET.DATA_EVENTFD | VFIO_IRQ_SET.ACTION_TRIGGER, start: 0, count: 1, fds: [efd] });
  await client.setIrqs({ index: VFIO_PCI_IRQ.MSI, flags: VFIO_IRQ_SET.DATA_NONE | VFIO_IRQ_SET.ACTION_TRIGGER, start: 0, count: 1 });
  const mem = native.memfdCreate('guest', 1 << 16);
  t.after(() => native.close(mem));
  await client.dmaMap({ iova: 0x10000n, size: 1n << 16n, fd: mem });
  // A request the device refuses: counted as an error.
  await assert.rejects(client.read(R.BAR0, 100, 1));

  const r = await apiCall(parseEndpoint(d.url), 'GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  await promtool(r.text);

  // Screens and UART output are tenant data: a reader that may list devices may not look at them.
  const nobodyScreen = await callAs({}, d.url, 'GET', `/devices/${MBOCHS}/screen.png`);
  assert.equal(nobodyScreen.status, 403);
  assert.equal((await callAs({}, d.url, 'GET', `/devices/${MTTY}/uart`)).status, 403);
  assert.equal((await callAs({}, d.url, 'GET', '/devices')).status, 200);
  assert.equal((await callAs({}, d.url, 'GET', '/metrics')).status, 200);
  return r.text;
}

test('promtool check metrics passes on a live daemon with both drivers and an attached client (device hosts off)', async (t) => {
  const text = await metricsOf(t, false);
  const dev = `uuid="${MTTY}",parent="mtty",type="mtty-2"`;
  assert.equal(sample(text, 'umdev_device_client_attached', dev), 1);
  assert.ok((sample(text, 'umdev_device_vfio_user_requests_total', dev) ?? 0) >= 7, 'VERSION, reads, SET_IRQS, DMA_MAP');
  assert.equal(sample(text, 'umdev_device_vfio_user_errors_total', dev), 1);
  assert.equal(sample(text, 'umdev_device_interrupts_total', dev), 1);
  assert.equal(sample(text, 'umdev_device_dma_maps_total', dev), 1);
  assert.ok((sample(text, 'umdev_vfio_user_request_duration_seconds_count', 'parent="mtty",type="mtty-2"') ?? 0) >= 7);
  assert.equal(sample(text, 'umdev_device_client_attached', `uuid="${MBOCHS}",parent="mbochs",type="mbochs-small"`), 0);
  assert.equal(sample(text, 'umdev_type_devices', 'parent="mbochs",type="mbochs-small"'), 1);
  assert.equal(sample(text, 'umdev_type_available_instances', 'parent="mbochs",type="mbochs-small"'), 63);
  assert.ok((sample(text, 'umdev_fuse_requests_total', 'op="READ"') ?? 0) >= 1);
  assert.ok((sample(text, 'umdev_fuse_request_duration_seconds_count', '') ?? 0) >= 1);
  assert.ok((sample(text, 'umdev_api_requests_total', 'method="POST",route="/devices",code="201"') ?? 0) === 2);
  assert.ok((sample(text, 'process_resident_memory_bytes', '') ?? 0) > 0);
});

test('promtool check metrics passes on a live daemon with both drivers and an attached client (device hosts on)', async (t) => {
  const text = await metricsOf(t, true);
  assert.equal(sample(text, 'umdev_device_info', `uuid="${MTTY}",parent="mtty",type="mtty-2"`), 1);
  assert.match(text, /^umdev_migrations_total\{direction="out",result="done"\} 0$/m);
});
