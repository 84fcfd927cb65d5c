/**
 * `umdevctl migrate` as a person meets it, between two umdevd on one machine (APIs on their Unix sockets, clients
 * served in the daemon so the session knows what its client negotiated): a client that never asked about migration
 * (QEMU 11.1's vfio-user-pci) makes it refuse with EBUSY and change nothing, `--force` moves the device anyway and
 * cuts that client off, Ctrl-C in the middle of PRE_COPY rolls back (the source runs on, the destination has
 * nothing), and the device's definition moves with it, so after both daemons restart the UUID runs on the
 * destination only. The last line names the device's socket on the destination.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { VFIO_DEVICE_STATE as S } from '../../src/vfio/constants.js';
import { VfioUserClient } from '../../src/vfio-user/index.js';
import { call } from '../daemon/helpers.js';
import { type RunningDaemon, type StateDir, UMDEVCTL, start, stateDir } from './umdevd-process.js';

/** A daemon as shipped (each device in a host of its own), with both sample drivers, no mount. */
async function daemon(t: TestContext): Promise<{ ctx: StateDir; d: RunningDaemon; file: string }> {
  const ctx = await stateDir(t, 'umdev-migu-');
  const file = path.join(ctx.dir, 'umdevd.json');
  await writeFile(file, JSON.stringify({ parents: [{ driver: 'mtty' }, { driver: 'mbochs', max_mbytes: 64 }] }));
  const d = await start(ctx, ['--config', file, '--no-mount']);
  return { ctx, d, file };
}

async function create(d: RunningDaemon, parent: string, type: string): Promise<string> {
  const uuid = randomUUID();
  const r = await call(d.url, 'POST', '/devices', { parent, type, uuid });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return uuid;
}

