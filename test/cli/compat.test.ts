/**
 * umdevctl against golden files AND against the real mdevctl 1.2.0 on the same fake trees: stdout, stderr and exit
 * code must be byte-identical (log timestamps and tree paths normalised), and so must every file either program
 * writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeTree, definitionText } from './fake-tree.js';
import { golden, mdevctl, normalise, transcript, umdevctl, type Outcome } from './harness.js';
import { GVT, U1, U2, U3, U4, U5, U9, richTree } from './trees.js';

interface Case {
  readonly command: string;
  readonly name: string;
  readonly args: readonly string[];
}

const json = (command: string, name: string, args: readonly string[]): Case => ({ command, name: `${name}.json`, args });
const text = (command: string, name: string, args: readonly string[]): Case => ({ command, name: `${name}.text`, args });

const READ_ONLY: readonly Case[] = [
  text('types', 'all', ['types']),
  json('types', 'all', ['types', '--dumpjson']),
  text('types', 'parent', ['types', '-p', 'mtty']),
  json('types', 'parent', ['types', '-p', GVT, '--dumpjson']),
  text('types', 'no-such-parent', ['types', '-p', 'nosuch']),
  json('types', 'no-such-parent', ['types', '-p', 'nosuch', '--dumpjson']),
  text('list', 'active', ['list']),
  text('list', 'active-verbose', ['list', '-v']),
  text('list', 'active-parent', ['list', '-p', 'mtty']),
  json('list', 'active', ['list', '--dumpjson']),
  json('list', 'active-uuid', ['list', '--dumpjson', '-u', U1]),
  json('list', 'active-none', ['list', '--dumpjson', '-u', U9]),
  text('list', 'defined', ['list', '-d']),
  text('list', 'defined-verbose', ['list', '-d', '-v']),
  text('list', 'defined-parent', ['list', '-d', '-p', 'other']),
  json('list', 'defined', ['list', '-d', '--dumpjson']),
  json('list', 'defined-uuid', ['list', '-d', '--dumpjson', '-u', U4]),
  text('start', 'already-exists', ['start', '-u', U1]),
  text('start', 'parent-case', ['start', '-u', U9, '-p', 'MTTY', '-t', 'mtty-1']),
  text('start', 'no-parent', ['start', '-u', U9, '-p', 'nosuch', '-t', 'mtty-1']),
  text('start', 'no-type', ['start', '-u', U9, '-p', 'mtty', '-t', 'mtty-9']),
  text('start', 'no-instances', ['start', '-u', U9, '-p', GVT, '-t', 'i915-GVTg_V5_4']),
  text('start', 'insufficient', ['start', '-u', U9]),
  text('start', 'type-mismatch', ['start', '-u', U4, '-t', 'mtty-1']),
  text('start', 'jsonfile-missing', ['start', '-p', 'mtty', '--jsonfile', '/nonexistent/umdev.json']),
  text('stop', 'missing', ['stop', '-u', U9]),
  text('define', 'already-defined', ['define', '-u', U1, '-p', 'mtty', '-t', 'mtty-1']),
  text('define', 'active-already-defined', ['define', '-u', U1]),
  text('define', 'no-parent', ['define', '-u', U9]),
  text('define', 'no-type', ['define', '-u', U9, '-p', 'mtty']),
  text('define', 'jsonfile-missing', ['define', '-p', 'mtty', '--jsonfile', '/nonexistent/umdev.json']),
  text('define', 'jsonfile-exists', ['define', '-u', U4, '-p', 'mtty', '--jsonfile', '/nonexistent/umdev.json']),
  text('modify', 'not-defined', ['modify', '-u', U9, '--auto']),
  text('modify', 'not-defined-parent', ['modify', '-u', U9, '-p', 'mtty', '--auto']),
  text('modify', 'bad-delete-index', ['modify', '-u', U1, '--delattr', '-i', '7']),
  text('modify', 'bad-insert-index', ['modify', '-u', U1, '--addattr', 'x', '--value', 'y', '-i', '9']),
  text('undefine', 'not-defined', ['undefine', '-u', U9]),
];

const MUTATING: readonly Case[] = [
  text('define', 'new', ['define', '-u', U9, '-p', 'mtty', '-t', 'mtty-1', '--auto']),
  text('define', 'from-active', ['define', '-u', U2]),
  text('define', 'from-active-other-parent', ['define', '-u', U2, '-p', 'elsewhere']),
  text('modify', 'add-attr-first', ['modify', '-u', U1, '--addattr', 'vendor/mode', '--value', 'fast', '-i', '0']),
  text('modify', 'type-and-auto', ['modify', '-u', U4, '-t', 'mtty-1', '--auto']),
  text('modify', 'delete-last-attr', ['modify', '-u', U1, '--delattr']),
  text('modify', 'delete-first-attr', ['modify', '-u', U1, '--delattr', '-i', '0']),
  text('modify', 'manual', ['modify', '-u', U5, '--manual']),
  text('undefine', 'one', ['undefine', '-u', U4]),
  text('undefine', 'with-parent', ['undefine', '-u', U3, '-p', GVT]),
  text('start', 'fully-specified', ['start', '-u', U9, '-p', 'mtty', '-t', 'mtty-2']),
  text('start', 'defined-attr-rollback', ['start', '-u', U4]),
  text('stop', 'active', ['stop', '-u', U2]),
  text('start-parent-mdevs', 'mtty', ['start-parent-mdevs', 'mtty']),
  text('start-parent-mdevs', 'nothing', ['start-parent-mdevs', 'nosuch']),
];

function assertSame(um: Outcome, md: Outcome, tree: FakeTree, what: string): void {
  assert.equal(normalise(um.stdout, tree), normalise(md.stdout, tree), `${what}: stdout`);
  assert.equal(normalise(um.stderr, tree), normalise(md.stderr, tree), `${what}: stderr`);
  assert.equal(um.code, md.code, `${what}: exit code`);
}

/** Every file and link under `dir` (relative path → content or link target); umdevctl's temp dirs excluded. */
async function snapshot(dir: string, rel = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(join(dir, rel))).sort()) {
    if (name === '.umdevctl-tmp') continue;
    const p = join(rel, name);
    const st = await lstat(join(dir, p));
    if (st.isSymbolicLink()) out[p] = `-> ${await readlink(join(dir, p))}`;
    else if (st.isDirectory()) Object.assign(out, await snapshot(dir, p));
    else out[p] = `${(st.mode & 0o777).toString(8)} ${await readFile(join(dir, p), 'utf8')}`;
  }
  return out;
}

