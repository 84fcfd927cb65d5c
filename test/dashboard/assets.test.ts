/** The page template (style inline by its hash, the script by its content's hash, the cut for the state) and the state's data block. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { dataBlock, loadAssets } from '../../src/dashboard/assets.js';
import { contentSecurityPolicy } from '../../src/dashboard/security.js';

function uiDir(t: TestContext, files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'umdev-ui-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

const HTML = '<!doctype html><head><!-- umdev: script --><!-- umdev: style --></head><body><h1>umdev</h1><!-- umdev: state --></body>';

test('the page template: style inline with its hash for the policy, the script by its hash, cut where the state goes', (t) => {
  const css = 'body { color: red; }';
  const a = loadAssets(uiDir(t, { 'index.html': HTML, 'style.css': css, 'app.js': 'console.log(1);' }));
  const head = a.page.head.toString();
  assert.match(head, /<style>body \{ color: red; \}<\/style>/);
  assert.equal(a.page.styleHash, createHash('sha256').update(css).digest('base64'), 'the hash of exactly the element\'s text');
  assert.match(contentSecurityPolicy(a.page.styleHash), new RegExp(`style-src 'self' 'sha256-${a.page.styleHash.replace(/[+/]/g, '\\$&')}'`));
  assert.doesNotMatch(contentSecurityPolicy(a.page.styleHash), /unsafe-inline|unsafe-eval/);
  assert.match(head, new RegExp(`<script type="module" src="/ui/app\\.js\\?v=${a.appVersion}"></script>`));
  assert.ok(head.endsWith('<h1>umdev</h1>'));
  assert.equal(a.page.tail.toString(), '</body>');
  // Another script, another URL (so a browser never keeps an old one for good).
  const b = loadAssets(uiDir(t, { 'index.html': HTML, 'style.css': css, 'app.js': 'console.log(2);' }));
  assert.notEqual(b.appVersion, a.appVersion);
});

test('a template without its marks, or a style sheet that could end its element, is a broken build', (t) => {
  assert.throws(() => loadAssets(uiDir(t, { 'index.html': HTML.replace('<!-- umdev: state -->', ''), 'style.css': '', 'app.js': '' })), /umdev: state/);
  assert.throws(() => loadAssets(uiDir(t, { 'index.html': HTML + '<!-- umdev: style -->', 'style.css': '', 'app.js': '' })), /umdev: style/);
  assert.throws(() => loadAssets(uiDir(t, { 'index.html': HTML, 'style.css': 'a{}</STYLE><script>', 'app.js': '' })), /<\/style/);
  assert.throws(() => loadAssets(uiDir(t, { 'index.html': HTML, 'style.css': '' })), /run npm run build/);
});

test('the state block holds the same JSON, and nothing in it can end the element', () => {
  const value = { name: '</script><script>alert(1)</script>', note: '<!-- & -->', sep: '\u2028' };
  const block = dataBlock('boot', JSON.stringify(value));
  const inner = block.slice('<script type="application/json" id="boot">'.length, -'</script>'.length);
  assert.doesNotMatch(inner, /[<>&]/);
  assert.deepEqual(JSON.parse(inner), value);
});
