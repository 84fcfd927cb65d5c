/**
 * Warm hosts and the zygote, through the daemon as shipped: hosts booted ahead of need hold nothing (no device, no
 * client, no id, no stray fd) until a device's first need takes one, which then confines itself under the device's
 * own id before it reads a byte of the client's; the zygote they are forked from holds nothing either, and when it
 * dies the daemon goes on and forks from a new one.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdir, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_WARM_HOSTS } from '../../src/daemon/config.js';
import { VFIO_PCI_REGION as R } from '../../src/vfio/constants.js';
import { allHosts, connect, hosts, statusField, until, zygotePid } from './hosts.js';
import { type RunningDaemon, type StateDir, start, stateDir } from './umdevd-process.js';

async function create(ctx: StateDir): Promise<string> {
  const uuid = randomUUID();
  await writeFile(path.join(ctx.dir, 'sys/class/mdev_bus/mtty/mdev_supported_types/mtty-1/create'), uuid);
  return uuid;
}

/** What each fd of `pid` is (`socket:[…]`, `/dev/null`, `anon_inode:[eventfd]`, `pipe:[…]`). */
async function fds(pid: number): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const name of await readdir(`/proc/${pid}/fd`)) {
    try {
      out.set(Number(name), await readlink(`/proc/${pid}/fd/${name}`));
    } catch {
      // Closed while we looked.
    }
  }
  return out;
}

/** A process umdevd started before any device needed it holds stdio, its channel and Node's own fds: nothing else. */
async function holdsNothing(pid: number, what: string): Promise<void> {
  for (const [fd, target] of await fds(pid)) {
    if (fd === 0 || fd === 1) assert.equal(target, '/dev/null', `${what}: fd ${fd}`);
    else if (fd === 2 || fd === 3) assert.match(target, /^(socket|pipe):/, `${what}: fd ${fd} is its stderr or its channel`);
    else assert.match(target, /^(anon_inode:|pipe:)/, `${what}: fd ${fd} (${target}) is Node's own`);
  }
}

/** `check` passes within 2 s (it is retried every 50 ms until then). */
async function settled(check: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 2000;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function daemon(t: Parameters<typeof stateDir>[0]): Promise<{ ctx: StateDir; d: RunningDaemon }> {
  const ctx = await stateDir(t, 'umdev-pool-');
  return { ctx, d: await start(ctx) };
}

test('warm hosts and the zygote hold nothing before a device needs them; a device takes a warm one, which confines itself', async (t) => {
  const { ctx, d } = await daemon(t);
  const warm = await until('the warm pool', async () => {
    const all = await allHosts(d);
    return all.length === DEFAULT_WARM_HOSTS ? all : undefined;
  });
  const zygote = await zygotePid(d);
  assert.ok(zygote !== undefined, 'hosts are forked from a zygote');
  await holdsNothing(zygote, 'the zygote');
  for (const h of warm) {
    assert.equal(h.held, false);
    assert.equal(statusField(h.status, 'PPid'), String(zygote), 'a warm host is the zygote’s child');
    assert.equal(statusField(h.status, 'Uid').split('\t')[0], '0', 'umdevd’s user until it is handed a device');
    // A host forked a moment ago still has what it inherited from the zygote until its first instructions close it.
    await settled(() => holdsNothing(h.pid, `warm host ${h.pid}`));
  }
  const uuid = await create(ctx);
  const c = await connect(ctx, uuid);
  t.after(() => c.close());
  assert.equal((await c.read(R.CONFIG, 0, 4)).readUInt32LE(0), 0x32534348);
  const [held] = await hosts(d);
  assert.ok(held !== undefined);
  assert.ok(warm.some((h) => h.pid === held.pid), 'the device took one of the warm hosts');
  assert.notEqual(held.uid, 0, 'which took an id of its own');
  assert.equal(statusField(held.status, 'Seccomp'), '2');
  assert.equal(statusField(held.status, 'NoNewPrivs'), '1');
  // The pool fills again.
  await until('the pool to refill', async () => ((await allHosts(d)).filter((h) => !h.held).length === DEFAULT_WARM_HOSTS ? true : undefined));
});

test('a zygote that dies takes its hosts with it; umdevd goes on, and the next device is served from a new zygote', async (t) => {
  const { ctx, d } = await daemon(t);
  const first = await until('the zygote', () => zygotePid(d));
  const a = await create(ctx);
  const c = await connect(ctx, a);
  await c.read(R.CONFIG, 0, 4);
  const [host] = await hosts(d);
  process.kill(first, 'SIGKILL');
  await until('its hosts to be gone', async () => ((await allHosts(d)).some((h) => h.pid === host!.pid) ? undefined : true));
  await c.whenClosed();
  assert.equal(d.proc.exitCode, null, 'umdevd runs on');
  const second = await until('a new zygote', async () => {
    const z = await zygotePid(d);
    return z !== undefined && z !== first ? z : undefined;
  });
  assert.notEqual(second, first);
  const again = await connect(ctx, a);
  t.after(() => again.close());
  assert.equal((await again.read(R.CONFIG, 0, 4)).readUInt32LE(0), 0x32534348, 'the device serves again, from a fresh host');
});