test('read-only commands match golden files and the real mdevctl byte for byte', async (t) => {
  const tree = await richTree();
  t.after(() => tree.remove());
  for (const c of READ_ONLY) {
    await t.test(`${c.command} ${c.name}`, async () => {
      const um = await umdevctl(tree, c.args);
      await golden(c.command, c.name, transcript(um, tree));
      assertSame(um, await mdevctl(tree, c.args), tree, c.args.join(' '));
    });
  }
});

test('commands that change files leave the same files as the real mdevctl', async (t) => {
  // A --jsonfile outside both trees, at the same absolute path for both programs.
  const jsonDir = await mkdtemp(join(tmpdir(), 'umdevctl-json-'));
  t.after(() => rm(jsonDir, { recursive: true, force: true }));
  const jsonfile = join(jsonDir, 'dev.json');
  await writeFile(jsonfile, '{"mdev_type":"mtty-2","start":"auto","attrs":[{"echo":"off"},{"vendor/knob":"1"}]}');
  const cases = [
    ...MUTATING,
    text('define', 'jsonfile', ['define', '-u', U9, '-p', 'mtty', '--jsonfile', jsonfile]),
    text('define', 'jsonfile-refused', ['define', '-u', U1, '-p', 'mtty', '--jsonfile', jsonfile]),
    text('start', 'jsonfile', ['start', '-u', U9, '-p', 'mtty', '--jsonfile', jsonfile]),
  ];
  for (const c of cases) {
    await t.test(`${c.command} ${c.name}`, async () => {
      const a = await richTree();
      const b = await richTree();
      try {
        const um = await umdevctl(a, c.args);
        await golden(c.command, c.name, transcript(um, a));
        assertSame(um, await mdevctl(b, c.args), a, c.args.join(' '));
        assert.deepEqual(await snapshot(a.dir), await snapshot(b.dir), 'trees differ after the command');
      } finally {
        await a.remove();
        await b.remove();
      }
    });
  }
});

