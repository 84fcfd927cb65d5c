/**
 * The device's life beside a real VMM: a Linux guest under QEMU's vfio-user-pci, driven from its console
 * (vm/guest/init-lifecycle). The guest reboots (QEMU resets the device over vfio-user) and binds the card again;
 * `mdevctl stop` of the card while the guest uses it waits for the VMM to let go and asks it to (REQ), the card is
 * unplugged from its hot-pluggable port, the removal completes and the guest runs on; and a QEMU killed outright
 * and started again on the same device is served at once, by the same device host. Needs the VM root
 * (./setup --vm) and mdevctl.
 *
 * QEMU 11's vfio-user-pci never arms REQ (the `x-req` property exists only on vfio-pci, so its request notifier is
 * never registered): umdevd says so, and the unplug is then asked of QEMU's monitor, as a management layer does
 * with `device_del`, while `mdevctl stop` waits. A VMM that arms REQ unplugs on its own (the protocol tests show
 * umdevd signalling it).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { connect } from 'node:net';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hosts } from '../test/e2e/hosts.js';
import { type RunningDaemon, type StateDir, run, start, stateDir, waitForStderr } from '../test/e2e/umdevd-process.js';
import { facts, waitFor } from './guest-facts.js';
import { writeInitramfs } from '../src/vm/initramfs.js';
import { GUEST_SHARE, type GuestOptions, type RunningGuest, guestKernel, startGuest, vmRoot } from '../src/vm/qemu.js';

const INIT = fileURLToPath(new URL('../../vm/guest/init-lifecycle', import.meta.url));
const BOOT_MS = 180_000;

/** Type `cmd` on the guest's console and wait for the `count`-th line of facts starting with `head`. */
async function ask(g: RunningGuest, cmd: string, head: string, what: string): Promise<string[]> {
  const before = facts(g.console()).filter((f) => f[0] === head).length;
  g.send(`${cmd}\n`);
  const ok = await g.waitForConsole(new RegExp(`(UMDEV ${head}\\b[^\\n]*\\n[\\s\\S]*){${before + 1}}`), BOOT_MS);
  assert.ok(ok, `${what}: no answer to "${cmd}"\n--- guest console ---\n${g.console().slice(-4000)}`);
  return facts(g.console()).filter((f) => f[0] === head)[before]!;
}

/** `check` on the guest: the card's line, and the loopback's verdict. */
async function check(g: RunningGuest, what: string): Promise<{ card: string[]; loop: string[] }> {
  const loops = facts(g.console()).filter((f) => f[0] === 'loop').length;
  const card = await ask(g, 'check', 'card', what);
  if (card[1] !== 'present') return { card, loop: [] };
  const ok = await g.waitForConsole(new RegExp(`(UMDEV loop\\b[^\\n]*\\n[\\s\\S]*){${loops + 1}}`), 60_000);
  assert.ok(ok, `${what}: no loopback verdict\n${g.console().slice(-4000)}`);
  return { card, loop: facts(g.console()).filter((f) => f[0] === 'loop')[loops]! };
}

/** One command on QEMU's human monitor. */
async function monitor(socket: string, command: string): Promise<void> {
  const s = connect(socket);
  await once(s, 'connect');
  s.write(`${command}\n`);
  await new Promise((r) => setTimeout(r, 500));
  s.destroy();
}

async function ready(g: RunningGuest, n: number): Promise<void> {
  const ok = await g.waitForConsole(new RegExp(`(UMDEV ready[\\s\\S]*){${n}}`), BOOT_MS);
  assert.ok(ok, `the guest did not come up (boot ${n})\n--- guest console ---\n${g.console().slice(-4000)}`);
}

/** A daemon with one mtty-2 and the lifecycle guest's initramfs; the guest options to boot it with. */
async function setUp(t: TestContext, prefix: string): Promise<{ root: string; ctx: StateDir; daemon: RunningDaemon; uuid: string; options: GuestOptions }> {
  const root = vmRoot();
  const ctx = await stateDir(t, prefix);
  const daemon = await start(ctx, ['--log-level', 'debug']);
  const uuid = randomUUID();
  await writeFile(path.join(ctx.dir, 'sys/class/mdev_bus/mtty/mdev_supported_types/mtty-2/create'), uuid);
  await waitFor(path.join(ctx.dir, 'run', `${uuid}.sock`), 5000);
  await writeInitramfs(path.join(ctx.dir, 'initrd.gz'), path.join(root, 'bin/busybox'), INIT);
  return { root, ctx, daemon, uuid, options: { kernel: guestKernel(root), initrd: `${GUEST_SHARE}/initrd.gz`, socket: `${GUEST_SHARE}/run/${uuid}.sock`, input: true } };
}

