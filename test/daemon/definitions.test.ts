import assert from 'node:assert/strict';
import { TMP_DIR } from '../../src/mdevctl/definitions.js';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { formatDefinition } from '../../src/mdevctl/definitions.js';
import { parseStoredDefinition, readAllDefinitions, readParentDefinitions, writeDefinition } from '../../src/mdevctl/store.js';

const U1 = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const U2 = 'aaaaaaaa-bbbb-4ccc-8ddd-ffffffffffff';

test('parse follows mdevctl: required fields, string attrs, any other start is manual', () => {
  const d = parseStoredDefinition('mtty', U1.toUpperCase(), '{"mdev_type":"mtty-1","start":"auto","attrs":[{"a/b":"1"},{"c":"x y"}]}');
  assert.deepEqual(d, {
    parent: 'mtty',
    uuid: U1,
    mdevType: 'mtty-1',
    autostart: true,
    attrs: [
      ['a/b', '1'],
      ['c', 'x y'],
    ],
  });
  assert.equal(parseStoredDefinition('p', U1, '{"mdev_type":"t","start":"whenever","attrs":null}').autostart, false);
  const bad: [string, RegExp][] = [
    ['{"mdev_type":"t"', /definition p\/.*: EOF while parsing/],
    ['[]', /invalid json/],
    ['{"start":"auto"}', /invalid json/],
    ['{"mdev_type":"t"}', /invalid json/],
    ['{"mdev_type":"t","start":"auto","attrs":{}}', /attributes field is not an array/],
    ['{"mdev_type":"t","start":"auto","attrs":[{"a":"1","b":"2"}]}', /too many fields/],
    ['{"mdev_type":"t","start":"auto","attrs":[{"a":1}]}', /value must be of type str/],
  ];
  for (const [text, re] of bad) assert.throws(() => parseStoredDefinition('p', U1, text), re, text);
});

test('serialize is byte-identical to mdevctl (pretty, no trailing newline)', () => {
  assert.equal(
    formatDefinition({ mdevType: 'mtty-2', autostart: false, attrs: [] }),
    '{\n  "mdev_type": "mtty-2",\n  "start": "manual",\n  "attrs": []\n}',
  );
});

test('reading skips non-UUID names and reports bad files without failing', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'umdevd-defs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, 'mtty'), { recursive: true });
  await mkdir(path.join(dir, 'scripts.d', 'callouts'), { recursive: true });
  await writeFile(path.join(dir, 'mtty', U1), '{"mdev_type":"mtty-1","start":"auto"}');
  await writeFile(path.join(dir, 'mtty', U2), '{"mdev_type":');
  await writeFile(path.join(dir, 'mtty', 'README'), 'not a definition');
  const r = await readParentDefinitions(dir, 'mtty');
  assert.deepEqual(r.definitions.map((d) => d.uuid), [U1]);
  assert.equal(r.errors.length, 1);
  assert.equal(r.errors[0].file, path.join(dir, 'mtty', U2));
  assert.deepEqual(await readParentDefinitions(dir, 'nosuch'), { definitions: [], errors: [] });
  assert.equal((await readAllDefinitions(dir)).definitions.length, 1);
});

test('writes are atomic, exclusive when asked, and leave no temp files', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'umdevd-defs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const defs = path.join(dir, 'mdevctl.d');
  const def = { parent: 'mtty', uuid: U1, mdevType: 'mtty-1', autostart: true, attrs: [] };
  await writeDefinition(defs, def, true);
  await assert.rejects(writeDefinition(defs, { ...def, mdevType: 'mtty-2' }, true), (e: unknown) => (e as { errno?: string }).errno === 'EEXIST');
  assert.equal(await readFile(path.join(defs, 'mtty', U1), 'utf8'), formatDefinition(def));
  await writeDefinition(defs, { ...def, mdevType: 'mtty-2' });
  assert.match(await readFile(path.join(defs, 'mtty', U1), 'utf8'), /mtty-2/);
  // No temp file survives, not even a link's, and the writer's temp dir is gone too: mdevctl sees only definitions.
  assert.deepEqual(await readdir(path.join(defs, 'mtty')), [U1]);
  // A temp dir a crashed writer left (with a dead pid's file) is reaped and removed by the next write.
  await mkdir(path.join(defs, 'mtty', TMP_DIR));
  await writeFile(path.join(defs, 'mtty', TMP_DIR, `${U1}.999999999.0a0b0c0d0e0f`), '{');
  await writeDefinition(defs, { ...def, mdevType: 'mtty-4' });
  assert.deepEqual(await readdir(path.join(defs, 'mtty')), [U1]);
});

test('concurrent writers in one parent all land, and the shared temp dir is gone after the last', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'umdevd-defs-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const defs = path.join(dir, 'mdevctl.d');
  const uuids = Array.from({ length: 40 }, (_, i) => `${String(i).padStart(8, '0')}-0000-4000-8000-000000000000`);
  // Each writer removes the temp dir once it is empty, while others are between making it and opening in it.
  await Promise.all(uuids.map((uuid) => writeDefinition(defs, { parent: 'mtty', uuid, mdevType: 'mtty-1', autostart: false, attrs: [] })));
  assert.deepEqual((await readdir(path.join(defs, 'mtty'))).sort(), uuids);
});
