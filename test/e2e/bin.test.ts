/**
 * The commands as the README runs them from a checkout: `bin/umdevd` is the daemon itself (the shell execs node, so
 * the pid a person sees and kills is the daemon's, and no wrapper is left holding the mount), and `bin/umdevctl`
 * and `bin/lsmdev` reach the CLI.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { BIN, isMounted, run, start, stateDir } from './umdevd-process.js';

test('bin/umdevd: the started pid is the daemon; SIGTERM to it unmounts, removes api.json and ends the process', async (t) => {
  const ctx = await stateDir(t, 'umdevd-bin-');
  const d = await start(ctx, [], { viaBin: true });
  const cmdline = (await readFile(`/proc/${d.pid}/cmdline`, 'utf8')).split('\0');
  assert.equal(path.basename(cmdline[0]!), path.basename(process.execPath), `pid ${d.pid} is node itself, not a wrapper: ${cmdline.join(' ')}`);
  assert.ok(cmdline.some((a) => a.endsWith('dist/src/daemon/main.js')), cmdline.join(' '));
  const info = JSON.parse(await readFile(path.join(ctx.dir, 'api.json'), 'utf8')) as { pid: number };
  assert.equal(info.pid, d.pid, 'api.json names the pid that was started');
  assert.ok(await isMounted(path.join(ctx.dir, 'sys')));
  process.kill(d.pid, 'SIGTERM');
  assert.deepEqual(await d.exited, { code: 0, signal: null });
  assert.equal(await isMounted(path.join(ctx.dir, 'sys')), false, 'no process is left holding the mount');
});

test('bin/umdevctl and bin/lsmdev run the CLI from any working directory', async () => {
  const v = await run(path.join(BIN, 'umdevctl'), ['--version']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^umdevctl \d+\.\d+\.\d+\n$/);
  const h = await run(path.join(BIN, 'lsmdev'), ['--help']);
  assert.equal(h.code, 0, h.stderr);
  assert.match(h.stdout, /^lsmdev \d+\.\d+\.\d+\nList mediated devices\n/);
});
