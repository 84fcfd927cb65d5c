/**
 * The one rule for finding umdevd (find-state.ts) and the roots an mdevctl command of umdevctl reads (roots.ts):
 * each step of the rule in turn, a dead daemon's api.json not counting as a daemon, and the fallback from a host
 * without mdev parents to a running umdevd's tree, said on stderr either way.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { describeState, findStateDir, liveDaemon } from '../../src/cli/find-state.js';
import { resolveRoots } from '../../src/cli/roots.js';

async function scratch(t: { after: (f: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'umdev-find-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A state dir whose api.json names `pid`. */
async function state(dir: string, pid: number): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'api.json'), JSON.stringify({ pid, socket: path.join(dir, 'api.sock'), sysfs: path.join(dir, 'sys'), definitions: path.join(dir, 'mdevctl.d'), run: path.join(dir, 'run') }));
  return dir;
}

test('the rule: --state-dir, then UMDEV_STATE, then a live ./umdev-state, then /var/lib/umdev', async (t) => {
  const cwd = await scratch(t);
  assert.deepEqual(findStateDir('x', { UMDEV_STATE: 'y' }, cwd), { dir: path.join(cwd, 'x'), source: 'flag', pid: undefined });
  assert.equal(findStateDir(undefined, { UMDEV_STATE: 'y' }, cwd).source, 'env');
  assert.equal(findStateDir('', { UMDEV_STATE: '' }, cwd).dir, '/var/lib/umdev', 'empty counts as unset');
  // A ./umdev-state whose daemon is gone (a pid that cannot exist) does not count.
  await state(path.join(cwd, 'umdev-state'), 0x3fffffff);
  assert.equal(liveDaemon(path.join(cwd, 'umdev-state')), undefined);
  const sys = findStateDir(undefined, {}, cwd);
  assert.equal(sys.source, 'system');
  assert.match(describeState(sys, cwd), /^\/var\/lib\/umdev \(the default: no --state-dir, no UMDEV_STATE, and no umdevd holds \.\/umdev-state\)$/);
  await state(path.join(cwd, 'umdev-state'), process.pid);
  const local = findStateDir(undefined, {}, cwd);
  assert.deepEqual(local, { dir: path.join(cwd, 'umdev-state'), source: 'local', pid: process.pid });
  assert.equal(describeState(local, cwd), `umdev-state (held by umdevd pid ${process.pid})`);
});

test('umdevctl roots: explicit roots win; a state dir gives its trees; a host without mdev_bus falls back to a running umdevd, and says so', async (t) => {
  const dir = await scratch(t);
  const host = path.join(dir, 'host-sys');
  await mkdir(host);
  const s = await state(path.join(dir, 'daemon'), process.pid);
  const explicit = resolveRoots({ sysfsRoot: '/tmp/a' }, { UMDEV_STATE: s }, true, host);
  assert.equal(explicit.root.sysfsRoot, '/tmp/a');
  assert.equal(explicit.note, undefined);
  const given = resolveRoots({ stateDir: s }, {}, true, host);
  assert.equal(given.root.sysfsRoot, path.join(s, 'sys'));
  assert.equal(given.root.configRoot, path.join(s, 'mdevctl.d'));
  assert.equal(given.note, undefined);
  const fromEnv = resolveRoots({}, { UMDEV_STATE: s }, false, host);
  assert.equal(fromEnv.root.sysfsRoot, path.join(s, 'sys'), 'UMDEV_STATE applies to every command');

  const prev = process.cwd();
  process.chdir(dir);
  t.after(() => process.chdir(prev));
  // No mdev_bus on the host, no live ./umdev-state: the host's tree, said so.
  const none = resolveRoots({}, {}, true, host);
  assert.equal(none.root.sysfsRoot, host);
  assert.match(none.note ?? '', /has no mdev_bus and no umdevd was found .*reading the host's tree/);
  await state(path.join(dir, 'umdev-state'), process.pid);
  const fallback = resolveRoots({}, {}, true, host);
  assert.equal(fallback.root.sysfsRoot, path.join(dir, 'umdev-state', 'sys'));
  assert.equal(fallback.note, `umdevctl: the host's ${host} has no mdev_bus; using umdevd's tree in umdev-state (held by umdevd pid ${process.pid})`);
  assert.equal(resolveRoots({}, {}, false, host).root.sysfsRoot, host, 'commands that read no tree never fall back');
  // A host with mdev parents is mdevctl's world: its /sys, silently.
  await mkdir(path.join(host, 'class/mdev_bus'), { recursive: true });
  const kernel = resolveRoots({}, {}, true, host);
  assert.equal(kernel.root.sysfsRoot, host);
  assert.equal(kernel.note, undefined);
});
