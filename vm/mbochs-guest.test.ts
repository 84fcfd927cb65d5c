/**
 * The real-VMM tier for mbochs: umdevd serves an mbochs-small created through its sysfs, QEMU's vfio-user-pci
 * attaches it to a Linux guest booted with `-vga none` under TCG, and the guest's /init (vm/guest/init-mbochs) loads
 * bochs-drm from the guest kernel's own modules, gets /dev/fb0 and draws four coloured quadrants. While the guest
 * waits, the test fetches the screen through the API (GET /devices/<uuid>/screen.png) and checks the quadrants'
 * pixels, then lets the guest power off. Needs the VM root (./setup --vm).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { apiCall, parseEndpoint } from '../src/api-client/http.js';
import { decodePng, type RgbImage } from '../src/display/png.js';
import { start, stateDir, waitForStderr } from '../test/e2e/umdevd-process.js';
import { guestModules } from '../src/vm/guest-modules.js';
import { facts, waitFor } from './guest-facts.js';
import { writeInitramfs } from '../src/vm/initramfs.js';
import { GUEST_SHARE, guestKernel, rootRecipe, startGuest, vmRoot } from '../src/vm/qemu.js';

const BOOT_LIMIT_MS = 300_000;
const INIT = fileURLToPath(new URL('../../vm/guest/init-mbochs', import.meta.url));
const COLOURS: Readonly<Record<string, readonly [number, number, number]>> = { red: [255, 0, 0], green: [0, 255, 0], blue: [0, 0, 255], white: [255, 255, 255] };

/** GET on the API's Unix socket: status, content type and body bytes. */
async function get(socket: string, url: string): Promise<{ status: number; type: string | undefined; body: Buffer }> {
  const r = await apiCall(parseEndpoint(socket), 'GET', url);
  return { status: r.status, type: r.headers['content-type'], body: r.body };
}

function pixel(img: RgbImage, x: number, y: number): number[] {
  const at = (y * img.width + x) * 3;
  return [...img.rgb.subarray(at, at + 3)];
}