/** Run `umdevctl migrate` (text output unless `--json` is in `extra`); resolves with its exit and output. */
function migrate(src: RunningDaemon, dst: RunningDaemon, uuid: string, extra: string[] = []) {
  const p = spawn(process.execPath, [UMDEVCTL, 'migrate', uuid, '--to', dst.url, '--api', src.url, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  p.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = once(p, 'exit').then(([code]) => code as number | null);
  const sees = async (text: string, ms = 20_000): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!out.includes(text)) {
      if (Date.now() > deadline) throw new Error(`no "${text}" from umdevctl migrate: ${out}${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { p, exited, out: () => out, err: () => err, sees };
}

const sock = (ctx: StateDir, uuid: string): string => path.join(ctx.dir, 'run', `${uuid}.sock`);

test('migrate refuses with EBUSY while a client that never negotiated migration is attached; --force moves it and cuts that client off', { timeout: 90_000 }, async (t) => {
  const src = await daemon(t);
  const dst = await daemon(t);
  const uuid = await create(src.d, 'mtty', 'mtty-2');
  const legacy = await VfioUserClient.connect(sock(src.ctx, uuid));
  t.after(() => legacy.close());
  await legacy.deviceInfo();

  const refused = migrate(src.d, dst.d, uuid);
  assert.equal(await refused.exited, 1, refused.out() + refused.err());
  assert.match(refused.err(), /never negotiated migration/);
  assert.match(refused.err(), /--force/);
  const api = await call(src.d.url, 'POST', `/devices/${uuid}/migrate`, { to: dst.d.url });
  assert.equal(api.status, 409, 'the API refuses before any step, with the errno');
  assert.equal((api.body as { error: { errno: string } }).error.errno, 'EBUSY');
  assert.equal(refused.out(), '', 'nothing moved, so no step was printed');
  assert.equal(legacy.closed, false, 'the client is still connected');
  assert.equal((await call(src.d.url, 'GET', `/devices/${uuid}`)).status, 200);
  assert.equal((await call(dst.d.url, 'GET', `/devices/${uuid}`)).status, 404, 'the destination was never asked');

  // A client that asked about the device's migration can follow it: no refusal.
  const uuid2 = await create(src.d, 'mtty', 'mtty-1');
  const aware = await VfioUserClient.connect(sock(src.ctx, uuid2));
  t.after(() => aware.close());
  assert.ok((await aware.migrationFlags()) !== 0);
  const moved = migrate(src.d, dst.d, uuid2);
  assert.equal(await moved.exited, 0, moved.err());
  await aware.whenClosed();

  const forced = migrate(src.d, dst.d, uuid, ['--force', '--json']);
  assert.equal(await forced.exited, 0, forced.err());
  await legacy.whenClosed();
  assert.equal((await call(src.d.url, 'GET', `/devices/${uuid}`)).status, 404);
  assert.equal((await call(dst.d.url, 'GET', `/devices/${uuid}`)).status, 200);
  const done = (JSON.parse(forced.out().trim().split('\n').at(-1)!) as { done: { socket: string } }).done;
  assert.equal(done.socket, sock(dst.ctx, uuid), 'the result names the device socket on the destination, not its API');
});

test('SIGINT in the middle of PRE_COPY rolls back: the source device runs on with its client, the destination has none', { timeout: 90_000 }, async (t) => {
  const src = await daemon(t);
  const dst = await daemon(t);
  // An mbochs-small's 4 MiB of video memory, paced at 64 KiB/s, keeps PRE_COPY going for a minute.
  const uuid = await create(src.d, 'mbochs', 'mbochs-small');
  const c = await VfioUserClient.connect(sock(src.ctx, uuid));
  t.after(() => c.close());
  await c.migrationFlags();
  const m = migrate(src.d, dst.d, uuid, ['--max-bandwidth', '65536']);
  await m.sees('created the device (RESUMING)');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await call(dst.d.url, 'GET', `/devices/${uuid}`)).status, 200, 'mid-stream, the destination holds the device in RESUMING');
  m.p.kill('SIGINT');
  assert.equal(await m.exited, 130, `128 + SIGINT: ${m.out()}${m.err()}`);
  assert.match(m.out(), /SIGINT: aborting/);
  assert.match(m.out(), /rolled back/);
  assert.match(m.out(), /aborted: the migration was rolled back; .* runs on the source again/);
  assert.doesNotMatch(m.out(), /stop-copy|done:/, 'it never reached STOP_COPY');
  assert.equal(c.closed, false, 'the client is still connected to the source');
  assert.equal(await c.migrationState(), S.RUNNING);
  assert.equal((await call(src.d.url, 'GET', `/devices/${uuid}`)).status, 200);
  assert.equal((await call(dst.d.url, 'GET', `/devices/${uuid}`)).status, 404, 'no device on the destination');
  assert.match(src.d.stderr(), /aborted by the user; rolling back/);
});

test('the definition moves with the device: after both daemons restart, the UUID runs on the destination only', { timeout: 90_000 }, async (t) => {
  const src = await daemon(t);
  const dst = await daemon(t);
  const uuid = await create(src.d, 'mtty', 'mtty-2');
  const def = await call(src.d.url, 'POST', '/definitions', { parent: 'mtty', type: 'mtty-2', uuid, start: 'auto', attrs: [] });
  assert.equal(def.status, 201, JSON.stringify(def.body));

  const m = migrate(src.d, dst.d, uuid);
  assert.equal(await m.exited, 0, m.err());
  assert.match(m.out(), new RegExp(`the device now runs at ${sock(dst.ctx, uuid).replaceAll('.', '\\.')} \\(umdevd `), 'the last line names the socket');
  assert.deepEqual(await readdir(path.join(src.ctx.dir, 'mdevctl.d', 'mtty')), [], 'the source no longer defines it');
  const defs = ((await call(dst.d.url, 'GET', '/definitions')).body as { definitions: Array<{ uuid: string; start: string; type: string }> }).definitions;
  assert.deepEqual(defs.map((d) => [d.uuid, d.type, d.start]), [[uuid, 'mtty-2', 'auto']], 'the destination defines it, start mode kept');

  // Restart both: autostart decides where the device runs.
  for (const x of [src, dst]) {
    const d = x.ctx.daemons.pop()!;
    process.kill(d.pid, 'SIGTERM');
    assert.equal((await d.exited).code, 0);
  }
  const src2 = await start(src.ctx, ['--config', src.file, '--no-mount']);
  const dst2 = await start(dst.ctx, ['--config', dst.file, '--no-mount']);
  assert.equal((await call(src2.url, 'GET', `/devices/${uuid}`)).status, 404, 'not on the source');
  assert.equal((await call(dst2.url, 'GET', `/devices/${uuid}`)).status, 200, 'on the destination');
});
