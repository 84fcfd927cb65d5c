/**
 * The real-VMM tier: umdevd serves an mtty-2 created through its sysfs, QEMU's vfio-user-pci attaches it to a
 * Linux guest booted under TCG, and the guest's /init (vm/guest/init) checks the card as a user would. Everything
 * asserted here comes from the guest's console, QEMU's stderr and umdevd's log. Needs the VM root (./setup --vm).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { start, stateDir } from '../test/e2e/umdevd-process.js';
import { facts, waitFor } from './guest-facts.js';
import { writeInitramfs } from '../src/vm/initramfs.js';
import { GUEST_SHARE, guestKernel, rootRecipe, runGuest, vmRoot } from '../src/vm/qemu.js';

const BOOT_LIMIT_MS = 180_000;
const SIZES = [1, 15, 16, 17, 64, 4096];
const BAUDS = [115200, 9600];
/** IORESOURCE_IO in /sys/bus/pci/devices/…/resource flags. */
const IORESOURCE_IO = 0x100;

test('a Linux guest under QEMU drives an umdev mtty-2 over vfio-user with no error on the wire', { timeout: BOOT_LIMIT_MS + 60_000 }, async (t) => {
  const root = vmRoot();
  const ctx = await stateDir(t, 'umdev-vm-');
  const daemon = await start(ctx, ['--log-level', 'debug']);
  const typeDir = path.join(ctx.dir, 'sys/class/mdev_bus/mtty/mdev_supported_types/mtty-2');
  const available = async (): Promise<number> => Number((await readFile(path.join(typeDir, 'available_instances'), 'utf8')).trim());
  const before = await available();

  const uuid = randomUUID();
  await writeFile(path.join(typeDir, 'create'), uuid);
  await waitFor(path.join(ctx.dir, 'run', `${uuid}.sock`), 5000);
  await writeInitramfs(path.join(ctx.dir, 'initrd.gz'), path.join(root, 'bin/busybox'));

  const run = await runGuest(
    root,
    ctx.dir,
    { kernel: guestKernel(root), initrd: `${GUEST_SHARE}/initrd.gz`, socket: `${GUEST_SHARE}/run/${uuid}.sock` },
    BOOT_LIMIT_MS,
  );
  const seen = facts(run.console);
  const context = `${rootRecipe(root)}; guest ran ${run.ms} ms\n--- guest console ---\n${run.console.slice(-6000)}\n--- QEMU stderr ---\n${run.stderr}`;
  t.diagnostic(`guest boot and checks: ${run.ms} ms`);
  assert.ok(!run.timedOut, `the guest did not power off within ${BOOT_LIMIT_MS} ms\n${context}`);
  assert.equal(run.code, 0, `QEMU exited with ${run.code ?? run.signal}\n${context}`);
  assert.deepEqual(seen.at(-1), ['done'], `the guest's checks did not finish\n${context}`);
  assert.deepEqual(seen.filter((f) => f[0] === 'fail'), [], context);

  const find = (...head: string[]): string[][] => seen.filter((f) => head.every((h, i) => f[i] === h));
  // The card: mtty's PCI identity, both BARs 8-byte I/O ports, bound to the 8250 PCI driver.
  const pci = find('pci')[0];
  assert.ok(pci, context);
  assert.deepEqual(pci.slice(2), ['0x4348', '0x3253', '0x070002'], context);
  assert.deepEqual(find('driver'), [['driver', 'serial']], context);
  const bars = find('bar');
  assert.equal(bars.length, 2, context);
  for (const [, n, start, end, flags] of bars) {
    assert.equal(BigInt(end!) - BigInt(start!) + 1n, 8n, `BAR${n} is 8 bytes\n${context}`);
    assert.ok(Number(flags) & IORESOURCE_IO, `BAR${n} is an I/O BAR\n${context}`);
  }

  // Both ports are 16550As (type 4), and each loops every size back byte-exact at both speeds.
  const ttys = find('tty');
  assert.equal(ttys.length, 2, `two ports on the card\n${context}`);
  for (const [, port, , type, uart] of ttys) {
    assert.deepEqual([type, uart], ['4', '16550A'], `${port}\n${context}`);
    for (const baud of BAUDS) {
      for (const len of SIZES) {
        assert.deepEqual(find('loop', port!, String(baud), String(len)), [['loop', port!, String(baud), String(len), 'ok']], `${port} ${baud} ${len}\n${context}`);
      }
    }
  }
  const irqBefore = Number(find('irq')[0]?.[3]);
  const irqAfter = Number(find('irq').at(-1)?.[3]);
  assert.ok(irqAfter > irqBefore, `interrupts rose (${irqBefore} → ${irqAfter})\n${context}`);

  // The whole 256-byte config space reads, starting with the vendor and device IDs.
  assert.deepEqual(find('config'), [['config', '256', '48435332']], context);

  // Nothing failed on the wire: QEMU printed no error reply, and umdevd logged no failed request.
  assert.deepEqual(run.stderr.split('\n').filter((l) => l.includes('error reply')), [], context);
  const failures = daemon.stderr().split('\n').filter((l) => l.includes('vfio-user') && /\bfailed\b|unexpected fd/.test(l));
  assert.deepEqual(failures, [], 'umdevd logged failed vfio-user requests');
  // QEMU's memory-backend-memfd seals its RAM against shrinking, so every fd-backed window takes the mmap fast path.
  const maps = daemon.stderr().split('\n').filter((l) => /DMA_MAP 0x[0-9a-f]+\+0x[0-9a-f]+ /.test(l));
  assert.ok(maps.some((l) => l.endsWith(' mapped')), `QEMU's guest RAM was mapped\n${maps.join('\n')}`);
  assert.deepEqual(maps.filter((l) => l.endsWith('by pread/pwrite')), [], 'no window fell back to pread/pwrite');

  // The device goes away through sysfs and the pool is whole again.
  await writeFile(path.join(ctx.dir, 'sys/bus/mdev/devices', uuid, 'remove'), '1');
  assert.equal(existsSync(path.join(ctx.dir, 'sys/bus/mdev/devices', uuid)), false);
  assert.equal(await available(), before);
});