test('malformed definitions fail with serde_json and mdevctl messages, as mdevctl', async (t) => {
  const payloads = [
    '',
    'x',
    '{"mdev_type": "mtty-1", "start": "auto", "attrs": [{"a":"1"}',
    '{"mdev_type":"a"}',
    '{"mdev_type":"a","start":"auto","attrs":{}}',
    '{"mdev_type":"a","start":"auto","attrs":[1]}',
    '{"mdev_type":"a","start":"auto","attrs":[{"a":"1","b":"2"}]}',
    '{"mdev_type":"a","start":"auto"} x',
    '{\n  "mdev_type": "a",\n  "start": 5,\n  }',
    '[1,2',
    '{"a" 1}',
    '{"a":1 "b"}',
    '"abc',
    '{"a":"\\q"}',
    '{"a":"x\u0001"}',
    '{"a":tru}',
    '{"a":-}',
    '{"a":01}',
    '{"a":1.}',
    '{"a":1e}',
    '[,]',
    '{,}',
    '{"a":1,}',
    '{\n\t"mdev_type": "é",\n\t"start": "auto", 7}',
    '{"mdev_type":"a","start":"auto","attrs":null}',
    '{"mdev_type":"a","start":"sometimes"}',
  ];
  const tree = await FakeTree.create();
  t.after(() => tree.remove());
  await tree.addParent('mtty', [{ name: 'mtty-1' }]);
  for (const [i, p] of payloads.entries()) {
    await tree.addDefinition('mtty', U4, p);
    for (const args of [['list', '-d'], ['start', '-u', U4]]) {
      const um = await umdevctl(tree, args);
      assertSame(um, await mdevctl(tree, args), tree, `payload #${i} ${JSON.stringify(p)} with ${args.join(' ')}`);
    }
  }
});

/** `create` as a directory: the write fails with EISDIR; U4 becomes an auto definition that will hit it. */
async function createIsDir(tr: FakeTree): Promise<void> {
  const create = join(tr.parentDir('mtty'), 'mdev_supported_types/mtty-2/create');
  await rm(create);
  await mkdir(create);
  await tr.addDefinition('mtty', U4, definitionText('mtty-2', 'auto'));
}

