/**
 * Device hosts through the daemon as shipped: each device lives in one process of its own, under an id of its own,
 * from its first use until its removal; every use (clients, attributes, reset) reaches that one instance; whatever
 * ends a host (a crash, a stuck loop) ends that device's session only.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { VFIO_PCI_IRQ, VFIO_PCI_REGION as R } from '../../src/vfio/constants.js';
import { IrqSetFlags } from '../../src/vfio-user/constants.js';
import { native } from '../../src/native/index.js';
import { MCOUNT_REG } from '../../src/drivers/mcount/index.js';
import { VfioUserClient } from '../../src/vfio-user/index.js';
import { call } from '../daemon/helpers.js';
import { connect, hosts, statusField, until } from './hosts.js';
import { type RunningDaemon, type StateDir, start, stateDir, waitForStderr } from './umdevd-process.js';

const HOST_IDS = { first: 61184, last: 65519 };

async function create(ctx: StateDir, parent: string, type: string): Promise<string> {
  const uuid = randomUUID();
  await writeFile(path.join(ctx.dir, `sys/class/mdev_bus/${parent}/mdev_supported_types/${type}/create`), uuid);
  return uuid;
}

async function daemonWithConfig(t: Parameters<typeof stateDir>[0], config: object): Promise<{ ctx: StateDir; d: RunningDaemon }> {
  const ctx = await stateDir(t, 'umdev-hosts-');
  const file = path.join(ctx.dir, 'umdevd.json');
  await writeFile(file, JSON.stringify(config));
  return { ctx, d: await start(ctx, ['--config', file]) };
}

const attr = (ctx: StateDir, uuid: string, name: string): string => path.join(ctx.dir, 'sys/bus/mdev/devices', uuid, name);

test('each device lives in one host of its own: its own uid, no privileges, seccomp; kept across sessions, gone with the device', async (t) => {
  const { ctx, d } = await daemonWithConfig(t, {});
  const a = await create(ctx, 'mtty', 'mtty-2');
  const b = await create(ctx, 'mtty', 'mtty-1');
  assert.deepEqual(await hosts(d), [], 'a device never used has no host');
  const ca = await connect(ctx, a);
  const cb = await connect(ctx, b);
  assert.equal((await ca.read(R.CONFIG, 0, 4)).readUInt32LE(0), 0x32534348);
  await cb.read(R.CONFIG, 0, 4);
  const both = await hosts(d);
  assert.equal(both.length, 2);
  assert.notEqual(both[0]!.uid, both[1]!.uid, 'every host has an id of its own');
  for (const h of both) {
    assert.ok(h.uid >= HOST_IDS.first && h.uid <= HOST_IDS.last, `uid ${h.uid} from the host id range`);
    assert.equal(statusField(h.status, 'Uid'), `${h.uid}\t${h.uid}\t${h.uid}\t${h.uid}`);
    assert.equal(statusField(h.status, 'Gid'), `${h.uid}\t${h.uid}\t${h.uid}\t${h.uid}`);
    assert.equal(statusField(h.status, 'Groups'), '', 'no supplementary groups');
    assert.equal(statusField(h.status, 'NoNewPrivs'), '1');
    assert.equal(statusField(h.status, 'Seccomp'), '2');
    assert.equal(statusField(h.status, 'CapEff'), '0000000000000000');
  }
  assert.equal(statusField(await readFile(`/proc/${d.pid}/status`, 'utf8'), 'Uid').split('\t')[0], '0', 'the daemon itself stays root');
  // What a host holds: stdio (/dev/null, its stderr pipe), its channel, its client's socket, Node's own anonymous
  // fds and pipes, device memory; no path of the daemon's (state dir, /dev/fuse) and no other socket.
  for (const h of both) {
    const targets: string[] = [];
    for (const fd of await readdir(`/proc/${h.pid}/fd`)) targets.push(await readlink(`/proc/${h.pid}/fd/${fd}`).catch(() => 'gone'));
    const strange = targets.filter((x) => !(x === '/dev/null' || x === 'gone' || /^(anon_inode:|pipe:|socket:)/.test(x) || x.startsWith('/memfd:')));
    assert.deepEqual(strange, [], `host ${h.pid} holds ${targets.join(', ')}`);
    assert.equal(targets.filter((x) => x.startsWith('socket:')).length, 3, 'three sockets: stderr to umdevd, the channel, the client');
  }
  // The host keeps the device after its client leaves, and the next client finds the same instance.
  await ca.write(R.BAR0, 7, Buffer.from([0x5a])); // the UART's scratch register
  ca.close();
  await until('the session to end', () => (d.stderr().includes(`vfio-user[${a}]: client disconnected`) ? true : undefined));
  assert.equal((await hosts(d)).length, 2, 'the host outlives the session');
  const again = await connect(ctx, a);
  t.after(() => again.close());
  assert.equal((await again.read(R.BAR0, 7, 1))[0], 0x5a, 'the register the last client left');
  assert.deepEqual((await hosts(d)).map((h) => h.pid).sort(), both.map((h) => h.pid).sort(), 'no new host for a new session');
  // Removal ends the device's host.
  cb.close();
  await writeFile(attr(ctx, b, 'remove'), '1');
  await until("b's host to exit", async () => ((await hosts(d)).length === 1 ? true : undefined));
});

test('a host that dies ends only its device; the others, the mount and the API keep serving, and the device serves again', async (t) => {
  const { ctx, d } = await daemonWithConfig(t, {});
  const victim = await create(ctx, 'mtty', 'mtty-2');
  const other = await create(ctx, 'mtty', 'mtty-2');
  const a = await connect(ctx, victim);
  await a.read(R.CONFIG, 0, 4);
  const [victimHost] = await hosts(d);
  const b = await connect(ctx, other);
  t.after(() => {
    a.close();
    b.close();
  });
  await b.read(R.CONFIG, 0, 4);
  process.kill(victimHost!.pid, 'SIGKILL');
  assert.ok(await waitForStderr(d, `device host pid ${victimHost!.pid} ended with signal SIGKILL`), 'the daemon logs how the host ended');
  await assert.rejects(a.read(R.CONFIG, 0, 4));
  assert.equal((await b.read(R.CONFIG, 0, 4)).readUInt32LE(0), 0x32534348, 'the other device is untouched');
  assert.equal((await readdir(path.join(ctx.dir, 'sys/bus/mdev/devices'))).length, 2, 'the mount still answers');
  assert.equal((await call(d.url, 'GET', '/devices')).status, 200, 'the API still answers');
  const again = await connect(ctx, victim);
  t.after(() => again.close());
  assert.equal((await again.read(R.CONFIG, 0, 4)).readUInt32LE(0), 0x32534348, 'a fresh host serves the device');
});

test('a host stuck in a loop is killed by the watchdog; only its client is cut off, and its device serves again', async (t) => {
  const { ctx, d } = await daemonWithConfig(t, { deviceHosts: { stuckMs: 500 } });
  const uuid = await create(ctx, 'mtty', 'mtty-2');
  const client = await connect(ctx, uuid);
  t.after(() => client.close());
  await client.read(R.CONFIG, 0, 4);
  const [host] = await hosts(d);
  // SIGSTOP is a loop that never yields, as far as the daemon can tell.
  process.kill(host!.pid, 'SIGSTOP');
  assert.ok(await waitForStderr(d, `device host pid ${host!.pid} stopped answering for 500 ms and was killed`, 10_000));
  await assert.rejects(client.read(R.CONFIG, 0, 4));
  const again = await connect(ctx, uuid);
  t.after(() => again.close());
  await again.read(R.CONFIG, 0, 4);
});

test('mcount: an attribute written before a client is what it reads; what the client changes is what the attributes show, attached and after', async (t) => {
  const { ctx, d } = await daemonWithConfig(t, { parents: [{ driver: 'mcount' }] });
  const uuid = await create(ctx, 'mcount', 'mcount-1');
  await writeFile(attr(ctx, uuid, 'vendor/scratch'), '0x1234abcd');
  assert.equal(await readFile(attr(ctx, uuid, 'vendor/scratch'), 'utf8'), '0x1234abcd\n');
  await assert.rejects(writeFile(attr(ctx, uuid, 'vendor/scratch'), 'lots'), /EINVAL|Invalid argument/, 'a bad value is refused by the device');
  const c = await connect(ctx, uuid);
  assert.equal((await c.read(R.BAR0, MCOUNT_REG.SCRATCH, 4)).readUInt32LE(0), 0x1234abcd, 'the client reads what was written through sysfs');
  for (let i = 0; i < 3; i++) await c.write(R.BAR0, MCOUNT_REG.DOORBELL, Buffer.from([1, 0, 0, 0]));
  assert.equal((await c.read(R.BAR0, MCOUNT_REG.COUNT, 4)).readUInt32LE(0), 3);
  assert.equal(await readFile(attr(ctx, uuid, 'vendor/count'), 'utf8'), '3\n', 'the attribute shows the live device while attached');
  const scratch = Buffer.alloc(4);
  scratch.writeUInt32LE(0xfeed);
  await c.write(R.BAR0, MCOUNT_REG.SCRATCH, scratch);
  c.close();
  await until('the session to end', () => (d.stderr().includes(`vfio-user[${uuid}]: client disconnected`) ? true : undefined));
  assert.equal(await readFile(attr(ctx, uuid, 'vendor/count'), 'utf8'), '3\n', 'and after the client left');
  assert.equal(await readFile(attr(ctx, uuid, 'vendor/scratch'), 'utf8'), '0x0000feed\n');
  // A reset through sysfs reaches the same instance.
  await writeFile(attr(ctx, uuid, 'reset'), '1');
  assert.equal(await readFile(attr(ctx, uuid, 'vendor/count'), 'utf8'), '0\n');
});

test('a client that hangs up and reconnects at once is served every time (100 times); a second client at once gets EBUSY', async (t) => {
  const { ctx } = await daemonWithConfig(t, {});
  const uuid = await create(ctx, 'mtty', 'mtty-1');
  let served = 0;
  for (let i = 0; i < 100; i++) {
    const c = await connect(ctx, uuid);
    assert.equal((await c.read(R.CONFIG, 0, 4)).readUInt32LE(0), 0x32534348, `reconnect ${i}`);
    served++;
    c.close();
  }
  assert.equal(served, 100);
  const first = await connect(ctx, uuid);
  t.after(() => first.close());
  await first.read(R.CONFIG, 0, 4);
  await assert.rejects(
    VfioUserClient.connect(path.join(ctx.dir, 'run', `${uuid}.sock`)),
    (e: unknown) => (e as { errno?: string }).errno === 'EBUSY',
    'a second client while the first is attached',
  );
  assert.equal((await first.read(R.CONFIG, 0, 4)).readUInt32LE(0), 0x32534348, 'the first is undisturbed');
});

/** Listening TCP sockets on the machine (local address:port), from /proc/net/tcp and tcp6. */
async function listeners(): Promise<Set<string>> {
  const out = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A') out.add(f[1]!);
    }
  }
  return out;
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

