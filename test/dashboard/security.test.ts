/** The dashboard's gate and its allow-list, without a server: what is let through and what is refused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { Gate, SESSION_COOKIE, cookie } from '../../src/dashboard/security.js';
import { proxyTarget } from '../../src/dashboard/proxy.js';

function req(method: string, headers: Record<string, string>): IncomingMessage {
  return { method, headers } as unknown as IncomingMessage;
}

test('a login token works once; the session it gives is found by its cookie only', () => {
  const g = new Gate(['127.0.0.1:8080']);
  const t = g.issue();
  const s = g.redeem(t);
  assert.ok(s !== undefined);
  assert.equal(g.redeem(t), undefined, 'spent');
  assert.equal(g.redeem('guess'), undefined);
  assert.equal(g.session(req('GET', { cookie: `${SESSION_COOKIE}=${s.id}` })), s);
  assert.equal(g.session(req('GET', { cookie: `${SESSION_COOKIE}=${s.id}x` })), undefined);
  assert.equal(g.session(req('GET', {})), undefined);
  assert.match(Gate.cookieFor(s), /; HttpOnly; SameSite=Strict; Path=\/$/);
  assert.equal(cookie('a=1; umdev_dashboard=xyz; b=2', SESSION_COOKIE), 'xyz');
});

test('sessions are bounded: the oldest goes first', () => {
  const g = new Gate(['h:1'], 2);
  const a = g.redeem(g.issue())!;
  g.redeem(g.issue());
  g.redeem(g.issue());
  assert.equal(g.session(req('GET', { cookie: `${SESSION_COOKIE}=${a.id}` })), undefined);
});

test('Host must name the server; changes need its own Origin and the CSRF token', () => {
  const g = new Gate(['127.0.0.1:8080', 'localhost:8080']);
  assert.ok(g.hostAllowed(req('GET', { host: 'LOCALHOST:8080' })));
  assert.ok(!g.hostAllowed(req('GET', { host: 'evil.example:8080' })));
  assert.ok(!g.hostAllowed(req('GET', {})));
  assert.equal(g.originProblem(req('GET', {})), undefined, 'a plain navigation has no Origin');
  assert.equal(g.originProblem(req('POST', { origin: 'http://127.0.0.1:8080' })), undefined);
  assert.match(g.originProblem(req('POST', {})) ?? '', /no Origin/);
  assert.match(g.originProblem(req('POST', { origin: 'http://127.0.0.1:8081' })) ?? '', /refused/);
  assert.match(g.originProblem(req('GET', { origin: 'http://evil.example' })) ?? '', /refused/);
  assert.match(g.originProblem(req('DELETE', { origin: 'http://127.0.0.1:8080', 'sec-fetch-site': 'same-site' })) ?? '', /Sec-Fetch-Site/);
  const s = g.redeem(g.issue())!;
  assert.ok(g.csrfOk(req('POST', { 'x-csrf-token': s.csrf }), s));
  assert.ok(!g.csrfOk(req('POST', { 'x-csrf-token': `${s.csrf}x` }), s));
  assert.ok(!g.csrfOk(req('POST', {}), s));
});

test('the page reaches only the listed API calls, with UUIDs and names checked and unknown query keys dropped', () => {
  const q = (s: string): URLSearchParams => new URLSearchParams(s);
  const u = '3b1a5c2e-0000-4000-8000-000000000001';
  assert.equal(proxyTarget('DELETE', ['devices', u], q('force=1&evil=2'))?.path, `/devices/${u}?force=1`);
  assert.equal(proxyTarget('POST', ['devices', u, 'reset'], q(''))?.path, `/devices/${u}/reset`);
  assert.equal(proxyTarget('DELETE', ['devices', '..'], q('')), undefined);
  assert.equal(proxyTarget('POST', ['migrations'], q('')), undefined, 'the destination side of a migration is not offered');
  assert.equal(proxyTarget('PUT', ['migrations', u, 'data'], q('')), undefined);
  assert.equal(proxyTarget('GET', ['metrics'], q('')), undefined);
  assert.equal(proxyTarget('DELETE', ['definitions', 'mtty', u], q(''))?.path, `/definitions/mtty/${u}`);
  assert.equal(proxyTarget('DELETE', ['definitions', 'a/b', u], q('')), undefined);
});
