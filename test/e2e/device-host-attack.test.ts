/**
 * The tenant boundary, tested from the compromised side: a test build of umdevd (`intruder/umdevd.ts`) whose
 * intruder device runs what its client tells it to inside its device host, as a VMM that got code execution there
 * would. From there it must reach nothing: not another tenant's host, not the daemon's sockets, mount or state, not a
 * new program; and what it sends the root on its channel (garbage, a huge frame, an unasked answer) costs it its own
 * life only.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { VFIO_PCI_REGION as R } from '../../src/vfio/constants.js';
import { call } from '../daemon/helpers.js';
import { INTRUDER_UMDEVD, connect, hosts, intrude, statusField, until } from './hosts.js';
import { type RunningDaemon, type StateDir, start, stateDir, waitForStderr } from './umdevd-process.js';

async function daemon(t: Parameters<typeof stateDir>[0]): Promise<{ ctx: StateDir; d: RunningDaemon }> {
  const ctx = await stateDir(t, 'umdev-attack-');
  const file = path.join(ctx.dir, 'umdevd.json');
  await writeFile(file, JSON.stringify({ parents: [{ driver: 'mtty' }, { driver: 'intruder' }], deviceHosts: { stuckMs: 2000 } }));
  return { ctx, d: await start(ctx, ['--config', file], { entry: INTRUDER_UMDEVD }) };
}

/** What a source sends beside the stream: a device's config space and interrupt setup at rest. */
const PLATFORM = { config: Buffer.alloc(256).toString('base64'), irqs: { active: null, enabled: 0, intxMasked: false } };

async function create(ctx: StateDir, parent: string, type: string): Promise<string> {
  const uuid = randomUUID();
  await writeFile(path.join(ctx.dir, `sys/class/mdev_bus/${parent}/mdev_supported_types/${type}/create`), uuid);
  return uuid;
}

test('from inside a host: other tenants, the daemon, its mount and state, and new programs are out of reach', async (t) => {
  const { ctx, d } = await daemon(t);
  const victim = await create(ctx, 'mtty', 'mtty-2');
  const v = await connect(ctx, victim);
  t.after(() => v.close());
  await v.read(R.CONFIG, 0, 4);
  const [victimHost] = await hosts(d);
  const evil = await create(ctx, 'intruder', 'intruder-1');
  const c = await connect(ctx, evil);
  t.after(() => c.close());
  const uid = await intrude(c, 'uid');
  const mine = (await hosts(d)).find((h) => h.uid === Number(uid));
  assert.ok(mine !== undefined && mine.pid !== victimHost!.pid, `the intruder runs in a host of its own (uid ${uid})`);
  assert.equal(statusField(mine.status, 'NoNewPrivs'), '1');
  assert.equal(statusField(mine.status, 'Seccomp'), '2');
  assert.equal(statusField(mine.status, 'CapEff'), '0000000000000000');

  // Another tenant's host: no signal reaches it.
  assert.equal(await intrude(c, 'kill', victimHost!.pid, 'SIGKILL'), 'EPERM');
  assert.equal(await intrude(c, 'kill', victimHost!.pid, 'SIGSTOP'), 'EPERM');
  assert.equal(await intrude(c, 'kill', d.pid, 'SIGTERM'), 'EPERM', 'nor the daemon');
  // Its memory, environment and fds.
  for (const p of ['mem', 'environ']) assert.equal(await intrude(c, 'read', `/proc/${victimHost!.pid}/${p}`), 'EACCES', `/proc/<other>/${p}`);
  assert.equal(await intrude(c, 'readdir', `/proc/${victimHost!.pid}/fd`), 'EACCES');
  // The daemon's API, another device's socket, the FUSE device, the state dir.
  assert.equal(await intrude(c, 'connect', path.join(ctx.dir, 'api.sock')), 'EPERM', 'the API socket');
  assert.equal(await intrude(c, 'connect', path.join(ctx.dir, 'run', `${victim}.sock`)), 'EPERM', "another device's socket");
  assert.equal(await intrude(c, 'socketpair'), 'EPERM', 'no new sockets at all');
  assert.equal(await intrude(c, 'open', '/dev/fuse', 'w'), 'EACCES', 'the FUSE device');
  assert.equal(await intrude(c, 'read', path.join(ctx.dir, 'api.json')), 'EACCES', 'a file in the state dir');
  assert.equal(await intrude(c, 'read', path.join(ctx.dir, 'sys/class/mdev_bus/mtty/mdev_supported_types/mtty-1/available_instances')), 'EACCES', 'the mount');
  // No other program, no other id.
  assert.equal(await intrude(c, 'exec', '/bin/sh', '-c', 'true'), 'EPERM', 'execve is refused by the filter');
  assert.equal(await intrude(c, 'setuid', 0), 'EPERM');
  // Nothing of that touched the others.
  assert.equal((await v.read(R.CONFIG, 0, 4)).readUInt32LE(0), 0x32534348);
  assert.equal((await call(d.url, 'GET', '/devices')).status, 200);
});

