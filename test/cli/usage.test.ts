/**
 * Help, usage errors and logging against the real mdevctl 1.2.0: for every command mdevctl has, `umdevctl help CMD`,
 * `CMD --help`, `CMD -h` and each kind of clap error read exactly as mdevctl's (program name and version aside), and
 * MDEVCTL_LOG / MDEVCTL_LOG_STYLE filter and colour the log lines as mdevctl's env_logger does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BufferWriter } from '../../src/cli/io.js';
import { run } from '../../src/cli/main.js';
import { mdevctl, normalise, spawnCollect, umdevctl, type Outcome } from './harness.js';
import { richTree, U1 } from './trees.js';

const U = '11111111-2222-4222-8222-222222222222';
const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** mdevctl's output as umdevctl would print it: the other program name, umdevctl's version. */
function asUmdevctl(o: Outcome): Outcome {
  const fix = (s: string): string => s.replaceAll('mdevctl', 'umdevctl').replaceAll('1.2.0', VERSION);
  return { stdout: fix(o.stdout), stderr: fix(o.stderr), code: o.code };
}

const SAME: ReadonlyArray<readonly string[]> = [
  ...['define', 'undefine', 'modify', 'start', 'stop', 'list', 'types', 'start-parent-mdevs'].flatMap((c) => [['help', c], [c, '--help'], [c, '-h']]),
  ['help', 'nope'],
  ['stop'],
  ['define'],
  ['define', '-t', 'y'],
  ['undefine', '-p', 'x'],
  ['start-parent-mdevs'],
  ['list', '-u', 'notauuid'],
  ['list', '-u', '1234'],
  ['list', '-u', `${U}0`],
  ['list', '-u', U.slice(1)],
  ['list', '-u', `{${U}`],
  ['list', '-u', 'urn:uuid:zz'],
  ['list', '-u', U.replace('-2222-', '2222-')],
  ['define', '-p', 'x', '--jsonfile', 'f', '-t', 'y'],
  ['define', '--jsonfile', 'f', '-p', 'x', '-t', 'y'],
  ['define', '-a', '--jsonfile', 'f', '-p', 'x'],
  ['start', '-t', 'y', '--jsonfile', 'f', '-p', 'x'],
  ['modify', '--manual', '-u', U, '--auto'],
  ['modify', '-u', U, '--addattr', 'x', '--index', '1', '-p', 'p'],
  ['foo'],
  ['list', '--bogus'],
  ['list', '-u', U, '--bogus'],
  ['types', '--bogus'],
  // clap's suggestions for mistyped commands and long options (Jaro-Winkler above 0.8).
  ['lsit'],
  ['lis'],
  ['strat'],
  ['defne', '-p', 'x'],
  ['help', 'lsit'],
  ['list', '--dumpjsn'],
  ['list', '--verbos', '-d'],
  ['types', '--dumpjsn'],
  ['start', '--parnt', 'x'],
  ['modify', '-u', U, '--addatr', 'x'],
];

test('help texts and usage errors are mdevctl 1.2.0 word for word', async (t) => {
  const tree = await richTree();
  t.after(() => tree.remove());
  for (const args of SAME) {
    const um = await umdevctl(tree, args);
    const md = asUmdevctl(await mdevctl(tree, args));
    assert.deepEqual(um, md, `umdevctl ${args.join(' ')}`);
  }
});

test('umdevctl help lists every command; help and --help exit 0 on stdout', async (t) => {
  const tree = await richTree();
  t.after(() => tree.remove());
  const global = await umdevctl(tree, ['help']);
  assert.equal(global.code, 0);
  for (const c of ['define', 'list', 'online', 'events', 'help']) assert.match(global.stdout, new RegExp(`^    ${c} +\\S`, 'm'));
  assert.deepEqual(await umdevctl(tree, ['--help']), global);
  const online = await umdevctl(tree, ['online', '--help']);
  assert.equal(online.code, 0);
  assert.match(online.stdout, /^umdevctl-online \nSet one or more devices online/);
  assert.match(online.stdout, /--api <SOCKET\|URL>/);
});