test('broken sysfs trees fail as mdevctl fails', async (t) => {
  const cases: Array<[string, (tr: FakeTree) => Promise<void>, string[]]> = [
    ['parent without mdev_supported_types', async (tr) => rm(join(tr.parentDir('mtty'), 'mdev_supported_types'), { recursive: true }), ['types']],
    ['available_instances not a number', async (tr) => writeFile(join(tr.parentDir('mtty'), 'mdev_supported_types/mtty-1/available_instances'), 'lots\n'), ['types']],
    ['available_instances empty', async (tr) => writeFile(join(tr.parentDir('mtty'), 'mdev_supported_types/mtty-1/available_instances'), '\n'), ['start', '-u', U9, '-p', 'mtty', '-t', 'mtty-1']],
    ['device_api missing', async (tr) => rm(join(tr.parentDir('mtty'), 'mdev_supported_types/mtty-1/device_api')), ['types']],
    ['dangling bus link', async (tr) => rm(join(tr.parentDir('mtty'), U2), { recursive: true }), ['list']],
    ['dangling bus link filtered out', async (tr) => rm(join(tr.parentDir('mtty'), U2), { recursive: true }), ['list', '-p', GVT]],
    ['mdev_type missing', async (tr) => rm(join(tr.parentDir('mtty'), U2, 'mdev_type')), ['list']],
    ['mdev_type missing on stop', async (tr) => rm(join(tr.parentDir('mtty'), U2, 'mdev_type')), ['stop', '-u', U2]],
    ['no class dir', async (tr) => rm(join(tr.sys, 'class'), { recursive: true }), ['start', '-u', U9, '-p', 'mtty', '-t', 'mtty-1']],
    ['no class dir for types', async (tr) => rm(join(tr.sys, 'class'), { recursive: true }), ['types']],
    ['missing notifiers dir', async (tr) => rm(join(tr.etc, 'scripts.d/notifiers'), { recursive: true }), ['list']],
    ['missing callouts dir', async (tr) => rm(join(tr.etc, 'scripts.d/callouts'), { recursive: true }), ['types']],
    ['create refuses (EISDIR)', createIsDir, ['start', '-u', U9, '-p', 'mtty', '-t', 'mtty-2']],
    ['autostart failures are only warned', createIsDir, ['start-parent-mdevs', 'mtty']],
    ['remove refuses (EISDIR)', async (tr) => { await rm(join(tr.parentDir('mtty'), U2, 'remove')); await mkdir(join(tr.parentDir('mtty'), U2, 'remove')); }, ['stop', '-u', U2]],
    ['definitions parent is a file', async (tr) => writeFile(join(tr.etc, 'plainfile'), ''), ['define', '-u', U9, '-p', 'plainfile', '-t', 'x']],
    ['definitions parent is a file, listed', async (tr) => writeFile(join(tr.etc, 'plainfile'), ''), ['list', '-d']],
  ];
  for (const [name, breakIt, args] of cases) {
    await t.test(name, async () => {
      const tree = await richTree();
      try {
        await breakIt(tree);
        const um = await umdevctl(tree, args);
        assert.notEqual(um.stdout + um.stderr, '', 'says something');
        assertSame(um, await mdevctl(tree, args), tree, `${name}: ${args.join(' ')}`);
      } finally {
        await tree.remove();
      }
    });
  }
});

test('callouts and notifiers run with the same arguments and input, and a pre veto aborts as in mdevctl', async (t) => {
  const script = (veto: string): string => `#!/bin/sh
d=$(dirname "$0")
printf '%s ' "$(basename "$0")" "$@" >> "$d/../calls.log"
printf '\\n' >> "$d/../calls.log"
cat >> "$d/../calls.log"
printf '\\n' >> "$d/../calls.log"
[ "$4" = "${veto}" ] && { echo "vetoed by test" >&2; exit 1; }
exit 0
`;
  const setup = async (veto: string): Promise<FakeTree> => {
    const tr = await richTree();
    for (const [dir, name] of [['callouts', 'aaa'], ['notifiers', 'note']]) {
      const p = join(tr.etc, 'scripts.d', dir, name);
      await writeFile(p, script(dir === 'callouts' ? veto : 'never'));
      await chmod(p, 0o755);
    }
    return tr;
  };
  const cases: Array<[string, string[]]> = [
    ['pre', ['define', '-u', U9, '-p', 'mtty', '-t', 'mtty-1']],
    ['post', ['modify', '-u', U1, '--auto']],
    ['none', ['undefine', '-u', U4]],
    ['pre', ['start', '-u', U9, '-p', 'mtty', '-t', 'mtty-2']],
    ['none', ['stop', '-u', U2]],
  ];
  for (const [veto, args] of cases) {
    await t.test(`${args[0]} (veto at ${veto})`, async () => {
      const a = await setup(veto);
      const b = await setup(veto);
      try {
        const um = await umdevctl(a, args);
        assertSame(um, await mdevctl(b, args), a, args.join(' '));
        if (veto === 'pre') assert.match(um.stderr, /failed with return code 1/);
        assert.deepEqual(await snapshot(a.dir), await snapshot(b.dir), 'trees (and the callout logs) differ');
      } finally {
        await a.remove();
        await b.remove();
      }
    });
  }
});

