/**
 * End-to-end: `umdevctl online/offline` of a group against the built umdevd (real FUSE mount, real API), both
 * through the API (`--state-dir`) and through the mounted sysfs files. mtty has no start/stop hooks, so the core
 * answers EOPNOTSUPP, which must reach the user unchanged on both paths.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { call } from '../daemon/helpers.js';
import { UMDEVCTL, run, start, stateDir } from './umdevd-process.js';

test('umdevctl online/offline of a group through umdevd: EOPNOTSUPP from mtty passes through', async (t) => {
  const ctx = await stateDir(t, 'umdevd-online-');
  const { dir } = ctx;
  const d = await start(ctx);
  const uuids: string[] = [];
  for (const type of ['mtty-1', 'mtty-2']) {
    const r = await call(d.url, 'POST', '/devices', { parent: 'mtty', type });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    uuids.push((r.body as { uuid: string }).uuid);
  }
  const roots = ['--sysfs-root', path.join(dir, 'sys'), '--config-root', path.join(dir, 'mdevctl.d')];
  const ctl = (args: readonly string[]): ReturnType<typeof run> =>
    run('env', ['-u', 'UMDEV_API', process.execPath, UMDEVCTL, ...roots, ...args]);
  const group = uuids.flatMap((u) => ['-u', u]);

  for (const cmd of ['online', 'offline']) {
    const viaApi = await ctl([cmd, '--state-dir', dir, ...group]);
    assert.equal(viaApi.code, 1, viaApi.stderr);
    assert.equal(viaApi.stderr, `Error: Failed to set devices ${uuids.join(', ')} ${cmd}\n\nCaused by:\n    parent mtty has no start/stop\n`);
    const json = await ctl(['--json', cmd, '--api', d.url, ...group]);
    assert.equal(json.code, 1);
    assert.equal((JSON.parse(json.stderr) as { error: { errno: string } }).error.errno, 'EOPNOTSUPP');
  }
  // Without an API the mounted `online` files are written; the same errno comes back from the FUSE write.
  const viaSysfs = await ctl(['online', ...group]);
  assert.equal(viaSysfs.code, 1);
  assert.equal(viaSysfs.stderr, `Error: Failed to set device ${uuids[0]} online\n\nCaused by:\n    Operation not supported (os error 95)\n`);
  const sysfsJson = await ctl(['--json', 'offline', ...group]);
  assert.equal((JSON.parse(sysfsJson.stderr) as { error: { errno: string } }).error.errno, 'EOPNOTSUPP', 'errno 95 is EOPNOTSUPP, not EIO');
  const devices = (await call(d.url, 'GET', '/devices')).body as { uuid: string; online?: boolean }[];
  assert.equal(devices.length, 2, 'both devices are still there');
});
