/**
 * End-to-end: the mount caches found names (a positive entry timeout) and link targets yet behaves like kernfs. A
 * device removed through sysfs or the API is gone by path the moment the remove returns, the same UUID created again
 * right after is reachable by path at once (no stale dentry naming the old node), an unbind takes the driver links
 * along before it returns, and lookups racing removals never deadlock.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { lstat, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { call } from '../daemon/helpers.js';
import { type RunningDaemon, start, stateDir } from './umdevd-process.js';

const UUID = 'c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f';
const CYCLES = 25;

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

async function assertGone(p: string, what: string): Promise<void> {
  await assert.rejects(lstat(p), (e) => errno(e) === 'ENOENT', `${what}: ${p} must be gone when the remove returns`);
}

/** Reaches the device by path the way mdevctl does: the bus link, its type link, a file's mode and contents. */
async function assertReachable(sys: string, what: string): Promise<void> {
  const link = path.join(sys, 'bus/mdev/devices', UUID);
  assert.match(await readlink(link), new RegExp(`${UUID}$`), `${what}: bus link`);
  assert.match(await readlink(path.join(link, 'mdev_type')), /mtty-2$/, `${what}: mdev_type`);
  assert.ok((await stat(path.join(link, 'remove'))).isFile(), `${what}: remove is a file`);
  assert.match(await readFile(path.join(link, 'mdev_type/name'), 'utf8'), /\S/, `${what}: the type's name reads`);
}

async function daemonWithSys(t: Parameters<typeof stateDir>[0]): Promise<{ d: RunningDaemon; sys: string }> {
  const ctx = await stateDir(t, 'umdevd-entry-cache-');
  const d = await start(ctx);
  return { d, sys: path.join(ctx.dir, 'sys') };
}

const createFile = (sys: string): string => path.join(sys, 'class/mdev_bus/mtty/mdev_supported_types/mtty-2/create');

test('removed through sysfs: gone at once, and the same UUID created again is reachable at once', async (t) => {
  const { sys } = await daemonWithSys(t);
  const link = path.join(sys, 'bus/mdev/devices', UUID);
  await writeFile(createFile(sys), UUID);
  for (let i = 0; i < CYCLES; i++) {
    await assertReachable(sys, `cycle ${i}, before remove`); // Warms the kernel's dentry cache.
    const real = path.resolve(path.dirname(link), await readlink(link));
    await writeFile(path.join(link, 'remove'), '1');
    await assertGone(link, `cycle ${i}`);
    await assertGone(path.join(real, 'remove'), `cycle ${i}`);
    await writeFile(createFile(sys), UUID);
    await assertReachable(sys, `cycle ${i}, created again`);
  }
});

test('removed through the API: gone when DELETE answers, and created again is reachable at once', async (t) => {
  const { d, sys } = await daemonWithSys(t);
  const link = path.join(sys, 'bus/mdev/devices', UUID);
  assert.equal((await call(d.url, 'POST', '/devices', { parent: 'mtty', type: 'mtty-2', uuid: UUID })).status, 201);
  for (let i = 0; i < CYCLES; i++) {
    await assertReachable(sys, `cycle ${i}, before DELETE`);
    const real = path.resolve(path.dirname(link), await readlink(link));
    assert.equal((await call(d.url, 'DELETE', `/devices/${UUID}`)).status, 204);
    await assertGone(link, `cycle ${i}`);
    await assertGone(path.join(real, 'mdev_type'), `cycle ${i}`);
    assert.equal((await call(d.url, 'POST', '/devices', { parent: 'mtty', type: 'mtty-2', uuid: UUID })).status, 201);
    await assertReachable(sys, `cycle ${i}, created again`);
  }
});

test('unbind and bind: the cached driver links go when unbind returns and come back when bind returns', async (t) => {
  const { sys } = await daemonWithSys(t);
  await writeFile(createFile(sys), UUID);
  const dev = path.resolve(path.join(sys, 'bus/mdev/devices'), await readlink(path.join(sys, 'bus/mdev/devices', UUID)));
  const drv = path.join(sys, 'bus/mdev/drivers/mtty');
  const links = [path.join(dev, 'driver'), path.join(drv, UUID)];
  for (let i = 0; i < 5; i++) {
    // Read twice, so the kernel has each target in its cache.
    for (let n = 0; n < 2; n++) {
      assert.match(await readlink(links[0]!), /^(\.\.\/)+bus\/mdev\/drivers\/mtty$/, `cycle ${i}: driver link`);
      assert.match(await readlink(links[1]!), new RegExp(`/mtty/mtty/${UUID}$`), `cycle ${i}: the driver's device link`);
    }
    await writeFile(path.join(drv, 'unbind'), UUID);
    for (const l of links) await assertGone(l, `cycle ${i}, unbound`);
    await writeFile(path.join(drv, 'bind'), UUID);
  }
});

test('lookups racing removals: parallel readers during remove/create cycles, and everything finishes', { timeout: 120_000 }, async (t) => {
  const { d, sys } = await daemonWithSys(t);
  const link = path.join(sys, 'bus/mdev/devices', UUID);
  // Each reader walks the device's paths in a tight loop until told to stop, counting the walks that found it.
  const script = `n=0; while [ ! -e "$1/stop" ]; do
    readlink "$2/mdev_type" >/dev/null 2>&1 && n=$((n+1)); cat "$2/mdev_type/name" >/dev/null 2>&1; stat "$2/remove" >/dev/null 2>&1
    ls "$3" >/dev/null 2>&1; done; echo $n`;
  const stopDir = path.dirname(sys);
  const readers = Array.from({ length: 4 }, () => {
    const p = spawn('sh', ['-c', script, 'reader', stopDir, link, path.join(sys, 'bus/mdev/devices')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    return { p, done: once(p, 'exit').then(() => out) };
  });
  t.after(() => {
    for (const { p } of readers) if (p.exitCode === null) p.kill();
  });
  for (let i = 0; i < CYCLES; i++) {
    if (i % 2 === 0) {
      await writeFile(createFile(sys), UUID);
      await readlink(link); // Created and visible by path.
      await writeFile(path.join(link, 'remove'), '1');
    } else {
      assert.equal((await call(d.url, 'POST', '/devices', { parent: 'mtty', type: 'mtty-2', uuid: UUID })).status, 201);
      await readlink(link);
      assert.equal((await call(d.url, 'DELETE', `/devices/${UUID}`)).status, 204);
    }
    await assertGone(link, `cycle ${i}`);
  }
  await writeFile(path.join(stopDir, 'stop'), '');
  const counts = await Promise.all(readers.map((r) => r.done));
  for (const c of counts) assert.match(c, /^\d+\n$/, 'every reader finished its loop');
});
