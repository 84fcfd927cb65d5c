/**
 * Concepts: the page's files, shipped in the package (`dist/ui/`, built from `src/dashboard/ui/`) and read once at
 * start: nothing is fetched from anywhere else, ever. Only `.html`, `.js`, `.css` and `.svg` files directly in that
 * folder are served, by exact name.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** One file to serve. */
export interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

/** Where the built page lives: `dist/ui/` beside `dist/src/`. */
export function defaultUiDir(): string {
  return fileURLToPath(new URL('../../ui/', import.meta.url));
}

/** Every servable file of `dir`, by name; throws (naming the fix) when the page was not built. */
export function loadAssets(dir: string): ReadonlyMap<string, Asset> {
  const out = new Map<string, Asset>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    throw new Error(`the dashboard's page is missing from ${dir}: run npm run build`);
  }
  for (const name of names) {
    const ext = name.slice(name.lastIndexOf('.'));
    const type = TYPES[ext];
    if (type !== undefined) out.set(name, { type, body: readFileSync(join(dir, name)) });
  }
  if (!out.has('index.html') || !out.has('main.js')) throw new Error(`the dashboard's page is incomplete in ${dir}: run npm run build`);
  return out;
}
