/**
 * bin/umdevctl and bin/lsmdev run the CLI from its CommonJS bundle (scripts/bundle-cli.mjs), not from the ES modules
 * the other CLI tests run in-process: the two must answer alike, byte for byte and with the same exit codes, for
 * listings, JSON, help, usage errors, debug logs, failures and changes (which also load the bundle's second file).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { normalise, spawnCollect, umdevctl, type Outcome } from './harness.js';
import { GVT, richTree, U1, U2, U9 } from './trees.js';
import type { FakeTree } from './fake-tree.js';

const BIN = fileURLToPath(new URL('../../../bin/', import.meta.url));

async function viaBin(program: 'umdevctl' | 'lsmdev', tree: FakeTree, args: readonly string[], env: Record<string, string>): Promise<Outcome> {
  return spawnCollect(`${BIN}${program}`, [...tree.flags, ...args], { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env });
}

function same(bin: Outcome, inProcess: Outcome, what: string): void {
  assert.equal(bin.code, inProcess.code, `${what}: exit code; stderr ${bin.stderr}`);
  assert.equal(bin.stdout, inProcess.stdout, `${what}: stdout`);
  assert.equal(normalise(bin.stderr), normalise(inProcess.stderr), `${what}: stderr`);
}

const READS: ReadonlyArray<readonly string[]> = [
  ['types'],
  ['types', '--dumpjson'],
  ['--json', 'types', '-p', 'mtty'],
  ['list'],
  ['list', '-d'],
  ['list', '-v'],
  ['list', '--dumpjson'],
  ['list', '-d', '-u', U1],
  ['list', '-p', GVT],
  ['--version'],
  ['--help'],
  ['help', 'list'],
  ['start', '-h'],
  [],
  ['bogus'],
  ['list', '--bogus'],
  ['list', '-u', 'nope'],
  ['define', '--jsonfile', 'x', '-t', 'y'],
  ['undefine'],
  ['stop', '-u', U9],
  ['events', '--state-dir', '/nonexistent'],
];

test('umdevctl from the bundle reads, helps and refuses exactly as the modules do', async (t) => {
  const tree = await richTree();
  t.after(() => tree.remove());
  for (const args of READS) same(await viaBin('umdevctl', tree, args, {}), await umdevctl(tree, args), args.join(' '));
  const debug = { MDEVCTL_LOG: 'debug', MDEVCTL_LOG_STYLE: 'always' };
  same(await viaBin('umdevctl', tree, ['list'], debug), await umdevctl(tree, ['list'], debug), 'list with debug logs');
});

test('lsmdev from the bundle is list under its own name, as in-process', async (t) => {
  const tree = await richTree();
  t.after(() => tree.remove());
  const lsmdev = async (args: readonly string[]): Promise<Outcome> => {
    const { run } = await import('../../src/cli/main.js');
    const { BufferWriter } = await import('../../src/mdevctl/io.js');
    const stdout = new BufferWriter();
    const stderr = new BufferWriter();
    const code = await run([...tree.flags, ...args], { stdout, stderr, env: {}, program: 'lsmdev' });
    return { stdout: stdout.text, stderr: stderr.text, code };
  };
  for (const args of [[], ['-d', '--dumpjson'], ['--help'], ['-V'], ['--bogus']]) same(await viaBin('lsmdev', tree, args, {}), await lsmdev(args), `lsmdev ${args.join(' ')}`);
});

test('umdevctl from the bundle changes a tree exactly as the modules do', async (t) => {
  const [a, b] = [await richTree(), await richTree()];
  t.after(() => Promise.all([a.remove(), b.remove()]));
  const steps: ReadonlyArray<readonly string[]> = [
    ['define', '-u', U9, '-p', 'mtty', '-t', 'mtty-2'],
    ['modify', '-u', U9, '--auto', '--addattr', 'echo', '--value', 'off'],
    ['list', '-d', '-v'],
    ['undefine', '-u', U2],
    ['undefine', '-u', U9],
    ['list', '-d'],
  ];
  for (const args of steps) {
    const bin = await viaBin('umdevctl', a, args, {});
    const inProcess = await umdevctl(b, args);
    same({ ...bin, stdout: bin.stdout.replaceAll(a.dir, b.dir), stderr: bin.stderr.replaceAll(a.dir, b.dir) }, inProcess, args.join(' '));
  }
});
