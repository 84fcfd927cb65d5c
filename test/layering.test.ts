import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : []));
}

function importsOf(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!);
}

test('fuse, vfio and native depend on nothing in core (the error type is in a neutral module)', () => {
  for (const folder of ['fuse', 'vfio', 'native']) {
    for (const f of files(join(SRC, folder))) {
      const bad = importsOf(f).filter((spec) => /(^|\/)core\//.test(spec));
      assert.deepEqual(bad, [], `${f} imports ${bad.join(', ')}`);
    }
  }
});

test('the definitions format lives in src/mdevctl, shared by daemon and CLI; neither imports it from the other', () => {
  for (const [folder, other] of [['daemon', 'cli'], ['cli', 'daemon']] as const) {
    for (const f of files(join(SRC, folder))) {
      const bad = importsOf(f).filter((spec) => new RegExp(`(^|/)${other}/(definitions|serde-json|failure)\\.js$`).test(spec));
      assert.deepEqual(bad, [], `${f} imports ${bad.join(', ')}`);
    }
  }
  const users = ['daemon/api/definitions.js', 'daemon/autostart.js', 'cli/defined.js'].filter((f) => importsOf(join(SRC, f)).some((s) => s.includes('mdevctl/')));
  assert.deepEqual(users, ['daemon/api/definitions.js', 'daemon/autostart.js', 'cli/defined.js']);
});