test('the guest reboots and binds its device again; mdevctl stop takes the device from the running guest (REQ, hot-unplug)', { timeout: 3 * BOOT_MS }, async (t) => {
  const { root, ctx, daemon, uuid, options } = await setUp(t, 'umdev-vm-life-');
  const g = startGuest(root, ctx.dir, { ...options, reboot: true, hotplug: true, monitor: `${GUEST_SHARE}/qemu-monitor.sock` }, 3 * BOOT_MS);
  t.after(async () => {
    g.send('off\n');
    await Promise.race([g.done, new Promise((r) => setTimeout(r, 10_000))]);
  });
  await ready(g, 1);
  assert.deepEqual(await check(g, 'first boot'), { card: ['card', 'present', 'serial'], loop: ['loop', 'ok'] });
  const [host] = await hosts(daemon);

  // A reboot: QEMU resets the machine and with it the device (VFIO_DEVICE_RESET over vfio-user).
  g.send('reboot\n');
  await ready(g, 2);
  assert.ok(daemon.stderr().includes(`vfio-user[${uuid}]: reset`), 'the device was reset by the VMM');
  assert.deepEqual(await check(g, 'after the reboot'), { card: ['card', 'present', 'serial'], loop: ['loop', 'ok'] });
  assert.deepEqual((await hosts(daemon)).map((h) => h.pid), [host!.pid], 'the same host holds the device across the reboot');

  // mdevctl stop while the guest uses the card: the removal waits for QEMU to let go, and asks it to (REQ).
  const sys = path.join(ctx.dir, 'sys');
  const defs = path.join(ctx.dir, 'mdevctl.d');
  const stopping = run('unshare', ['-m', 'sh', '-c', 'mount --rbind "$0" /sys && mount --bind "$1" /etc/mdevctl.d && exec mdevctl stop -u "$2"', sys, defs, uuid]);
  assert.ok(await waitForStderr(daemon, `vfio-user[${uuid}]: removal waits for`, 10_000), 'the removal waits for the client');
  const asked = await Promise.race([
    waitForStderr(daemon, `vfio-user[${uuid}]: REQ signalled`, 3000).then((ok) => (ok ? 'req' : undefined)),
    waitForStderr(daemon, `vfio-user[${uuid}]: the client armed no REQ interrupt`, 3000).then((ok) => (ok ? 'no-req' : undefined)),
  ]);
  assert.ok(asked !== undefined, 'umdevd says whether the client could be asked');
  if (asked === 'no-req') await monitor(path.join(ctx.dir, 'qemu-monitor.sock'), 'device_del umdev0');
  const stop = await stopping;
  assert.equal(stop.code, 0, `mdevctl stop: ${stop.stderr}\n--- umdevd ---\n${daemon.stderr().slice(-3000)}`);
  assert.equal(existsSync(path.join(sys, 'bus/mdev/devices', uuid)), false, 'the removal completed');
  assert.deepEqual(await ask(g, 'gone', 'card', 'after mdevctl stop'), ['card', 'absent'], 'QEMU unplugged the card from the guest');
  assert.equal(await ask(g, 'nothing', 'unknown', 'after mdevctl stop').then((f) => f[1]), 'nothing', 'the guest runs on');
});

test('a QEMU killed outright and started again on the same device is served at once', { timeout: 3 * BOOT_MS }, async (t) => {
  const { root, ctx, daemon, options } = await setUp(t, 'umdev-vm-again-');
  const first = startGuest(root, ctx.dir, options, BOOT_MS);
  await ready(first, 1);
  assert.deepEqual(await check(first, 'first QEMU'), { card: ['card', 'present', 'serial'], loop: ['loop', 'ok'] });
  const [host] = await hosts(daemon);
  first.kill();
  await first.done;
  // At once: no waiting for umdevd to notice, as a VMM restarted by its manager would.
  const second = startGuest(root, ctx.dir, options, BOOT_MS);
  t.after(async () => {
    second.send('off\n');
    await Promise.race([second.done, new Promise((r) => setTimeout(r, 10_000))]);
  });
  await ready(second, 1);
  assert.deepEqual(await check(second, 'second QEMU'), { card: ['card', 'present', 'serial'], loop: ['loop', 'ok'] });
  assert.deepEqual((await hosts(daemon)).map((h) => h.pid), [host!.pid], 'the device kept its host');
  assert.ok(!/EBUSY|refusing a client/.test(daemon.stderr()), 'the new QEMU was never refused');
});
