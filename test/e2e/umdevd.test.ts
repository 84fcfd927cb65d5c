/**
 * End-to-end: the built `umdevd` as a person starts it, on a temp state dir, with a real FUSE mount, real vfio-user
 * sockets, the real mdevctl in a private mount namespace, and signals. Every daemon is killed by pid and every mount
 * detached in t.after, even when an assertion fails.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { apiOpen } from '../../src/api-client/http.js';
import { TMP_DIR } from '../../src/mdevctl/definitions.js';
import { parseStoredDefinition } from '../../src/mdevctl/store.js';
import { VfioUserClient } from '../../src/vfio-user/client.js';
import { call } from '../daemon/helpers.js';
import { waitFor } from '../process.js';
import { UMDEVD, UMDEV_UART, isMounted, run, start, stateDir, waitForStderr } from './umdevd-process.js';

test('umdevd: ready line, API create/list/remove, sysfs mount, device socket, clean SIGTERM', async (t) => {
  const ctx = await stateDir(t);
  const { dir } = ctx;
  const d = await start(ctx);
  assert.equal(d.stdout().split('\n')[0], 'umdevd ready', 'the first stdout line is exactly "umdevd ready"');
  assert.ok(await waitForStderr(d, d.url), `stderr says where the API is:\n${d.stderr()}`);
  assert.ok(d.stderr().includes(path.join(dir, 'sys')), `stderr says where the mount is:\n${d.stderr()}`);

  const info = JSON.parse(await readFile(path.join(dir, 'api.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(info.socket, path.join(dir, 'api.sock'));
  assert.equal(info.url, null, 'no TCP listener unless configured');
  const apiSock = await stat(path.join(dir, 'api.sock'));
  assert.ok(apiSock.isSocket());
  assert.equal(apiSock.mode & 0o777, 0o666, 'anyone may read (readers: any); changes are judged by peer credentials');
  assert.equal(info.pid, d.pid);
  assert.equal(info.sysfs, path.join(dir, 'sys'));
  assert.equal(info.run, path.join(dir, 'run'));
  assert.equal(info.definitions, path.join(dir, 'mdevctl.d'));
  for (const sub of ['scripts.d/callouts', 'scripts.d/notifiers']) {
    assert.ok((await stat(path.join(dir, 'mdevctl.d', sub))).isDirectory(), `${sub} exists for mdevctl`);
  }

  const parents = (await call(d.url, 'GET', '/parents')).body as { name: string }[];
  assert.deepEqual(parents.map((p) => p.name), ['mtty']);
  const types = path.join(dir, 'sys/class/mdev_bus/mtty/mdev_supported_types');
  assert.equal(await readFile(path.join(types, 'mtty-1/available_instances'), 'utf8'), '24\n');
  const cat = await run('cat', [path.join(types, 'mtty-2/available_instances')]);
  assert.equal(cat.stdout, '12\n', 'a child process reads the mount too');

  // The event stream is subscribed once its headers arrive; the create below must show up on it as one NDJSON line.
  const abort = new AbortController();
  t.after(() => abort.abort());
  const events = await apiOpen({ socket: d.url }, 'GET', '/events', { signal: abort.signal });
  assert.equal(events.headers['content-type'], 'application/x-ndjson');
  const chunks = events[Symbol.asyncIterator]() as AsyncIterator<Buffer>;

  const created = await call(d.url, 'POST', '/devices', { parent: 'mtty', type: 'mtty-2' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const dev = created.body as { uuid: string; socket?: string; driver: string | null };
  let streamed = '';
  while (!streamed.includes('\n')) streamed += Buffer.from((await chunks.next()).value ?? []).toString('utf8');
  const first = JSON.parse(streamed.slice(0, streamed.indexOf('\n'))) as { kind: string; uuid: string; parent: string };
  assert.deepEqual([first.kind, first.parent, first.uuid], ['add', 'mtty', dev.uuid]);
  abort.abort();
  const sock = path.join(dir, 'run', `${dev.uuid}.sock`);
  assert.equal(dev.socket, sock);
  assert.equal(dev.driver, 'vfio-user');
  assert.equal(await readFile(path.join(types, 'mtty-1/available_instances'), 'utf8'), '22\n');
  const st = await stat(sock);
  assert.ok(st.isSocket(), 'the device socket is a unix socket');
  assert.equal(st.mode & 0o777, 0o660, 'the socket has the configured mode');
  assert.deepEqual(await readdir(path.join(dir, 'sys/bus/mdev/devices')), [dev.uuid]);

  const client = await VfioUserClient.connect(sock);
  try {
    const ids = await client.read(7, 0, 4);
    assert.equal(ids.readUInt16LE(0), 0x4348, 'mtty PCI vendor id from config space');
    assert.equal(ids.readUInt16LE(2), 0x3253, 'mtty PCI device id from config space');
  } finally {
    client.close();
  }
  // The connection must be fully gone before the tool connects (one client at a time).
  await client.whenClosed();
  await waitFor('the server to release the first session', async () => ((await call(d.url, 'GET', `/devices/${dev.uuid}`)).body as { openCount: number }).openCount === 0);
  const uart = await run(process.execPath, [UMDEV_UART, sock, 'hello umdev']);
  assert.equal(uart.code, 0, uart.stderr + uart.stdout);
  assert.match(uart.stdout, /received: "hello umdev"/);

  const list = (await call(d.url, 'GET', '/devices')).body as { uuid: string }[];
  assert.deepEqual(list.map((x) => x.uuid), [dev.uuid]);
  assert.equal((await call(d.url, 'DELETE', `/devices/${dev.uuid}`)).status, 204);
  await assert.rejects(stat(sock), /ENOENT/, 'the socket goes with the device');
  assert.deepEqual(await readdir(path.join(dir, 'sys/bus/mdev/devices')), []);

  process.kill(d.pid, 'SIGTERM');
  const exit = await d.exited;
  assert.deepEqual(exit, { code: 0, signal: null }, d.stderr());
  assert.equal(await isMounted(path.join(dir, 'sys')), false, 'SIGTERM unmounts');
  await assert.rejects(stat(path.join(dir, 'api.json')), /ENOENT/, 'api.json is removed at a clean shutdown');
  assert.ok((await stat(path.join(dir, 'mdevctl.d'))).isDirectory(), 'definitions are kept');
});

test('umdevd: auto definitions come up when the daemon restarts; bad ones are logged and skipped', async (t) => {
  const ctx = await stateDir(t);
  const { dir } = ctx;
  const first = await start(ctx);
  const auto = '6c3f6a0e-0b64-4d0c-9f7b-3d2f4b8b1a01';
  const manual = '6c3f6a0e-0b64-4d0c-9f7b-3d2f4b8b1a02';
  const badAttr = '6c3f6a0e-0b64-4d0c-9f7b-3d2f4b8b1a03';
  const malformed = '6c3f6a0e-0b64-4d0c-9f7b-3d2f4b8b1a04';
  for (const [uuid, start, type, attrs] of [
    [auto, 'auto', 'mtty-1', []],
    [manual, 'manual', 'mtty-1', []],
    // mtty's only vendor attribute is read-only: the write fails, and the device is removed again (mdevctl's rollback).
    [badAttr, 'auto', 'mtty-2', [{ 'vendor/sample_mdev_dev': '1' }]],
  ] as const) {
    const r = await call(first.url, 'POST', '/definitions', { parent: 'mtty', uuid, start, type, attrs });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  await writeFile(path.join(dir, 'mdevctl.d/mtty', malformed), '{"mdev_type": "mtty-1", "start": ');
  process.kill(first.pid, 'SIGTERM');
  assert.equal((await first.exited).code, 0);

  const second = await start(ctx);
  const devices = (await call(second.url, 'GET', '/devices')).body as { uuid: string; type: string }[];
  assert.deepEqual(devices.map((x) => [x.uuid, x.type]), [[auto, 'mtty-1']]);
  assert.match(second.stderr(), new RegExp(`skipping .*${malformed}`));
  assert.match(second.stderr(), new RegExp(`autostart\\[${badAttr}\\].*sample_mdev_dev`));
  assert.equal(await readFile(path.join(dir, 'sys/class/mdev_bus/mtty/mdev_supported_types/mtty-1/available_instances'), 'utf8'), '23\n');
});

/** Pids of the mount watchdogs (`sh -c 'cat >/dev/null; umount … "$0"' MNT`) serving `mountpoint`. */
async function watchdogPids(mountpoint: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const argv = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    const parts = argv.split('\0');
    if (parts[0] === 'sh' && parts[2]?.includes('umount') && parts[3] === mountpoint) pids.push(Number(name));
  }
  return pids;
}