test('MDEVCTL_LOG filters log lines and MDEVCTL_LOG_STYLE colours them as mdevctl does', async (t) => {
  const tree = await richTree();
  t.after(() => tree.remove());
  // richTree's stray `junk` definition draws mdevctl's WARN line from `list -d`.
  const cases: Array<Record<string, string>> = [
    {},
    { MDEVCTL_LOG: 'error' },
    { MDEVCTL_LOG: 'off' },
    { MDEVCTL_LOG: 'bogus' },
    { MDEVCTL_LOG: 'mdevctl::environment' },
    { MDEVCTL_LOG: 'info,mdevctl::environment=debug' },
    { MDEVCTL_LOG_STYLE: 'always' },
    { MDEVCTL_LOG_STYLE: 'never' },
  ];
  for (const env of cases) {
    const um = await umdevctl(tree, ['list', '-d'], env);
    const md = await mdevctl(tree, ['list', '-d'], env);
    assert.equal(normalise(um.stderr.replaceAll('\x1b[0m\x1b[38;5;8m[\x1b[0m', '[')), normalise(md.stderr.replaceAll('\x1b[0m\x1b[38;5;8m[\x1b[0m', '[')), JSON.stringify(env));
    assert.equal(um.stdout, md.stdout);
  }
  const debugLine = (o: Outcome): string | undefined => normalise(o.stderr).split('\n')[0];
  const env = { MDEVCTL_LOG: 'debug' };
  assert.equal(debugLine(await umdevctl(tree, ['types'], env)), '[TIMESTAMP DEBUG mdevctl] Starting up');
  assert.equal(debugLine(await mdevctl(tree, ['types'], env)), '[TIMESTAMP DEBUG mdevctl] Starting up');
});

test('modify -t of a running device: the next list says "Overwriting mdev type", as mdevctl does', async (t) => {
  const trees = [await richTree(), await richTree()];
  t.after(() => Promise.all(trees.map((x) => x.remove())));
  const [a, b] = trees as [Awaited<ReturnType<typeof richTree>>, Awaited<ReturnType<typeof richTree>>];
  assert.equal((await umdevctl(a, ['modify', '-u', U1, '-t', 'mtty-2'])).code, 0);
  assert.equal((await mdevctl(b, ['modify', '-u', U1, '-t', 'mtty-2'])).code, 0);
  const um = await umdevctl(a, ['list']);
  const md = await mdevctl(b, ['list']);
  assert.match(um.stderr, new RegExp(`WARN  mdevctl::mdev\\] Overwriting mdev type for mdev ${U1}: mtty-1 => mtty-2\n`));
  assert.equal(normalise(um.stderr, a), normalise(md.stderr, b));
  assert.equal(um.stdout, md.stdout);
});

test('lsmdev is list under another name: its own help, and the same listing', async (t) => {
  const tree = await richTree();
  t.after(() => tree.remove());
  const lsmdev = async (args: readonly string[]): Promise<Outcome> => {
    const stdout = new BufferWriter();
    const stderr = new BufferWriter();
    const code = await run([...tree.flags, ...args], { stdout, stderr, env: {}, program: 'lsmdev' });
    return { stdout: stdout.text, stderr: stderr.text, code };
  };
  const real = await spawnCollect('/usr/bin/lsmdev', ['--help']);
  assert.equal(real.code, 0, 'the Debian package mdevctl ships /usr/bin/lsmdev');
  assert.deepEqual(await lsmdev(['--help']), { ...real, stdout: real.stdout.replace('1.2.0', VERSION) });
  assert.deepEqual(await lsmdev(['-d']), await umdevctl(tree, ['list', '-d']));
  const listed = await lsmdev([]);
  assert.equal(listed.stdout, (await mdevctl(tree, ['list'])).stdout);
});
