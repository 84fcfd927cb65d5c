/**
 * Device hosts through the daemon as shipped: each vfio-user client is served by a process of its own, as the
 * unprivileged `nobody`, and whatever ends that process (a crash, a stuck loop) ends that client's session only.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { VFIO_PCI_REGION as R } from '../../src/vfio/constants.js';
import { VfioUserClient } from '../../src/vfio-user/index.js';
import { call } from '../daemon/helpers.js';
import { type RunningDaemon, type StateDir, start, stateDir, waitForStderr } from './umdevd-process.js';

const NOBODY = 65534;

/** The daemon's child processes that are device hosts, with their real uid. */
async function hosts(d: RunningDaemon): Promise<{ pid: number; uid: number }[]> {
  const out: { pid: number; uid: number }[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = await readFile(`/proc/${name}/status`, 'utf8');
      const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8');
      if (!status.includes(`\nPPid:\t${d.pid}\n`) || !cmdline.includes('device-host/host-main.js')) continue;
      out.push({ pid: Number(name), uid: Number(/\nUid:\t(\d+)/.exec(status)![1]) });
    } catch {
      // Gone while we looked.
    }
  }
  return out;
}

async function createMtty2(ctx: StateDir): Promise<string> {
  const uuid = randomUUID();
  await writeFile(path.join(ctx.dir, 'sys/class/mdev_bus/mtty/mdev_supported_types/mtty-2/create'), uuid);
  return uuid;
}

