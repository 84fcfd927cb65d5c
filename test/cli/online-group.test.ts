/**
 * `online`/`offline` of a group: through umdevd's API (one core call, one vendor group call, all or none) and
 * through plain sysfs files (all or none by rollback), against a real core with toy parents.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { BufferWriter } from '../../src/mdevctl/io.js';
import { run as main } from '../../src/cli/main.js';
import { Core } from '../../src/core/core.js';
import { err } from '../../src/errors.js';
import type { ParentSpec } from '../../src/core/types.js';
import { ApiServer } from '../../src/daemon/api/server.js';
import { SysfsTree } from '../../src/sysfs/index.js';
import { collectingLogger } from '../daemon/helpers.js';
import { toyParent } from '../daemon/toy.js';
import type { DeviceInstance } from '../../src/vfio-user/instance.js';
import { serve } from '../fuse/helpers.js';
import { FakeTree } from './fake-tree.js';
import { umdevctl } from './harness.js';
import { U1, U2, U9, richTree } from './trees.js';

const A1 = 'a1a1a1a1-0000-4000-8000-000000000001';
const A2 = 'a2a2a2a2-0000-4000-8000-000000000002';
const B1 = 'b1b1b1b1-0000-4000-8000-000000000003';

/** A toy parent that records its vendor calls; `start` of a uuid in `failStart` fails with EIO. */
function recordingParent(name: string, opts: { group: boolean; failStart?: Set<string> }): { spec: ParentSpec<DeviceInstance>; calls: string[] } {
  const base = toyParent(name);
  const calls: string[] = [];
  const failStart = opts.failStart ?? new Set<string>();
  const start = (uuid: string): void => {
    if (failStart.has(uuid)) throw err('EIO', `toy ${name} cannot start ${uuid}`);
  };
  const spec: ParentSpec<DeviceInstance> = {
    ...base,
    ops: {
      ...base.ops,
      start: (d) => {
        calls.push(`start ${d.uuid}`);
        start(d.uuid);
      },
      stop: (d) => void calls.push(`stop ${d.uuid}`),
      ...(opts.group
        ? {
            startGroup: (list) => {
              calls.push(`startGroup ${list.map((x) => x.device.uuid).join(' ')}`);
              for (const x of list) start(x.device.uuid);
            },
            stopGroup: (list) => void calls.push(`stopGroup ${list.map((x) => x.device.uuid).join(' ')}`),
          }
        : {}),
    },
  };
  return { spec, calls };
}

/** A fake tree supplies the config root (mdevctl's self check); the sysfs root is given per test. */
async function configTree(t: TestContext): Promise<FakeTree> {
  const tree = await FakeTree.create();
  t.after(() => tree.remove());
  return tree;
}

async function apiOver(t: TestContext, core: Core, dir: string): Promise<string> {
  const api = await ApiServer.listen(
    { core, log: collectingLogger().log, socketPath: (u) => `/run/x/${u}.sock`, definitions: { dir: join(dir, 'defs') } },
    { socket: { path: join(dir, 'api.sock'), mode: 0o600 }, access: { gid: undefined, readers: 'any' } },
  );
  t.after(() => api.close());
  return api.socketPath as string;
}

test('online/offline with --api: one POST /groups/online, one vendor startGroup for the group', async (t) => {
  const tree = await configTree(t);
  const core = new Core();
  const toy = recordingParent('toy', { group: true });
  core.registerParent(toy.spec);
  t.after(() => core.unregisterParent('toy').catch(() => undefined));
  for (const u of [A1, A2]) await core.create('toy', 'toy-small', u);
  const url = await apiOver(t, core, tree.dir);

  const on = await umdevctl(tree, ['online', '--api', url, '-u', A1, '-u', A2]);
  assert.deepEqual(on, { stdout: '', stderr: '', code: 0 });
  assert.deepEqual(toy.calls, [`startGroup ${A1} ${A2}`], 'one vendor call for the whole group');
  assert.deepEqual([A1, A2].map((u) => core.device(u)?.online), [true, true]);

  // UMDEV_API names the daemon too; --json prints what was switched.
  const off = await umdevctl(tree, ['--json', 'offline', '-u', A1, '-u', A2], { UMDEV_API: url });
  assert.equal(off.code, 0, off.stderr);
  assert.deepEqual(JSON.parse(off.stdout), { uuids: [A1, A2], online: false });
  assert.deepEqual(toy.calls.slice(1), [`stopGroup ${A1} ${A2}`]);
  assert.deepEqual([A1, A2].map((u) => core.device(u)?.online), [false, false]);

  // --state-dir: the socket comes from <dir>/api.json, as umdevd writes it.
  await writeFile(join(tree.dir, 'api.json'), JSON.stringify({ socket: url, url: null, pid: process.pid }));
  assert.equal((await umdevctl(tree, ['online', '--state-dir', tree.dir, '-u', A2])).code, 0);
  assert.equal(core.device(A2)?.online, true);
  assert.equal(toy.calls.length, 3);
});