/** A channel frame header: msg_id, cmd, size, flags, error (the framing umdev uses with its hosts). */
function frame(cmd: number, size: number, flags: number, msgId = 0): string {
  const b = Buffer.alloc(20);
  b.writeUInt16LE(msgId, 0);
  b.writeUInt16LE(cmd, 2);
  b.writeUInt32LE(size, 4);
  b.writeUInt32LE(flags, 8);
  b.writeUInt32LE(0, 12);
  b.writeUInt32LE(0, 16);
  return b.toString('hex');
}

for (const [what, bytes, reason] of [
  ['garbage', Buffer.from('this is not a frame at all, just text\n').toString('hex'), 'malformed'],
  ['a frame that says it is 1 GiB', frame(100, 1 << 30, 0), 'malformed'],
  ['an answer to a call never made', frame(5, 20, 1, 4242), 'which it was not asked'],
  ['an event of an unknown kind', frame(177, 20, 0), 'unknown message kind'],
] as const) {
  test(`a host that sends ${what} on its channel is killed; the root, the mount, the API and other tenants go on`, async (t) => {
    const { ctx, d } = await daemon(t);
    const other = await create(ctx, 'mtty', 'mtty-1');
    const o = await connect(ctx, other);
    t.after(() => o.close());
    await o.read(R.CONFIG, 0, 4);
    const evil = await create(ctx, 'intruder', 'intruder-1');
    const c = await connect(ctx, evil);
    t.after(() => c.close());
    const uid = Number(await intrude(c, 'uid'));
    const pid = (await hosts(d)).find((h) => h.uid === uid)!.pid;
    await intrude(c, 'channel', bytes).catch(() => 'the host died answering');
    assert.ok(await waitForStderr(d, `device host pid ${pid} sent`), `the kill is logged with its reason:\n${d.stderr()}`);
    assert.ok(d.stderr().includes(reason), `the reason names the fault (${reason})`);
    await until('the host to be gone', async () => ((await hosts(d)).some((h) => h.pid === pid) ? undefined : true));
    assert.equal(d.proc.exitCode, null, 'umdevd runs on');
    assert.equal((await o.read(R.CONFIG, 0, 4)).readUInt32LE(0), 0x32534348, 'the other tenant is served');
    assert.equal((await call(d.url, 'GET', '/devices')).status, 200, 'the API answers');
    // The device serves its next client, from a fresh host.
    c.close();
    const again = await connect(ctx, evil);
    t.after(() => again.close());
    assert.equal(await intrude(again, 'uid').then((u) => Number(u) > 0), true);
  });
}

test('an incoming migration stream is parsed in the device host, not as root: a bad one is refused by a parser running under the host id', async (t) => {
  const { ctx, d } = await daemon(t);
  const parsedBy: number[] = [];
  for (const [what, stream] of [
    ['truncated', Buffer.from([1, 2])],
    ['out of range', Buffer.from([0xff, 0xff, 0xff, 0xff])],
    ['oversized', Buffer.alloc(16 * 1024, 7)],
  ] as const) {
    const uuid = randomUUID();
    assert.equal((await call(d.url, 'POST', '/migrations', { parent: 'intruder', type: 'intruder-1', uuid })).status, 201, what);
    const finish = await call(d.url, 'POST', `/migrations/${uuid}/finish`, { platform: PLATFORM, data: stream.toString('base64') });
    assert.ok(finish.status >= 400, `${what}: refused (${finish.status})`);
    const text = JSON.stringify(finish.body);
    const m = /parsed by uid (\d+)/.exec(text);
    if (m !== null) parsedBy.push(Number(m[1]));
    else assert.ok(/E2BIG|EINVAL|ENOSPC/.test(text), `${what}: refused before parsing: ${text}`);
    assert.equal((await call(d.url, 'GET', `/devices/${uuid}`)).status, 404, `${what}: nothing is left behind`);
  }
  assert.ok(parsedBy.length > 0, 'the vendor parser saw at least one of the streams');
  for (const uid of parsedBy) assert.ok(uid >= 61184 && uid <= 65519, `the vendor parser ran as a host id, not root (uid ${uid})`);
  // A good stream loads, and the device shows it.
  const uuid = randomUUID();
  assert.equal((await call(d.url, 'POST', '/migrations', { parent: 'intruder', type: 'intruder-1', uuid })).status, 201);
  const good = Buffer.alloc(4);
  good.writeUInt32LE(1234);
  const fin = await call(d.url, 'POST', `/migrations/${uuid}/finish`, { platform: PLATFORM, data: good.toString('base64') });
  assert.ok(fin.status < 300, JSON.stringify(fin.body));
  assert.equal(await readFile(path.join(ctx.dir, 'sys/bus/mdev/devices', uuid, 'vendor/value'), 'utf8'), '1234\n', 'the host loaded it');
  assert.equal(d.proc.exitCode, null);
});
