/** umdevctl beyond mdevctl: roots, --json, online/offline, reset, events, usage errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdir, readFile, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Sysroot } from '../../src/mdevctl/sysroot.js';
import { fileURLToPath } from 'node:url';
import { golden, normalise, spawnCollect, umdevctl } from './harness.js';
import { U1, U2, U9, richTree } from './trees.js';

test('Sysroot: flags win over UMDEV_* variables, which win over /sys and /etc/mdevctl.d', () => {
  const d = new Sysroot();
  assert.equal(d.mdevDevices, '/sys/bus/mdev/devices');
  assert.equal(d.mdevBus, '/sys/class/mdev_bus');
  assert.equal(d.definitions, '/etc/mdevctl.d');
  assert.deepEqual(d.calloutDirs, { callouts: '/etc/mdevctl.d/scripts.d/callouts', notifiers: '/etc/mdevctl.d/scripts.d/notifiers' });
  const env = { UMDEV_SYSFS_ROOT: '/mnt/sys', UMDEV_CONFIG_ROOT: '/mnt/etc' };
  assert.equal(Sysroot.resolve({}, env).mdevDevices, '/mnt/sys/bus/mdev/devices');
  assert.equal(Sysroot.resolve({ configRoot: '/x' }, env).definitionPath('p', U1), `/x/p/${U1}`);
  assert.equal(Sysroot.resolve({ sysfsRoot: '' }, {}).sysfsRoot, '/sys');
});

test('--json: listings have the --dumpjson shape, changes print the uuid, errors are JSON on stderr', async (t) => {
  const tree = await richTree();
  t.after(() => tree.remove());
  const types = await umdevctl(tree, ['--json', 'types', '-p', 'mtty']);
  assert.equal(types.stdout, (await umdevctl(tree, ['types', '-p', 'mtty', '--dumpjson'])).stdout);
  assert.equal(JSON.parse(types.stdout)[0].mtty[0]['mtty-1'].available_instances, 22);
  const list = await umdevctl(tree, ['list', '-d', '--json']);
  assert.equal(list.stdout, (await umdevctl(tree, ['list', '-d', '--dumpjson'])).stdout);

  const def = await umdevctl(tree, ['define', '-p', 'mtty', '-t', 'mtty-2', '--json']);
  assert.equal(def.code, 0);
  const { uuid } = JSON.parse(def.stdout) as { uuid: string };
  assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  await access(join(tree.etc, 'mtty', uuid));

  const started = await umdevctl(tree, ['start', '-u', U9, '-p', 'mtty', '-t', 'mtty-1', '--json']);
  assert.deepEqual(JSON.parse(started.stdout), { uuid: U9 });
  assert.equal(await readFile(join(tree.parentDir('mtty'), 'mdev_supported_types/mtty-1/create'), 'utf8'), U9);

  const dup = await umdevctl(tree, ['--json', 'start', '-u', U1]);
  assert.equal(dup.code, 1);
  assert.equal(dup.stdout, '');
  const [warning, error] = dup.stderr.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
  assert.deepEqual(warning, { warning: { message: "Can't determine uuid for file 'junk'" } });
  assert.deepEqual(error, { error: { errno: 'EEXIST', message: 'Device already exists' } });
  const gone = await umdevctl(tree, ['--json', 'stop', '-u', U9]);
  assert.deepEqual(JSON.parse(gone.stderr.trimEnd().split('\n').pop() ?? ''), { error: { errno: 'ENOENT', message: `Error removing device ${U9}: No such file or directory (os error 2)` } });
  await golden('json', 'errors.text', `${dup.stderr}${gone.stderr}`);
});

test('online/offline write 1/0 to each device, reset writes 1, and nothing is created for a missing attribute', async (t) => {
  const tree = await richTree();
  t.after(() => tree.remove());
  for (const u of [U1, U2]) {
    await writeFile(join(tree.parentDir('mtty'), u, 'online'), '0\n');
    await writeFile(join(tree.parentDir('mtty'), u, 'reset'), '');
  }
  const on = await umdevctl(tree, ['online', '-u', U1, '-u', U2]);
  assert.deepEqual(on, { stdout: '', stderr: '', code: 0 });
  // O_WRONLY without O_TRUNC: sysfs ignores the offset; on a plain file the old newline stays.
  for (const u of [U1, U2]) assert.equal(await readFile(join(tree.root.mdevPath(u), 'online'), 'utf8'), '1\n');
  const off = await umdevctl(tree, ['--json', 'offline', '-u', U2]);
  assert.deepEqual(JSON.parse(off.stdout), { uuids: [U2], online: false });
  assert.equal((await readFile(join(tree.root.mdevPath(U2), 'online'), 'utf8'))[0], '0');
  assert.equal((await umdevctl(tree, ['reset', '-u', U1])).code, 0);
  assert.equal(await readFile(join(tree.root.mdevPath(U1), 'reset'), 'utf8'), '1');

  const missing = await umdevctl(tree, ['online', '-u', U1, '-u', U9]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, `Error: Failed to set device ${U9} online\n\nCaused by:\n    No such file or directory (os error 2)\n`);
  const noReset = await umdevctl(tree, ['reset', '-u', U9]);
  assert.equal(noReset.code, 1);
  await assert.rejects(access(join(tree.sys, 'bus/mdev/devices', U9)), 'nothing was created');
});

test('usage errors exit 2 with a clap-style message; the environment is checked first', async (t) => {
  const tree = await richTree();
  t.after(() => tree.remove());
  const bad = await umdevctl(tree, ['list', '-u', 'zz']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, `error: Invalid value "zz" for '--uuid <UUID>': invalid character: expected an optional prefix of \`urn:uuid:\` followed by [0-9a-zA-Z], found \`z\` at 1\n\nFor more information try --help\n`);
  assert.equal((await umdevctl(tree, ['stop'])).code, 2);
  assert.equal((await umdevctl(tree, ['modify', '-u', U1, '-a', '-m'])).code, 2);
  assert.equal((await umdevctl(tree, ['modify', '-u', U1, '--addattr', 'x'])).code, 2);
  assert.equal((await umdevctl(tree, ['bogus'])).code, 2);
  assert.equal((await umdevctl(tree, ['list', '--bogus'])).code, 2);
  const help = await umdevctl(tree, ['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /start-parent-mdevs/);
  const noEnv = await umdevctl(tree, ['--config-root', join(tree.dir, 'nowhere'), 'list', '-u', 'zz']);
  assert.equal(noEnv.code, 1);
  assert.match(noEnv.stderr, /^Error: Required directory ".*nowhere" doesn't exist/);
});

test('events follows the daemon stream from --api or <state-dir>/api.json', async (t) => {
  const tree = await richTree();
  t.after(() => tree.remove());
  const serve = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.url !== '/events') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.write('{"type":"add","uuid":"a"}\n{"type":');
    setTimeout(() => res.write('"remove","uuid":"a"}\n\n'), 20);
    setTimeout(() => res.end('{"type":"add","uuid":"b"}\n'), 40);
  };
  const server = createServer(serve);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const all = await umdevctl(tree, ['events', '--api', url]);
  assert.equal(all.code, 0, all.stderr);
  assert.equal(all.stdout, '{"type":"add","uuid":"a"}\n{"type":"remove","uuid":"a"}\n{"type":"add","uuid":"b"}\n');

  // The same server on a Unix socket, named by api.json as umdevd writes it.
  const state = join(tree.dir, 'state');
  await mkdir(state);
  const sock = join(state, 'api.sock');
  const unix = createServer(serve);
  await new Promise<void>((r) => unix.listen(sock, r));
  t.after(() => new Promise<void>((r) => unix.close(() => r())));
  await writeFile(join(state, 'api.json'), JSON.stringify({ socket: sock, url: null }));
  const two = await umdevctl(tree, ['events', '--state-dir', state, '-n', '2']);
  assert.equal(two.stdout.split('\n').length, 3);

  await new Promise<void>((r) => server.close(() => r()));
  const none = await umdevctl(tree, ['events', '--state-dir', join(tree.dir, 'nostate')]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /api\.json/);
});

test('the built bin runs as an executable with the same output and exit codes', async (t) => {
  const tree = await richTree();
  t.after(() => tree.remove());
  const bin = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', UMDEV_SYSFS_ROOT: tree.sys, UMDEV_CONFIG_ROOT: tree.etc };
  const list = await spawnCollect(bin, ['list', '-p', 'mtty'], env);
  const inProcess = await umdevctl(tree, ['list', '-p', 'mtty']);
  assert.equal(list.code, 0);
  assert.equal(list.stdout, inProcess.stdout);
  assert.equal(normalise(list.stderr), normalise(inProcess.stderr));
  assert.equal((await spawnCollect(bin, ['stop', '-u', U9], env)).code, 1);
  assert.equal((await spawnCollect(bin, ['stop'], env)).code, 2);
});

test('where: the state dir the one rule finds, why, its umdevd, and the paths its api.json names', async (t) => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { run } = await import('../../src/cli/main.js');
  const { BufferWriter } = await import('../../src/mdevctl/io.js');
  const dir = await mkdtemp('/tmp/umdev-where-');
  t.after(() => rm(dir, { recursive: true, force: true }));
  const where = async (args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> => {
    const stdout = new BufferWriter();
    const code = await run(['where', ...args], { stdout, stderr: new BufferWriter(), env });
    return { code, out: stdout.text };
  };
  // No api.json: the default layout under the dir, and no daemon.
  const bare = await where(['--json', '--state-dir', dir]);
  assert.equal(bare.code, 0);
  assert.deepEqual(JSON.parse(bare.out), { stateDir: dir, source: 'flag', pid: null, sysfs: join(dir, 'sys'), definitions: join(dir, 'mdevctl.d'), sockets: join(dir, 'run') });
  // A live daemon's api.json (this process stands in for it) names its pid and its own paths.
  await writeFile(join(dir, 'api.json'), JSON.stringify({ pid: process.pid, sysfs: '/srv/sys', definitions: '/srv/defs', run: '/srv/run' }));
  const live = JSON.parse((await where(['--json'], { UMDEV_STATE: dir })).out) as Record<string, unknown>;
  assert.deepEqual(live, { stateDir: dir, source: 'env', pid: process.pid, sysfs: '/srv/sys', definitions: '/srv/defs', sockets: '/srv/run' });
  const text = (await where(['--state-dir', dir])).out;
  assert.match(text, new RegExp(`^umdevd: +pid ${process.pid}$`, 'm'));
  assert.match(text, /^sockets: +\/srv\/run$/m);
});