test('a Linux guest binds bochs-drm to an umdev mbochs device, draws on /dev/fb0, and screen.png shows it', { timeout: BOOT_LIMIT_MS + 60_000 }, async (t) => {
  const root = vmRoot();
  const kernel = guestKernel(root);
  const ctx = await stateDir(t, 'umdev-vm-mbochs-');
  const config = path.join(ctx.dir, 'umdevd.json');
  await writeFile(config, JSON.stringify({ parents: [{ driver: 'mbochs' }] }));
  const daemon = await start(ctx, ['--config', config, '--log-level', 'debug']);
  const typeDir = path.join(ctx.dir, 'sys/class/mdev_bus/mbochs/mdev_supported_types/mbochs-small');
  const uuid = randomUUID();
  await writeFile(path.join(typeDir, 'create'), uuid);
  await waitFor(path.join(ctx.dir, 'run', `${uuid}.sock`), 5000);

  // Before any client: the display is off, and the API says so.
  const off = await get(daemon.url, `/devices/${uuid}/screen.png`);
  assert.equal(off.status, 409);
  assert.match(off.body.toString(), /EBUSY/);

  const modules = guestModules(root, kernel, ['bochs']);
  assert.equal(modules.order.at(-1), 'bochs');
  assert.ok(modules.order.includes('drm'), modules.order.join(' '));
  await writeInitramfs(path.join(ctx.dir, 'initrd.gz'), path.join(root, 'bin/busybox'), INIT, { dirs: ['modules'], files: modules.files });

  const guest = startGuest(
    root,
    ctx.dir,
    {
      kernel,
      initrd: `${GUEST_SHARE}/initrd.gz`,
      socket: `${GUEST_SHARE}/run/${uuid}.sock`,
      append: 'console=ttyS0 panic=-1 loglevel=4',
      // QEMU says where it maps a region into the guest: the framebuffer BAR must be one of them.
      extra: ['-trace', 'vfio_region_mmap*'],
      input: true,
    },
    BOOT_LIMIT_MS,
  );
  const drawn = await guest.waitForConsole(/UMDEV (drawn|done)/, BOOT_LIMIT_MS);
  let shot: { status: number; type: string | undefined; body: Buffer } | undefined;
  if (drawn) shot = await get(daemon.url, `/devices/${uuid}/screen.png`);
  guest.send('screenshot taken\n');
  const run = await guest.done;
  const seen = facts(run.console);
  const context = `${rootRecipe(root)}; guest ran ${run.ms} ms\n--- guest console ---\n${run.console.slice(-6000)}\n--- QEMU stderr ---\n${run.stderr.slice(-4000)}`;
  t.diagnostic(`guest boot, draw and screenshot: ${run.ms} ms`);
  assert.ok(!run.timedOut, `the guest did not power off within ${BOOT_LIMIT_MS} ms\n${context}`);
  assert.equal(run.code, 0, `QEMU exited with ${run.code ?? run.signal}\n${context}`);
  assert.deepEqual(seen.at(-1), ['done'], `the guest's checks did not finish\n${context}`);
  assert.deepEqual(seen.filter((f) => f[0] === 'fail'), [], context);
  const find = (head: string): string[][] => seen.filter((f) => f[0] === head);

  // The card as bochs-drm wants it, bound to bochs-drm, with an 800x600 XRGB8888 framebuffer (the type's EDID).
  assert.deepEqual(find('pci')[0]?.slice(2), ['0x1234', '0x1111', '0x030000'], context);
  assert.deepEqual(find('driver'), [['driver', 'bochs-drm']], context);
  const fb = find('fb')[0];
  assert.ok(fb, context);
  assert.deepEqual(fb.slice(1), ['bochs-drmdrmfb', '800,600', '32', '3200'], context);
  const [, w, h] = find('drawn')[0]!.map(Number);
  assert.deepEqual([w, h], [800, 600], context);

  // The screen, as the API serves it while the guest shows its picture.
  assert.ok(shot, context);
  assert.equal(shot.status, 200, `${shot.body.toString().slice(0, 300)}\n${context}`);
  assert.equal(shot.type, 'image/png');
  const img = decodePng(shot.body);
  assert.deepEqual([img.width, img.height], [800, 600]);
  const half = { x: w! / 2, y: h! / 2 };
  const expect: [number, number, string][] = [
    [0, 0, 'red'], [half.x - 1, half.y - 1, 'red'], [half.x / 2, half.y / 2, 'red'],
    [half.x, 0, 'green'], [w! - 1, half.y - 1, 'green'],
    [0, half.y, 'blue'], [half.x - 1, h! - 1, 'blue'],
    [half.x, half.y, 'white'], [w! - 1, h! - 1, 'white'],
  ];
  for (const [x, y, colour] of expect) assert.deepEqual(pixel(img, x, y), [...COLOURS[colour]!], `pixel (${x}, ${y}) is ${colour}`);

  // Nothing failed on the wire, and the framebuffer BAR took the mmap path: QEMU mapped region 0 of the device
  // (its trace names the BAR), and the guest's 1.9 MB picture did not come through REGION_WRITE.
  assert.deepEqual(run.stderr.split('\n').filter((l) => l.includes('error reply')), [], context);
  const mmaps = run.stderr.split('\n').filter((l) => l.includes('vfio_region_mmap '));
  assert.ok(mmaps.some((l) => /BAR 0/.test(l)), `QEMU mapped BAR0\n${mmaps.join('\n')}\n${context}`);
  await waitForStderr(daemon, 'video memory: ', 10_000);
  const trapped = /video memory: (\d+) bytes went through REGION_READ\/WRITE/.exec(daemon.stderr());
  assert.ok(trapped, 'the device host reported its trapped video memory bytes');
  assert.ok(Number(trapped[1]) < 64 * 1024, `${trapped[1]} bytes of video memory were trapped, not mapped`);
  t.diagnostic(`video memory through REGION_READ/WRITE: ${trapped[1]} bytes; QEMU: ${mmaps.join(' | ')}`);
  const failures = daemon.stderr().split('\n').filter((l) => l.includes('vfio-user') && /\bfailed\b|unexpected fd/.test(l));
  assert.deepEqual(failures, [], 'umdevd logged failed vfio-user requests');

  // Once the client is gone the video memory is too, and the device goes away through sysfs. The API keeps a frame
  // for 100 ms (live/screen-frames.ts), so the last one may still be served just after the close; not for longer.
  const closedAt = Date.now();
  let after = await get(daemon.url, `/devices/${uuid}/screen.png`);
  while (after.status === 200 && Date.now() - closedAt < 1000) {
    await new Promise((r) => setTimeout(r, 50));
    after = await get(daemon.url, `/devices/${uuid}/screen.png`);
  }
  assert.equal(after.status, 409);
  assert.match(after.body.toString(), /EBUSY/);
  await writeFile(path.join(ctx.dir, 'sys/bus/mdev/devices', uuid, 'remove'), '1');
  assert.equal(existsSync(path.join(ctx.dir, 'sys/bus/mdev/devices', uuid)), false);
  assert.equal(Number((await readFile(path.join(typeDir, 'available_instances'), 'utf8')).trim()), 64);
});
