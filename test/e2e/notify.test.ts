/**
 * umdevd under systemd's Type=notify, with a datagram socket the test owns as NOTIFY_SOCKET: READY=1 once the
 * mount, sockets and API are up; WATCHDOG=1 every half WATCHDOG_USEC; STOPPING=1 on SIGTERM.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { call } from '../daemon/helpers.js';
import { datagramReceiver } from '../datagram-receiver.js';
import { waitFor } from '../process.js';
import { isMounted, start, stateDir } from './umdevd-process.js';

test('Type=notify: READY=1 after the mount and API are up, WATCHDOG=1 pings, STOPPING=1 on SIGTERM', async (t) => {
  const ctx = await stateDir(t, 'umdevd-notify-');
  const socket = path.join(ctx.dir, 'notify.sock');
  const systemd = await datagramReceiver(t, socket);
  const d = await start(ctx, [], { viaBin: true, env: { ...process.env, NOTIFY_SOCKET: socket, WATCHDOG_USEC: '200000' } });
  await systemd.waitFor('READY=1', (m) => m.some((x) => x.startsWith('READY=1\n')));
  const ready = systemd.messages().find((x) => x.startsWith('READY=1\n'))!;
  assert.match(ready, new RegExp(`\\nMAINPID=${d.pid}$`), 'MAINPID is the pid systemd started (no wrapper)');
  assert.match(ready, /\nSTATUS=serving mtty at /);
  assert.ok(await isMounted(path.join(ctx.dir, 'sys')), 'the mount is up when READY=1 is seen');
  const api = JSON.parse(await readFile(path.join(ctx.dir, 'api.json'), 'utf8')) as { socket: string };
  assert.equal((await call(api.socket, 'GET', '/parents')).status, 200, 'and so is the API');
  assert.equal(systemd.messages()[0], ready, 'nothing before READY=1');
  await systemd.waitFor('two watchdog pings', (m) => m.filter((x) => x === 'WATCHDOG=1').length >= 2);
  process.kill(d.pid, 'SIGTERM');
  assert.deepEqual(await d.exited, { code: 0, signal: null });
  await systemd.waitFor('STOPPING=1', (m) => m.some((x) => x.startsWith('STOPPING=1')));
  const after = systemd.messages().slice(systemd.messages().findIndex((x) => x.startsWith('STOPPING=1')) + 1);
  assert.deepEqual(after, [], 'no watchdog ping after STOPPING=1');
});

test('a NOTIFY_SOCKET nobody listens on costs one warning; the daemon runs and stops as usual', async (t) => {
  const ctx = await stateDir(t, 'umdevd-notify-');
  const d = await start(ctx, ['--no-mount'], { env: { ...process.env, NOTIFY_SOCKET: path.join(ctx.dir, 'nobody.sock') } });
  // READY=1 follows the `umdevd ready` line, so its warning may reach stderr a moment after `start` returns.
  await waitFor('the warning for READY=1', () => /systemd: cannot notify .*nobody\.sock: ENOENT/.test(d.stderr()));
  process.kill(d.pid, 'SIGTERM');
  assert.deepEqual(await d.exited, { code: 0, signal: null });
  const warnings = d.stderr().match(/cannot notify /g) ?? [];
  assert.equal(warnings.length, 1, 'READY=1 warns; STOPPING=1 failing too adds nothing');
});
