/**
 * Concepts: the page's files, shipped in the package (`dist/ui/`, built from `src/dashboard/ui/`) and read once at
 * start: nothing is fetched from anywhere else, ever. Only `.html`, `.js`, `.css` and `.svg` files directly in that
 * folder are served, by exact name.
 *
 * The page itself (`index.html`) is a template cut at three marks: `<!-- umdev: style -->` becomes the style sheet,
 * inline (the first paint then needs no second request; the policy allows that one element by its hash),
 * `<!-- umdev: script -->` the script tag, whose URL carries the script's hash so a browser may keep it for good, and
 * `<!-- umdev: state -->` is where the server writes the page's first state (server.ts), after sending what comes
 * before it at once.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The page's script, built from src/dashboard/ui/ (scripts/bundle-ui.mjs). */
export const APP = 'app.js';

/** One file to serve. */
export interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

/** The page, cut where its first state goes. */
export interface PageTemplate {
  /** Sent at once: the head (style inline, the script tag) and the body up to the state. */
  readonly head: Buffer;
  /** Sent after the state. */
  readonly tail: Buffer;
  /** SHA-256 (base64) of the inline style, for the Content-Security-Policy. */
  readonly styleHash: string;
}

/** What a dashboard server serves; read once, at start. */
export interface UiAssets {
  readonly files: ReadonlyMap<string, Asset>;
  readonly page: PageTemplate;
  /** The hash the page's script URL carries (`/ui/app.js?v=…`): a request that names it may be cached for good. */
  readonly appVersion: string;
}

/** Where the built page lives: `dist/ui/` beside `dist/src/`. */
export function defaultUiDir(): string {
  return fileURLToPath(new URL('../../ui/', import.meta.url));
}

const hash = (b: Buffer | string, length?: number): string => createHash('sha256').update(b).digest(length === undefined ? 'base64' : 'base64url').slice(0, length);

/** Replace the one `<!-- umdev: NAME -->` of `html`; throws when it is missing or repeated (a broken build). */
function fill(html: string, name: string, text: string): string {
  const mark = `<!-- umdev: ${name} -->`;
  const at = html.indexOf(mark);
  if (at < 0 || html.indexOf(mark, at + 1) >= 0) throw new Error(`the dashboard's index.html must hold ${mark} once`);
  return html.slice(0, at) + text + html.slice(at + mark.length);
}

/** Every servable file of `dir` and the page template; throws (naming the fix) when the page was not built. */
export function loadAssets(dir: string): UiAssets {
  const files = new Map<string, Asset>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    throw new Error(`the dashboard's page is missing from ${dir}: run npm run build`);
  }
  for (const name of names) {
    const ext = name.slice(name.lastIndexOf('.'));
    const type = TYPES[ext];
    if (type !== undefined) files.set(name, { type, body: readFileSync(join(dir, name)) });
  }
  const html = files.get('index.html');
  const app = files.get(APP);
  const css = files.get('style.css');
  if (html === undefined || app === undefined || css === undefined) throw new Error(`the dashboard's page is incomplete in ${dir}: run npm run build`);
  const style = css.body.toString('utf8');
  if (/<\/style/i.test(style)) throw new Error('style.css must not hold </style');
  const appVersion = hash(app.body, 16);
  let page = fill(html.body.toString('utf8'), 'style', `<style>${style}</style>`);
  page = fill(page, 'script', `<script type="module" src="/ui/${APP}?v=${appVersion}"></script>`);
  const cut = '<!-- umdev: state -->';
  page = fill(page, 'state', cut);
  const at = page.indexOf(cut);
  return {
    files,
    page: { head: Buffer.from(page.slice(0, at)), tail: Buffer.from(page.slice(at + cut.length)), styleHash: hash(style) },
    appVersion,
  };
}

/**
 * `json` as a data block the page reads (`<script type="application/json" id=…>`): a browser never runs it, and
 * every `<`, `>` and `&` is escaped (`\u003c`…, the same JSON to a parser), so no text in it (a device's name) can end
 * the element or start a comment, whatever it holds.
 */
export function dataBlock(id: string, json: string): string {
  const text = json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `<script type="application/json" id="${id}">${text}</script>`;
}