test('SIGUSR1 to a host or to umdevd opens no inspector: no new listening socket, 127.0.0.1:9229 refuses', async (t) => {
  const { ctx, d } = await daemonWithConfig(t, {});
  const uuid = await create(ctx, 'mtty', 'mtty-1');
  const c = await connect(ctx, uuid);
  t.after(() => c.close());
  await c.read(R.CONFIG, 0, 4);
  const [host] = await hosts(d);
  const before = await listeners();
  process.kill(host!.pid, 'SIGUSR1');
  process.kill(d.pid, 'SIGUSR1');
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual([...(await listeners())].filter((l) => !before.has(l)), [], 'no new listener');
  assert.equal(await refused(9229), true, '127.0.0.1:9229 refuses');
  assert.equal((await c.read(R.CONFIG, 0, 4)).readUInt32LE(0), 0x32534348, 'both still serve');
  assert.equal((await call(d.url, 'GET', '/devices')).status, 200);
});

test('a plain removal asks the client to let go through its REQ eventfd, from the device host, and completes once it does', async (t) => {
  const { ctx, d } = await daemonWithConfig(t, {});
  const uuid = await create(ctx, 'mtty', 'mtty-1');
  const c = await connect(ctx, uuid);
  t.after(() => c.close());
  const req = native.eventfd(0, { nonblock: true });
  t.after(() => native.close(req));
  await c.setIrqs({ index: VFIO_PCI_IRQ.REQ, flags: IrqSetFlags.ACTION_TRIGGER | IrqSetFlags.DATA_EVENTFD, start: 0, count: 1, fds: [req] });
  const removal = writeFile(attr(ctx, uuid, 'remove'), '1');
  const signalled = await until('REQ', () => native.eventfdRead(req) ?? undefined);
  assert.equal(signalled, 1n, 'REQ signalled');
  assert.ok(await waitForStderr(d, `vfio-user[${uuid}]: REQ signalled`), 'and said so');
  assert.equal(c.closed, false, 'the client is asked, not cut off');
  c.close();
  await removal;
  await until('the host to exit', async () => ((await hosts(d)).length === 0 ? true : undefined));
});