test('a definition written by umdevctl is the file mdevctl writes', async (t) => {
  const tree = await richTree();
  t.after(() => tree.remove());
  const um = await umdevctl(tree, ['define', '-u', U9, '-p', 'mtty', '-t', 'mtty-1']);
  assert.equal(um.code, 0);
  assert.equal(await readFile(join(tree.etc, 'mtty', U9), 'utf8'), definitionText('mtty-1', 'manual'));
  const md = await mdevctl(tree, ['list', '-d', '-u', U9, '--dumpjson']);
  assert.equal(md.stdout, `${definitionText('mtty-1', 'manual')}\n`);
});

test('running mdevctl over a fake tree leaves the host /sys, /etc/mdevctl.d and mount table untouched', async (t) => {
  const tree = await richTree();
  t.after(() => tree.remove());
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  const etc = (await readdir('/etc/mdevctl.d')).sort();
  const md = await mdevctl(tree, ['define', '-u', U9, '-p', 'mtty', '-t', 'mtty-1']);
  assert.equal(md.code, 0, md.stderr);
  await readFile(join(tree.etc, 'mtty', U9), 'utf8');
  assert.equal(await readFile('/proc/self/mountinfo', 'utf8'), mounts);
  assert.deepEqual((await readdir('/etc/mdevctl.d')).sort(), etc);
  await assert.rejects(lstat(join('/sys/bus/mdev/devices', U1)));
});

test('callouts run in directory order; the owner of a device answers `get` for list and define', async (t) => {
  const script = (name: string, owner: boolean): string => `#!/bin/sh
echo "${name} $*" >> "$(dirname "$0")/../order.log"
${owner ? `[ "$4" = get ] && { echo '[{"vendor/knob":"7"}]'; exit 0; }` : ''}
exit 2
`;
  const setup = async (): Promise<FakeTree> => {
    const tr = await richTree();
    for (const n of ['zeta', 'alpha', 'mid', 'beta']) {
      const p = join(tr.etc, 'scripts.d/callouts', n);
      await writeFile(p, script(n, n === 'mid'));
      await chmod(p, 0o755);
    }
    return tr;
  };
  const a = await setup();
  const b = await setup();
  t.after(async () => {
    await a.remove();
    await b.remove();
  });
  for (const args of [['list', '-v', '-p', 'mtty'], ['define', '-u', U2], ['list', '-d', '-v', '-u', U2]]) {
    const um = await umdevctl(a, args);
    assertSame(um, await mdevctl(b, args), a, args.join(' '));
  }
  assert.match(await readFile(join(a.etc, 'mtty', U2), 'utf8'), /"vendor\/knob": "7"/);
  assert.deepEqual(await snapshot(a.dir), await snapshot(b.dir), 'trees (and the callout logs) differ');
});

test('definition file names and --uuid values are parsed as leniently as mdevctl parses them', async (t) => {
  const tree = await richTree();
  t.after(() => tree.remove());
  const def = definitionText('mtty-1', 'auto');
  for (const name of ['AAAAAAAA-2222-4222-8222-222222222222', 'bbbbbbbb222242228222222222222222', '{cccccccc-2222-4222-8222-222222222222}', 'urn:uuid:dddddddd-2222-4222-8222-222222222222']) {
    await tree.addDefinition('mtty', name, def);
  }
  for (const args of [['list', '-d'], ['list', '-d', '--dumpjson'], ['list', '-u', `{${U1}}`], ['list', '-u', U1.replaceAll('-', '')], ['list', '-u', `urn:uuid:${U1}`], ['list', '-d', '-u', U1.toUpperCase()]]) {
    const um = await umdevctl(tree, args);
    assert.equal(um.code, 0, um.stderr);
    assertSame(um, await mdevctl(tree, args), tree, args.join(' '));
  }
});