test('online with --api: a failing member leaves the whole group offline; the API errno is the error', async (t) => {
  const tree = await configTree(t);
  const core = new Core();
  const toy = recordingParent('toy', { group: true });
  const bad = recordingParent('bad', { group: false, failStart: new Set([B1]) });
  core.registerParent(toy.spec);
  core.registerParent(bad.spec);
  t.after(async () => {
    await core.unregisterParent('toy').catch(() => undefined);
    await core.unregisterParent('bad').catch(() => undefined);
  });
  for (const u of [A1, A2]) await core.create('toy', 'toy-small', u);
  await core.create('bad', 'toy-small', B1);
  const url = await apiOver(t, core, tree.dir);

  const on = await umdevctl(tree, ['online', '--api', url, '-u', A1, '-u', A2, '-u', B1]);
  assert.equal(on.code, 1);
  assert.equal(on.stderr, `Error: Failed to set devices ${A1}, ${A2}, ${B1} online\n\nCaused by:\n    toy bad cannot start ${B1}\n`);
  assert.deepEqual([A1, A2, B1].map((u) => core.device(u)?.online), [false, false, false], 'all or none');
  assert.deepEqual(toy.calls, [`startGroup ${A1} ${A2}`, `stopGroup ${A1} ${A2}`], 'the started parent was undone');

  const json = await umdevctl(tree, ['--json', 'online', '--api', url, '-u', B1]);
  assert.equal(json.code, 1);
  assert.deepEqual(JSON.parse(json.stderr), { error: { errno: 'EIO', message: `Failed to set device ${B1} online: toy bad cannot start ${B1}` } });
  const missing = await umdevctl(tree, ['--json', 'online', '--api', url, '-u', A1, '-u', U9]);
  assert.equal(JSON.parse(missing.stderr).error.errno, 'ENODEV');
  assert.equal(core.device(A1)?.online, false);

  // Nothing listens: the connection error, not a silent fallback to sysfs.
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const down = await umdevctl(tree, ['online', '--api', `http://127.0.0.1:${port}`, '-u', A1]);
  assert.equal(down.code, 1);
  assert.equal(
    down.stderr,
    `Error: Failed to set device ${A1} online\n\nCaused by:\n    0: Unable to connect to http://127.0.0.1:${port}/groups/online\n    1: Connection refused (os error 111)\n`,
  );
});

test('online without an API over a FUSE-mounted tree: a failing start rolls back the devices already switched', async (t) => {
  const tree = await configTree(t);
  const core = new Core();
  const toy = recordingParent('toy', { group: false, failStart: new Set([B1]) });
  core.registerParent(toy.spec);
  for (const u of [A1, A2, B1]) await core.create('toy', 'toy-small', u);
  const { mnt } = await serve(t, new SysfsTree(core));
  // Registered after serve(): hooks run in order, so the mount is gone before the parent is.
  t.after(() => core.unregisterParent('toy').catch(() => undefined));
  const flags = ['--sysfs-root', mnt, '--config-root', tree.etc];
  const run = async (args: readonly string[]): Promise<{ code: number; stderr: string }> => {
    const out = new BufferWriter();
    const errw = new BufferWriter();
    const code = await main([...flags, ...args], { stdout: out, stderr: errw, env: {} });
    return { code, stderr: errw.text };
  };

  const on = await run(['online', '-u', A1, '-u', A2, '-u', B1]);
  assert.equal(on.code, 1);
  assert.equal(on.stderr, `Error: Failed to set device ${B1} online\n\nCaused by:\n    Input/output error (os error 5)\n`);
  assert.deepEqual([A1, A2, B1].map((u) => core.device(u)?.online), [false, false, false], 'rolled back');
  assert.deepEqual(toy.calls, [`start ${A1}`, `start ${A2}`, `start ${B1}`, `stop ${A2}`, `stop ${A1}`], 'undone in reverse');

  // A device already in the wanted state is not "switched", so a rollback leaves it as it was.
  assert.equal((await run(['online', '-u', A1])).code, 0);
  toy.calls.length = 0;
  assert.equal((await run(['online', '-u', A1, '-u', A2, '-u', B1])).code, 1);
  assert.deepEqual([A1, A2, B1].map((u) => core.device(u)?.online), [true, false, false]);
  assert.deepEqual(toy.calls, [`start ${A2}`, `start ${B1}`, `stop ${A2}`]);
});

test('online without an API over plain files: a missing device rolls back the ones before it', async (t) => {
  const tree = await richTree();
  t.after(() => tree.remove());
  for (const u of [U1, U2]) await writeFile(join(tree.parentDir('mtty'), u, 'online'), '0\n');
  const r = await umdevctl(tree, ['online', '-u', U1, '-u', U2, '-u', U9]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `Error: Failed to set device ${U9} online\n\nCaused by:\n    No such file or directory (os error 2)\n`);
  for (const u of [U1, U2]) assert.equal((await readFile(join(tree.root.mdevPath(u), 'online'), 'utf8'))[0], '0', `${u} restored`);
});
