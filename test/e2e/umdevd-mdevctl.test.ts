/**
 * End-to-end: the unmodified mdevctl and umdevctl, pointed at the same running umdevd (its FUSE mount and its
 * definitions dir), print byte-identical output. mdevctl 1.2.0 only looks at /sys and /etc/mdevctl.d, so it runs in a
 * private mount namespace with the mount rbound over /sys and the definitions bound over /etc/mdevctl.d.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { call } from '../daemon/helpers.js';
import { UMDEVCTL, run, start, stateDir } from './umdevd-process.js';

const A = 'b6f0e1a2-3c4d-4e5f-8a6b-7c8d9e0f1a2b';
const B = '0a1b2c3d-4e5f-4061-8728-394a5b6c7d8e';
const C = 'f0e1d2c3-b4a5-4967-8879-6a5b4c3d2e1f';

test('mdevctl and umdevctl agree byte for byte on the same mount and definitions', async (t) => {
  const which = await run('sh', ['-c', 'command -v mdevctl && command -v unshare']);
  assert.equal(which.code, 0, 'mdevctl and unshare are needed: apt-get install mdevctl util-linux');
  const ctx = await stateDir(t, 'umdevd-mdevctl-');
  const { dir } = ctx;
  const d = await start(ctx);
  const sys = path.join(dir, 'sys');
  const defs = path.join(dir, 'mdevctl.d');

  // Two active devices (one also defined, with attributes), and one defined but not active.
  for (const [uuid, type] of [
    [A, 'mtty-2'],
    [B, 'mtty-1'],
  ]) {
    assert.equal((await call(d.url, 'POST', '/devices', { parent: 'mtty', type, uuid })).status, 201);
  }
  for (const body of [
    { parent: 'mtty', uuid: A, type: 'mtty-2', start: 'auto', attrs: [{ 'vendor/knob': '1' }, { other: 'x y' }] },
    { parent: 'mtty', uuid: C, type: 'mtty-1', start: 'manual' },
  ]) {
    assert.equal((await call(d.url, 'POST', '/definitions', body)).status, 201);
  }

  const mdevctl = (args: readonly string[]): ReturnType<typeof run> =>
    run('unshare', ['-m', 'sh', '-c', 'mount --rbind "$0" /sys && mount --bind "$1" /etc/mdevctl.d && shift && exec mdevctl "$@"', sys, defs, ...args]);
  const umdevctl = (args: readonly string[]): ReturnType<typeof run> =>
    run(process.execPath, [UMDEVCTL, '--sysfs-root', sys, '--config-root', defs, ...args]);

  const cases: string[][] = [
    ['types'],
    ['types', '--dumpjson'],
    ['types', '-p', 'mtty'],
    ['types', '-p', 'nosuch'],
    ['list'],
    ['list', '-v'],
    ['list', '--dumpjson'],
    ['list', '-d'],
    ['list', '-d', '-v'],
    ['list', '-d', '--dumpjson'],
    ['list', '-u', A, '--dumpjson'],
    ['list', '-d', '-u', C],
    ['list', '-p', 'mtty', '-v'],
  ];
  for (const args of cases) {
    const [m, u] = await Promise.all([mdevctl(args), umdevctl(args)]);
    assert.equal(m.code, 0, `mdevctl ${args.join(' ')} failed: ${m.stderr}`);
    assert.equal(u.stdout, m.stdout, `stdout of ${args.join(' ')}`);
    assert.equal(u.code, m.code, `exit code of ${args.join(' ')}`);
  }
  // Sanity: the comparison saw real content.
  assert.match((await mdevctl(['list'])).stdout, new RegExp(`${A} mtty mtty-2 auto \\(defined\\)`));
});
