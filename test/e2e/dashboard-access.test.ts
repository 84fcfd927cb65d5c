/**
 * Who the dashboard lets in and what it lets through, tested from the attacker's side: a user outside root and the
 * API group gets a page without controls, and a change it forges (with the page's own session and CSRF token) is
 * refused by umdevd; a copied URL without (or with a spent) token, a cross-origin POST from another page in the
 * same browser, a request without the CSRF token and a request naming another Host are refused by the dashboard.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { call } from '../daemon/helpers.js';
import { NOBODY } from '../daemon/as-user.js';
import { openBrowser, watchedPage } from './browser.js';
import { startDashboard } from './dashboard-process.js';
import { requireTools } from './harness.js';
import { start, stateDir } from './umdevd-process.js';

const U = 'ac0e55ed-0000-4000-8000-000000000001';

/** One raw HTTP request to the dashboard (node:http, so any Host or Origin can be sent). */
function raw(origin: string, method: string, pathname: string, headers: Record<string, string>, body?: string): Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }> {
  const u = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path: pathname, headers: { ...headers, ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }) } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function devices(socket: string): Promise<string[]> {
  return ((await call(socket, 'GET', '/devices')).body as { uuid: string }[]).map((d) => d.uuid);
}

test('a read-only user sees no controls and a forged change request is refused', async (t) => {
  await requireTools();
  const ctx = await stateDir(t, 'umdev-dash-ro-');
  // nobody must reach the API socket (readers: any) through the state dir.
  await chmod(ctx.dir, 0o755);
  const config = path.join(ctx.dir, 'umdevd.json');
  await writeFile(config, JSON.stringify({ parents: [{ driver: 'mtty' }, { driver: 'mbochs' }] }));
  const daemon = await start(ctx, ['--config', config, '--no-mount']);
  assert.equal((await call(daemon.url, 'POST', '/devices', { parent: 'mbochs', type: 'mbochs-small', uuid: U })).status, 201);
  const dash = await startDashboard(t, ['--api', daemon.url], { uid: NOBODY, gid: NOBODY });
  const browser = await openBrowser(t);
  const { page, problems } = await watchedPage(browser);
  await page.goto(dash.url);
  await page.locator('#rights', { hasText: 'read-only' }).waitFor();
  await page.locator(`#list .row[data-uuid="${U}"]`).click();
  await page.locator('#detail .note', { hasText: 'tenant data' }).waitFor();
  assert.equal(await page.locator('[data-action]').count(), 0, 'no action buttons');
  assert.equal(await page.locator('#create').count(), 0, 'no create form');
  assert.equal(await page.locator('#screen').count(), 0, 'no screen');
  assert.deepEqual(problems, []);

  // The page's own session and CSRF token, used for a change the page never offers: umdevd says no.
  const forged = (await page.evaluate(`(async () => {
    const s = await (await fetch('/api/session')).json();
    const r = await fetch('/api/devices', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': s.csrf }, body: JSON.stringify({ parent: 'mtty', type: 'mtty-1' }) });
    const d = await fetch('/api/devices/${U}', { method: 'DELETE', headers: { 'x-csrf-token': s.csrf } });
    const shot = await (await fetch('/api/screen/${U}')).json();
    return [r.status, (await r.json()).error.errno, d.status, shot.unavailable.errno];
  })()`)) as [number, string, number, string];
  assert.deepEqual(forged, [403, 'EACCES', 403, 'EACCES']);
  assert.deepEqual(await devices(daemon.url), [U], 'nothing was created or removed');
});