async function connect(ctx: StateDir, uuid: string): Promise<VfioUserClient> {
  return VfioUserClient.connect(path.join(ctx.dir, 'run', `${uuid}.sock`));
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function daemonWithConfig(t: Parameters<typeof stateDir>[0], config: object): Promise<{ ctx: StateDir; d: RunningDaemon }> {
  const ctx = await stateDir(t, 'umdev-hosts-');
  const file = path.join(ctx.dir, 'umdevd.json');
  await writeFile(file, JSON.stringify(config));
  return { ctx, d: await start(ctx, ['--config', file]) };
}

test('a client is served by a device host running as nobody, not by the root daemon', async (t) => {
  const { ctx, d } = await daemonWithConfig(t, {});
  const uuid = await createMtty2(ctx);
  const client = await connect(ctx, uuid);
  t.after(() => client.close());
  assert.equal((await client.read(R.CONFIG, 0, 4)).readUInt32LE(0), 0x32534348);
  const [host, ...more] = await until('a device host', async () => ((await hosts(d)).length > 0 ? hosts(d) : undefined));
  assert.deepEqual(more, []);
  assert.equal(host!.uid, NOBODY);
  assert.equal(Number(/\nUid:\t(\d+)/.exec(await readFile(`/proc/${d.pid}/status`, 'utf8'))![1]), 0, 'the daemon itself stays root');
  client.close();
  await until('the host to exit', async () => ((await hosts(d)).length === 0 ? true : undefined));
});

test('a device host that dies ends only its client: others, the mount and the API keep serving', async (t) => {
  const { ctx, d } = await daemonWithConfig(t, {});
  const victim = await createMtty2(ctx);
  const other = await createMtty2(ctx);
  const a = await connect(ctx, victim);
  const b = await connect(ctx, other);
  t.after(() => {
    a.close();
    b.close();
  });
  await a.read(R.CONFIG, 0, 4);
  await b.read(R.CONFIG, 0, 4);
  const before = await until('two hosts', async () => ((await hosts(d)).length === 2 ? hosts(d) : undefined));
  // The newest host serves the client that connected last; find the victim's by elimination after b reconnects.
  const victimHost = before[0]!;
  process.kill(victimHost.pid, 'SIGKILL');
  assert.ok(await waitForStderr(d, `ended with signal SIGKILL`), 'the daemon logs how the host ended');
  const results = await Promise.allSettled([a.read(R.CONFIG, 0, 4), b.read(R.CONFIG, 0, 4)]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one client lost its session');
  assert.ok((await readdir(path.join(ctx.dir, 'sys/bus/mdev/devices'))).length === 2, 'the mount still answers');
  assert.equal((await call(d.url, 'GET', '/devices')).status, 200, 'the API still answers');
  // The device whose host died serves a new client.
  const lost = results[0]!.status === 'rejected' ? victim : other;
  const again = await connect(ctx, lost);
  t.after(() => again.close());
  assert.equal((await again.read(R.CONFIG, 0, 4)).readUInt32LE(0), 0x32534348);
});

test('a device host stuck in a loop is killed by the watchdog and only its client is cut off', async (t) => {
  const { ctx, d } = await daemonWithConfig(t, { deviceHosts: { stuckMs: 500 } });
  const uuid = await createMtty2(ctx);
  const client = await connect(ctx, uuid);
  t.after(() => client.close());
  await client.read(R.CONFIG, 0, 4);
  const [host] = await until('a device host', async () => ((await hosts(d)).length > 0 ? hosts(d) : undefined));
  // SIGSTOP is a loop that never yields, as far as the daemon can tell.
  process.kill(host!.pid, 'SIGSTOP');
  assert.ok(await waitForStderr(d, 'stopped answering for 500 ms and was killed', 10_000));
  await assert.rejects(client.read(R.CONFIG, 0, 4));
  const again = await connect(ctx, uuid);
  t.after(() => again.close());
  await again.read(R.CONFIG, 0, 4);
});

test('a reset through sysfs reaches the instance a device host serves', async (t) => {
  const { ctx, d } = await daemonWithConfig(t, {});
  const uuid = await createMtty2(ctx);
  const client = await connect(ctx, uuid);
  t.after(() => client.close());
  await client.read(R.CONFIG, 0, 4);
  // mtty's reset only logs (as the kernel sample): the line comes from the instance the client uses, which only the
  // host has opened; the daemon's own copy is never opened and logs nothing.
  assert.ok(!d.stderr().includes(`vfio-user[${uuid}]: reset`));
  await writeFile(path.join(ctx.dir, 'sys/bus/mdev/devices', uuid, 'reset'), '1');
  assert.ok(await waitForStderr(d, `vfio-user[${uuid}]: reset`), "the host's instance was reset");
  assert.equal((await client.read(R.CONFIG, 0, 4)).readUInt32LE(0), 0x32534348, 'and still serves its client');
});

test('create and remove through the mount are logged; a removal of a device in use names the client (and the host)', async (t) => {
  const { ctx, d } = await daemonWithConfig(t, {});
  const uuid = await createMtty2(ctx);
  const client = await connect(ctx, uuid);
  t.after(() => client.close());
  assert.equal((await client.read(R.CONFIG, 0, 4)).readUInt32LE(0), 0x32534348);
  // The client is this test process, as root.
  const who = `vfio-user client pid ${process.pid} (uid 0)`;
  // A plain remove (what mdevctl stop writes) waits for the client, and says whom it waits for.
  const removal = writeFile(path.join(ctx.dir, 'sys/bus/mdev/devices', uuid, 'remove'), '1');
  assert.ok(await waitForStderr(d, `removal waits for ${who} to release the device`), d.stderr());
  client.close();
  await removal;
  assert.ok(await waitForStderr(d, `sysfs[${uuid}]: removed\n`), d.stderr());
  assert.match(d.stderr(), new RegExp(`Z info  sysfs\\[${uuid}\\]: created mtty-2 on mtty\\n`));

  // A forced removal cuts the client off at once, and the line names the host that served it.
  const other = await createMtty2(ctx);
  const held = await connect(ctx, other);
  t.after(() => held.close());
  await held.read(R.CONFIG, 0, 4);
  const [host] = await until('a device host', async () => ((await hosts(d)).length > 0 ? hosts(d) : undefined));
  assert.equal((await call(d.url, 'DELETE', `/devices/${other}?force=1`)).status, 204);
  await held.whenClosed();
  const inUse = `removing ${other} while in use by ${who} served by device host pid ${host!.pid}`;
  assert.ok(await waitForStderr(d, inUse), `"${inUse}" in:\n${d.stderr()}`);
});
