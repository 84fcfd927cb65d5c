/**
 * What a person meets around the CLI: the man pages render without groff warnings and name their command, and the
 * bash completion, sourced into a real bash, completes commands, options, and the parents, types and UUIDs of the
 * tree named on the line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { exec } from '../process.js';
import { richTree, U1, U2, U4 } from './trees.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

async function need(bin: string, pkg: string): Promise<void> {
  await access(bin).catch(() => {
    throw new Error(`${bin} is missing: install the Debian package ${pkg}`);
  });
}

test('man/umdevctl.8, umdevd.8, lsmdev.8 and umdev-k8s.8 render cleanly and are listed in package.json for npm install -g', async () => {
  await need('/usr/bin/man', 'man-db');
  const pkg = (await import(`${ROOT}package.json`, { with: { type: 'json' } })) as { default: { man: string[] } };
  for (const name of ['umdevctl', 'umdevd', 'lsmdev', 'umdev-k8s']) {
    const r = await exec('man', ['--warnings', '-l', `${ROOT}man/${name}.8`], { env: { ...process.env, MANWIDTH: '80', MAN_KEEP_FORMATTING: '' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', `groff warnings for ${name}.8`);
    assert.match(r.stdout, new RegExp(`^NAME\\n {7}${name} +- `, 'm'));
    assert.ok(pkg.default.man.includes(`man/${name}.8`), `package.json "man" lists man/${name}.8`);
  }
});

test('every umdevctl command has its entry in man/umdevctl.8 and in the bash completion', async () => {
  const { HELP } = await import('../../src/cli/help.js');
  const man = await readFile(`${ROOT}man/umdevctl.8`, 'utf8');
  const completion = await readFile(`${ROOT}completions/umdevctl.bash`, 'utf8');
  const listed = /local commands="([^"]+)"/.exec(completion)?.[1]?.split(' ') ?? [];
  for (const cmd of Object.keys(HELP)) {
    const roff = cmd.replaceAll('-', '\\-');
    assert.ok(man.includes(`\n.TP\n\\fB${roff}\\fR`) || man.includes(`|\\fB${roff}\\fR`), `man/umdevctl.8 describes ${cmd}`);
    assert.ok(listed.includes(cmd), `the completion offers ${cmd}`);
  }
});

test('bash completion: commands, options, and parents, types and UUIDs from the tree on the command line', async (t) => {
  await need('/bin/bash', 'bash');
  const tree = await richTree();
  t.after(() => tree.remove());
  const complete = async (...words: string[]): Promise<string[]> => {
    const script = `. "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _umdevctl; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = await exec('bash', ['-c', script, `${ROOT}completions/umdevctl.bash`, ...words]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').filter((x) => x !== '').sort();
  };
  const roots = ['--sysfs-root', tree.sys, '--config-root', tree.etc];
  assert.deepEqual(await complete('umdevctl', 'st'), ['start', 'start-parent-mdevs', 'stop']);
  assert.deepEqual(await complete('umdevctl', 'list', '--d'), ['--defined', '--dumpjson']);
  assert.deepEqual(await complete('lsmdev', '--v'), ['--verbose', '--version']);
  assert.deepEqual(await complete('umdevctl', ...roots, 'start', '-p', ''), ['0000:00:02.0', 'mtty']);
  assert.deepEqual(await complete('umdevctl', ...roots, 'start', '-p', 'mtty', '-t', ''), ['mtty-1', 'mtty-2']);
  const uuids = await complete('umdevctl', ...roots, 'stop', '-u', '');
  for (const u of [U1, U2, U4]) assert.ok(uuids.includes(u), `${u} in ${uuids.join(' ')}`);
  assert.deepEqual(await complete('umdevctl', 'help', 'mo'), ['modify']);
  // Commands whose UUIDs are positional complete them too; screenshot's second word is a file.
  for (const cmd of ['screenshot', 'vm', 'qemu-args', 'migrate']) {
    const got = await complete('umdevctl', ...roots, cmd, '');
    for (const u of [U1, U2, U4]) assert.ok(got.includes(u), `${cmd}: ${u} in ${got.join(' ')}`);
  }
  assert.ok(!(await complete('umdevctl', ...roots, 'screenshot', U1, '')).includes(U2), 'after the UUID, a file name');
  assert.deepEqual(await complete('umdevctl', 'vm', '--co'), ['--config-root', '--console']);
  assert.ok((await complete('umdevctl', 'q')).includes('qemu-args'));
});
