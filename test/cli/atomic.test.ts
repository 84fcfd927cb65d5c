/**
 * Definitions are written atomically: a process doing a burst of defines and modifies is killed with SIGKILL at
 * arbitrary moments, and afterwards every definition file parses (with umdevctl's parser and with the real mdevctl,
 * which must not even warn about leftovers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDefinition } from '../../src/mdevctl/definitions.js';
import { parseJson } from '../../src/mdevctl/serde-json.js';
import { mdevctl } from './harness.js';
import { U1, richTree } from './trees.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** A child that defines new devices and rewrites U1's definition as fast as it can, until killed. */
function burst(flags: readonly string[]): ReturnType<typeof spawn> {
  const src = `
    import { run } from ${JSON.stringify(MAIN)};
    const io = { stdout: { write() {} }, stderr: process.stderr, env: {} };
    const flags = ${JSON.stringify(flags)};
    for (let i = 0; ; i++) {
      await run([...flags, 'define', '-p', 'mtty', '-t', 'mtty-1'], io);
      await run([...flags, 'modify', '-u', ${JSON.stringify(U1)}, '--addattr', 'k' + i, '--value', 'x'.repeat(i % 4096)], io);
      if (i % 8 === 7) await run([...flags, 'modify', '-u', ${JSON.stringify(U1)}, '--delattr', '-i', '0'], io);
      if (i === 2) process.stdout.write('running\\n');
    }`;
  return spawn(process.execPath, ['--input-type=module', '-e', src], { stdio: ['ignore', 'pipe', 'inherit'] });
}

test('a definitions directory survives SIGKILL in the middle of a burst of writes', async (t) => {
  const tree = await richTree();
  t.after(() => tree.remove());
  const children: Array<ReturnType<typeof spawn>> = [];
  t.after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
  for (let round = 0; round < 16; round++) {
    const child = burst(tree.flags);
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`writer exited early (${code})`)));
    });
    // Kill at a different point of the write cycle each round.
    await new Promise((r) => setTimeout(r, (23 * round) % 97 + 3));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.equal(child.signalCode, 'SIGKILL');
  }
  const dir = join(tree.etc, 'mtty');
  let files = 0;
  for (const name of await readdir(dir)) {
    const st = await lstat(join(dir, name));
    if (!st.isFile() || name === 'junk') continue;
    const text = await readFile(join(dir, name), 'utf8');
    assert.doesNotThrow(() => parseDefinition(parseJson(text)), `${name} is torn: ${JSON.stringify(text.slice(-80))}`);
    files++;
  }
  assert.ok(files > 6, `the writers made progress (${files} files)`);
  const md = await mdevctl(tree, ['list', '-d', '-p', 'mtty']);
  assert.equal(md.code, 0, md.stderr);
  assert.equal(md.stderr.replace(/^.*Can't determine uuid for file 'junk'\n/m, ''), '', 'mdevctl sees no leftovers');
  assert.equal(md.stdout.split('\n').filter((l) => l !== '').length, files);
});
