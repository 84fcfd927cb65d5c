/**
 * The dashboard in a real browser (Debian's chromium, headless, driven by playwright-core) against a real umdevd
 * with its FUSE mount, the real mdevctl (in a private mount namespace, through `umdevctl exec`) and a vfio-user
 * client drawing on an mbochs device: the page loads clean under its CSP, follows changes made elsewhere without a
 * reload, makes changes that mdevctl sees, shows the very pixels the client drew, and shows in an mtty's console
 * what a client wrote to its UART.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { decodePng } from '../../src/display/png.js';
import { UART } from '../../src/drivers/mtty/uart.js';
import { VFIO_PCI_REGION as R } from '../../src/vfio/constants.js';
import { VfioUserClient } from '../../src/vfio-user/client.js';
import { call } from '../daemon/helpers.js';
import { openBrowser, watchedPage } from './browser.js';
import { startDashboard } from './dashboard-process.js';
import { requireTools } from './harness.js';
import { drawOn, type Rgb } from './mbochs-draw.js';
import { UMDEVCTL, run, start, stateDir } from './umdevd-process.js';

/** Where tests leave screenshots (UMDEV_ARTIFACTS, else artifacts/ in the checkout). */
export const ARTIFACTS = process.env.UMDEV_ARTIFACTS ?? fileURLToPath(new URL('../../../artifacts/', import.meta.url));

const U_MDEVCTL = 'da5b0a2d-0000-4000-8000-000000000001';
const U_UI = 'da5b0a2d-0000-4000-8000-000000000002';
const U_MBOCHS = 'da5b0a2d-0000-4000-8000-000000000003';

const QUADRANTS: readonly Rgb[] = [
  [230, 30, 40],
  [20, 200, 60],
  [30, 60, 220],
  [250, 200, 20],
];
/** The test pattern: four solid quadrants, so a pixel read back anywhere inside one has one right answer. */
function quadrant(w: number, h: number): (x: number, y: number) => Rgb {
  return (x, y) => QUADRANTS[(y < h / 2 ? 0 : 2) + (x < w / 2 ? 0 : 1)]!;
}