test('a stolen URL without its token, a cross-origin POST, a missing CSRF token and a wrong Host are refused', async (t) => {
  await requireTools();
  const ctx = await stateDir(t, 'umdev-dash-host-');
  const daemon = await start(ctx, ['--no-mount']);
  const dash = await startDashboard(t, ['--state-dir', ctx.dir]);
  const host = new URL(dash.origin).host;

  // The URL without its token, or with a guessed one: no page, no API.
  assert.equal((await raw(dash.origin, 'GET', '/', { host })).status, 401);
  assert.equal((await raw(dash.origin, 'GET', '/api/devices', { host })).status, 401);
  assert.equal((await raw(dash.origin, 'GET', '/?token=guess', { host })).status, 403);
  // The real token logs in once; a copy used later is spent.
  const token = new URL(dash.url).search;
  const login = await raw(dash.origin, 'GET', `/${token}`, { host });
  assert.equal(login.status, 200);
  assert.match(login.text, /<script type="application\/json" id="boot">/, 'the page, with its session');
  const setCookie = String(login.headers['set-cookie']);
  assert.match(setCookie, /HttpOnly; SameSite=Strict/);
  assert.equal((await raw(dash.origin, 'GET', `/${token}`, { host })).status, 403, 'the token works once');
  const cookie = setCookie.split(';')[0]!;
  assert.equal((await raw(dash.origin, 'GET', `/${token}`, { host, cookie })).status, 200, 'the same browser reloading the login URL');
  assert.equal((await raw(dash.origin, 'GET', '/api/devices', { host, cookie })).status, 200);
  // A wrong Host (DNS rebinding: a page whose name resolves here) gets nothing, even with the cookie.
  assert.equal((await raw(dash.origin, 'GET', '/api/devices', { host: `evil.example:${new URL(dash.origin).port}`, cookie })).status, 421);
  // A change without the CSRF token, or from another origin, is refused before umdevd sees it.
  const session = JSON.parse((await raw(dash.origin, 'GET', '/api/session', { host, cookie })).text) as { csrf: string };
  const body = JSON.stringify({ parent: 'mtty', type: 'mtty-1' });
  const json = { host, cookie, 'content-type': 'application/json' };
  assert.equal((await raw(dash.origin, 'POST', '/api/devices', { ...json, origin: dash.origin }, body)).status, 403, 'no CSRF token');
  assert.equal((await raw(dash.origin, 'POST', '/api/devices', { ...json, 'x-csrf-token': session.csrf }, body)).status, 403, 'no Origin');
  assert.equal((await raw(dash.origin, 'POST', '/api/devices', { ...json, 'x-csrf-token': session.csrf, origin: 'http://evil.example' }, body)).status, 403, 'another Origin');
  assert.deepEqual(await devices(daemon.url), []);
  // The same request with everything right does go through: the refusals above were the checks, not a broken route.
  assert.equal((await raw(dash.origin, 'POST', '/api/devices', { ...json, 'x-csrf-token': session.csrf, origin: dash.origin }, body)).status, 201);
  assert.equal((await devices(daemon.url)).length, 1);

  // In a browser: a logged-in dashboard, and another page (another origin on this machine) that POSTs to it.
  const evil = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>elsewhere</title>'));
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => {
    evil.close(() => r());
    evil.closeAllConnections();
  }));
  const browser = await openBrowser(t);
  // The one login URL is spent: the browser gets the session that login made.
  const [name, value] = cookie.split('=') as [string, string];
  await browser.addCookies([{ name, value, url: dash.origin, httpOnly: true, sameSite: 'Strict' }]);
  const { page } = await watchedPage(browser);
  await page.goto(dash.origin);
  await page.locator('#conn.ok').waitFor();
  const other = await browser.newPage();
  await other.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
  const results = (await other.evaluate(`(async () => {
    const target = '${dash.origin}/api/devices';
    const out = [];
    // A simple request (no preflight): it reaches the server, whose Origin check refuses it (and whose
    // Cross-Origin-Resource-Policy keeps even the opaque answer from this page).
    try { const r = await fetch(target, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: '${body}' }); out.push(r.type); } catch (e) { out.push('unreadable'); }
    // A JSON request needs a preflight, which gets no CORS answer.
    try { await fetch(target, { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: '${body}' }); out.push('sent'); } catch (e) { out.push('blocked'); }
    return out;
  })()`)) as string[];
  assert.deepEqual(results, ['unreadable', 'blocked']);
  assert.equal((await devices(daemon.url)).length, 1, 'no device was created from the other origin');
});