test("what the dashboard asks of a device in its host: the client, the host's pid and uid, counters, the UART's output", async (t) => {
  const { ctx, d } = await daemonWithConfig(t, {});
  const uuid = await create(ctx, 'mtty', 'mtty-1');
  const c = await connect(ctx, uuid);
  t.after(() => c.close());
  // The guest's side of the UART: 8 bytes sent through THR (register 0 of BAR0).
  for (const b of Buffer.from('console!')) await c.write(R.BAR0, 0, Buffer.from([b]));
  const [host] = await hosts(d);
  type Activity = { uuid: string; client?: { pid: number; uid: number }; host?: { pid: number; uid: number; rssBytes: number }; counters?: { requests: number } };
  const view = await until('counters from the host', async () => {
    const all = (await call(d.url, 'GET', '/activity')).body as Activity[];
    const mine = all.find((a) => a.uuid === uuid);
    return mine?.counters !== undefined && mine.counters.requests >= 8 ? mine : undefined;
  });
  assert.equal(view.client?.pid, process.pid, 'the client, from its socket at accept');
  assert.deepEqual([view.host?.pid, view.host?.uid], [host!.pid, host!.uid], 'the host, as /proc knows it');
  assert.ok((view.host?.rssBytes ?? 0) > 0, "the host's RSS, read by the root");
  const uart = await call(d.url, 'GET', `/devices/${uuid}/uart?since=0`);
  assert.equal(uart.status, 200, JSON.stringify(uart.body));
  assert.equal(Buffer.from((uart.body as { data: string }).data, 'base64').toString(), 'console!');
});