test('umdevd: kill -9 during a burst of defines leaves every definition whole; the next start clears the stale mount', async (t) => {
  const ctx = await stateDir(t);
  const { dir } = ctx;
  const mnt = path.join(dir, 'sys');
  const d = await start(ctx);
  // Make the mount stale on purpose: without its watchdog, a killed server leaves an ENOTCONN mount behind.
  for (const pid of await watchdogPids(mnt)) process.kill(-pid, 'SIGKILL');

  let stop = false;
  const burst = (async () => {
    let n = 0;
    while (!stop) {
      const batch = Array.from({ length: 8 }, () =>
        call(d.url, 'POST', '/definitions', { parent: 'mtty', type: 'mtty-1', start: 'manual', attrs: [{ 'vendor/knob': String(n++) }] }).catch(() => undefined),
      );
      await Promise.all(batch);
    }
  })();
  // Let some defines land, then kill while others are in flight.
  for (let i = 0; i < 200; i++) {
    const files = await readdir(path.join(dir, 'mdevctl.d/mtty')).catch(() => []);
    if (files.length >= 20) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  process.kill(d.pid, 'SIGKILL');
  await d.exited;
  stop = true;
  await burst;

  // Besides definitions, the parent dir holds only the writer's temp directory (mdevctl skips directories there).
  const entries = await readdir(path.join(dir, 'mdevctl.d/mtty'), { withFileTypes: true });
  for (const e of entries.filter((x) => x.isDirectory())) assert.equal(e.name, TMP_DIR, `unexpected directory ${e.name}`);
  const files = entries.filter((x) => !x.isDirectory()).map((x) => x.name);
  assert.ok(files.length >= 20, `defines landed before the kill: ${files.length}`);
  for (const f of files) {
    assert.match(f, /^[0-9a-f-]{36}$/, `only definition files in the parent dir, found ${f}`);
    const def = parseStoredDefinition('mtty', f, await readFile(path.join(dir, 'mdevctl.d/mtty', f), 'utf8'));
    assert.equal(def.mdevType, 'mtty-1');
  }
  await assert.rejects(stat(mnt), /ENOTCONN/, 'the killed daemon left a stale mount');

  const again = await start(ctx);
  assert.ok(await isMounted(mnt), 'mounted again');
  assert.equal(await readFile(path.join(mnt, 'class/mdev_bus/mtty/mdev_supported_types/mtty-1/available_instances'), 'utf8'), '24\n');
  const ls = await run('unshare', ['-m', 'sh', '-c', `mount --bind ${path.join(dir, 'mdevctl.d')} /etc/mdevctl.d && mdevctl list -d`]);
  assert.equal(ls.code, 0, `mdevctl parses every definition: ${ls.stderr}`);
  assert.equal(ls.stdout.trim().split('\n').length, files.length);
  process.kill(again.pid, 'SIGTERM');
  assert.equal((await again.exited).code, 0);
});

test('umdevd: a bad config file is refused with the field and what was expected', async (t) => {
  const ctx = await stateDir(t);
  const file = path.join(ctx.dir, 'umdevd.json');
  await mkdir(ctx.dir, { recursive: true });
  await writeFile(file, JSON.stringify({ parents: [{ driver: 'mtty', ports: 'many' }], api: { prot: 1 } }));
  const r = await run(process.execPath, [UMDEVD, '--state-dir', ctx.dir, '--config', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /parents\[0\]\.ports: expected an integer/);
  assert.match(r.stderr, /api\.prot: unknown key/);
  assert.equal(r.stdout, '', 'no ready line');
});