async function mdevctl(dir: string, ...args: string[]): Promise<string> {
  const r = await run(process.execPath, [UMDEVCTL, 'exec', '--state-dir', dir, '--', 'mdevctl', ...args]);
  assert.equal(r.code, 0, `mdevctl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Polls `expr` in the page until it is true. (waitForFunction would eval a string inside the page, which the CSP forbids.) */
async function until(page: Page, expr: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while ((await page.evaluate(expr)) !== true) {
    if (Date.now() > deadline) {
      const shown = await page.evaluate('document.getElementById("detail")?.innerText ?? document.body.innerText.slice(0, 2000)');
      throw new Error(`page never had ${expr}; it showed:\n${String(shown)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function row(page: Page, uuid: string): ReturnType<Page['locator']> {
  return page.locator(`#list .row[data-uuid="${uuid}"]`);
}

test('the dashboard in a browser: clean load, live updates, changes mdevctl sees, and the pixels a client drew', async (t) => {
  await requireTools();
  const ctx = await stateDir(t, 'umdev-dash-');
  const config = path.join(ctx.dir, 'umdevd.json');
  await writeFile(config, JSON.stringify({ parents: [{ driver: 'mtty' }, { driver: 'mbochs' }] }));
  const daemon = await start(ctx, ['--config', config]);
  const dash = await startDashboard(t, ['--state-dir', ctx.dir]);
  const browser = await openBrowser(t);
  const { page, problems } = await watchedPage(browser);

  await t.test('the page loads with no console errors or CSP violations', async () => {
    const res = await page.goto(dash.url);
    assert.equal(res?.status(), 200);
    assert.equal(new URL(page.url()).search, '', 'the token left the address bar');
    const csp = res?.headers()['content-security-policy'] ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    await page.locator('#conn.ok').waitFor();
    await page.locator('#rights', { hasText: 'can change devices' }).waitFor();
    await page.locator('#pools [data-type="mbochs/mbochs-small"]').waitFor();
    assert.deepEqual(problems, []);
  });

  await t.test('a device created with the real mdevctl appears without a reload within 1 s', async () => {
    await page.evaluate('window.__sameDocument = true');
    await mdevctl(ctx.dir, 'start', '-u', U_MDEVCTL, '-p', 'mtty', '-t', 'mtty-2');
    await row(page, U_MDEVCTL).waitFor({ timeout: 1000 });
    assert.equal(await page.evaluate('window.__sameDocument === true'), true, 'the page was not reloaded');
    await page.locator('#events li[data-kind="add"]', { hasText: U_MDEVCTL }).waitFor({ timeout: 1000 });
  });

  await t.test('a device created from the UI shows in mdevctl list', async () => {
    await page.selectOption('#create select[name="type"]', 'mtty/mtty-1');
    await page.fill('#create input[name="uuid"]', U_UI);
    await page.click('#create [data-action="create"]');
    await row(page, U_UI).waitFor();
    assert.match(await mdevctl(ctx.dir, 'list'), new RegExp(`^${U_UI} mtty mtty-1 manual$`, 'm'));
  });

  await t.test("a string a client writes to an mtty's UART appears in the page's console view", async () => {
    const d = await call(daemon.url, 'GET', `/devices/${U_MDEVCTL}`);
    assert.equal(d.status, 200);
    const client = await VfioUserClient.connect((d.body as { socket: string }).socket);
    try {
      // As a guest's driver sends: one byte at a time to THR, port 0's register 0 in BAR0 (the port's FIFO loops
      // back and overflows past 16 bytes; the console hears every byte sent, as a wire would).
      const text = `hello from the guest ${process.pid}`;
      for (const byte of Buffer.from(text)) await client.write(R.BAR0, UART.TX, Buffer.from([byte]));
      await row(page, U_MDEVCTL).click();
      await page.locator('#console', { hasText: text }).waitFor({ timeout: 5000 });
      assert.equal(await page.evaluate('document.getElementById("console").parentElement.hidden'), false, 'the console is shown');
    } finally {
      await client.close();
    }
  });

  const created = await call(daemon.url, 'POST', '/devices', { parent: 'mbochs', type: 'mbochs-small', uuid: U_MBOCHS });
  assert.equal(created.status, 201);
  const drawer = await drawOn(t, (created.body as { socket: string }).socket, 160, 100);
  drawer.paint(quadrant(160, 100));

  await t.test('an mbochs device drawn by a test client shows the same pixels in the page', async () => {
    await row(page, U_MBOCHS).click();
    const img = page.locator('#screen');
    await until(page, '(() => { const i = document.getElementById("screen"); return i !== null && !i.hidden && i.complete && i.naturalWidth === 160; })()');
    // A frame taken while the client was still drawing may come first, and the next one then replaces it: look once
    // the page has kept one frame for a while, decoded.
    for (let tag = '', i = 0; i < 20; i++) {
      const now = String(await page.evaluate('(async () => { const i = document.getElementById("screen"); await i.decode().catch(() => undefined); return i.dataset.tag; })()'));
      if (now === tag) break;
      tag = now;
      await new Promise((r) => setTimeout(r, 400));
    }
    const shot = decodePng(await img.screenshot());
    // The element has a 1-pixel border around the image, which is shown at its natural size.
    const box = (await page.evaluate('(() => { const r = document.getElementById("screen").getBoundingClientRect(); return [r.width, r.height]; })()')) as number[];
    assert.deepEqual(box, [162, 102], 'the screen is shown 1:1');
    for (const [qx, qy, q] of [[40, 25, 0], [120, 25, 1], [40, 75, 2], [120, 75, 3]] as const) {
      for (const [dx, dy] of [[0, 0], [-30, -20], [30, 20]] as const) {
        const x = qx + dx + 1;
        const y = qy + dy + 1;
        const at = (y * shot.width + x) * 3;
        const got = [...shot.rgb.subarray(at, at + 3)];
        const want = QUADRANTS[q]!;
        assert.ok(got.every((v, i) => Math.abs(v - want[i]!) <= 2), `page pixel (${x}, ${y}) is ${got.join(',')}, drew ${want.join(',')}`);
      }
    }
    // No new frame while the screen does not change; frames again once it does.
    await page.evaluate('(() => { const i = document.getElementById("screen"); window.__frames = 0; i.addEventListener("load", () => window.__frames++); })()');
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(await page.evaluate('window.__frames'), 0, 'a still screen sends no frames');
    let phase = 0;
    const anim = setInterval(() => drawer.paint(() => [phase++ & 255, 0, 0]), 50);
    try {
      await until(page, 'window.__frames >= 3');
    } finally {
      clearInterval(anim);
    }
    drawer.paint(quadrant(160, 100));
  });

  await t.test('reset and remove from the UI work', async () => {
    await row(page, U_MBOCHS).click();
    await page.locator('#screen').waitFor();
    await page.click('[data-action="reset"]');
    // mbochs_reset: the DISPI registers go back to display off, which is what the device now shows.
    await page.locator('.note', { hasText: 'display off' }).waitFor();
    const shot = await call(daemon.url, 'GET', `/devices/${U_MBOCHS}/screen.png`);
    assert.equal(shot.status, 409);
    await row(page, U_UI).click();
    await page.click('[data-action="remove"]');
    await row(page, U_UI).waitFor({ state: 'detached' });
    assert.doesNotMatch(await mdevctl(ctx.dir, 'list'), new RegExp(U_UI));
  });

  await t.test('screenshots with 10 devices, light and dark, with a live mbochs screen', async () => {
    for (let i = 0; i < 8; i++) assert.equal((await call(daemon.url, 'POST', '/devices', { parent: i % 3 === 0 ? 'mbochs' : 'mtty', type: i % 3 === 0 ? 'mbochs-small' : 'mtty-1' })).status, 201);
    assert.equal((await call(daemon.url, 'POST', '/definitions', { parent: 'mtty', type: 'mtty-1', uuid: 'da5b0a2d-0000-4000-8000-0000000000df', start: 'auto' })).status, 201);
    await drawer.mode(320, 200);
    const paint = (f: number): void => drawer.paint((x, y) => [(x * 255) / 320, (y * 255) / 200, (((x >> 4) ^ (y >> 4)) & 1) * 200 + ((f * 8) & 55)]);
    paint(0);
    // The definition arrives with the dashboard's next look at the definitions (every 5 s). Until the list has all
    // its rows they move as rows arrive, and a click could land on the wrong device.
    await page.locator('#device-count', { hasText: '10 active, 1 defined only' }).waitFor({ timeout: 15_000 });
    await row(page, U_MBOCHS).click();
    await until(page, '(() => { const i = document.getElementById("screen"); return i !== null && !i.hidden && i.naturalWidth === 320; })()');
    let f = 0;
    const anim = setInterval(() => paint(++f), 100);
    try {
      await mkdir(ARTIFACTS, { recursive: true });
      for (const scheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme: scheme });
        await new Promise((r) => setTimeout(r, 400));
        const file = path.join(ARTIFACTS, `dashboard-${scheme}.png`);
        await page.screenshot({ path: file });
        const png = decodePng(await page.screenshot());
        // Dark and light differ where it shows: the page's background.
        const bg = [...png.rgb.subarray((5 * png.width + 5) * 3, (5 * png.width + 5) * 3 + 3)];
        assert.ok(scheme === 'dark' ? bg.every((v) => v < 60) : bg.every((v) => v > 200), `${scheme} background is ${bg.join(',')}`);
      }
    } finally {
      clearInterval(anim);
    }
    await chmod(ARTIFACTS, 0o755);
    assert.deepEqual(problems, []);
  });
});
