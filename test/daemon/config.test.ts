import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { applyOverrides, defaultConfig, loadConfig, parseConfig, type DriverCatalog } from '../../src/daemon/config.js';
import { integer } from '../../src/daemon/validate.js';
import { parseCommandLine } from '../../src/daemon/args.js';
import { toyCatalog } from './toy.js';

const DRIVERS: DriverCatalog = {
  ...toyCatalog(),
  mtty: {
    keys: ['name', 'ports'],
    validate: (e, p, issues) => {
      if (e.ports !== undefined) integer(e.ports, `${p}.ports`, issues, 1, 4096);
    },
    create: () => {
      throw new Error('not used here');
    },
  },
};

test('defaults put everything under the state dir', () => {
  const c = defaultConfig('st');
  const dir = path.resolve('st');
  assert.equal(c.stateDir, dir);
  assert.equal(c.mount.path, path.join(dir, 'sys'));
  assert.equal(c.sockets.dir, path.join(dir, 'run'));
  assert.equal(c.definitions, path.join(dir, 'mdevctl.d'));
  assert.deepEqual(c.api, {
    enabled: true,
    socket: path.join(dir, 'api.sock'),
    group: undefined,
    readers: 'any',
    tcp: undefined,
    tokenFile: path.join(dir, 'api.token'),
    maxDefinitions: 1024,
  });
  assert.deepEqual(c.parents, [{ driver: 'mtty', options: {} }]);
  assert.equal(c.layout, 'mainline');
  assert.equal(c.extensions, true);
  assert.equal(c.busyPollUs, 50);
});

test('a full config file is applied, relative paths against the state dir', () => {
  const c = parseConfig(
    {
      parents: [{ driver: 'mtty', ports: 8 }, { driver: 'toy', name: 'toy0' }],
      mount: { path: 'mnt', enabled: false },
      sockets: { dir: '/tmp/socks', uid: 1000, gid: 1000, mode: '0600', dirMode: '0750' },
      definitions: '/etc/mdevctl.d',
      api: { socket: 'ctl.sock', group: 'kvm', readers: 'group', tcp: { host: '::1', port: 8080 }, tokenFile: '/etc/umdev/token', maxDefinitions: 5 },
      layout: 'v6',
      extensions: false,
      log: { level: 'debug', json: true },
      busyPollUs: 0,
    },
    '/srv/umdev',
    DRIVERS,
  );
  assert.deepEqual(c.parents, [
    { driver: 'mtty', options: { ports: 8 } },
    { driver: 'toy', options: { name: 'toy0' } },
  ]);
  assert.deepEqual(c.mount, { enabled: false, path: '/srv/umdev/mnt' });
  assert.deepEqual(c.sockets, { dir: '/tmp/socks', uid: 1000, gid: 1000, mode: 0o600, dirMode: 0o750 });
  assert.equal(c.definitions, '/etc/mdevctl.d');
  assert.deepEqual(c.api, {
    enabled: true,
    socket: '/srv/umdev/ctl.sock',
    group: 'kvm',
    readers: 'group',
    tcp: { host: '::1', port: 8080 },
    tokenFile: '/etc/umdev/token',
    maxDefinitions: 5,
  });
  assert.equal(parseConfig({ api: { group: 36 } }, '/s', DRIVERS).api.group, 36);
  assert.equal(c.layout, 'v6');
  assert.equal(c.extensions, false);
  assert.equal(c.busyPollUs, 0);
  assert.deepEqual(c.log, { level: 'debug', json: true });
});

// Each bad config must be refused with EINVAL and a message naming the field and what was expected.
const BAD: readonly [string, unknown, readonly string[]][] = [
  ['not an object', [], ['(top level): expected an object, got an array']],
  ['unknown top key', { parnts: [] }, ['parnts: unknown key']],
  ['parents not array', { parents: {} }, ['parents: expected an array, got an object']],
  ['unknown driver', { parents: [{ driver: 'gpu' }] }, ['parents[0].driver: expected one of', '"mtty"']],
  ['missing driver', { parents: [{ ports: 3 }] }, ['parents[0].driver: expected one of', 'got nothing']],
  ['bad driver option', { parents: [{ driver: 'mtty', ports: 0 }] }, ['parents[0].ports: expected an integer from 1 to 4096, got number 0']],
  ['unknown driver key', { parents: [{ driver: 'mtty', port: 3 }] }, ['parents[0].port: unknown key (allowed: driver, name, ports)']],
  ['port out of range', { api: { tcp: { host: '127.0.0.1', port: 70000 } } }, ['api.tcp.port: expected an integer from 0 to 65535, got number 70000']],
  ['port as string', { api: { tcp: { host: '127.0.0.1', port: '80' } } }, ['api.tcp.port: expected an integer from 0 to 65535, got "80"']],
  ['empty host', { api: { tcp: { host: '', port: 1 } } }, ['api.tcp.host: expected a non-empty string']],
  ['the old api keys', { api: { host: '127.0.0.1', port: 0 } }, ['api.host: unknown key (allowed: enabled, socket, group, readers, tcp, tokenFile, maxDefinitions)']],
  ['bad readers', { api: { readers: 'all' } }, ['api.readers: expected one of "any", "group", got "all"']],
  ['bad group', { api: { group: 'a b' } }, ['api.group: expected a group name or gid, got "a b"']],
  ['group with NUL', { api: { group: 'kvm\u0000' } }, ['api.group: expected a group name or gid']],
  ['negative definitions limit', { api: { maxDefinitions: -1 } }, ['api.maxDefinitions: expected an integer from 0']],
  ['parent named scripts.d', { parents: [{ driver: 'toy', name: 'scripts.d' }] }, ['parents[0].name: expected a name other than "scripts.d"']],
  ['parent name with a slash', { parents: [{ driver: 'toy', name: 'a/b' }] }, ['parents[0].name: expected a name of 1 to 255 bytes without "/"']],
  ['parent name with NUL', { parents: [{ driver: 'toy', name: 'a\u0000' }] }, ['parents[0].name: expected a name of 1 to 255 bytes']],
  ['parent name ..', { parents: [{ driver: 'toy', name: '..' }] }, ['parents[0].name: expected a name of 1 to 255 bytes']],
  ['hidden parent name', { parents: [{ driver: 'toy', name: '.toy' }] }, ['parents[0].name: expected a name that does not start with "."']],
  ['parent name too long', { parents: [{ driver: 'toy', name: 'p'.repeat(256) }] }, ['parents[0].name: expected a name of 1 to 255 bytes']],
  ['bad layout', { layout: 'v7' }, ['layout: expected one of "mainline", "v6", got "v7"']],
  ['extensions not bool', { extensions: 'off' }, ['extensions: expected true or false, got "off"']],
  ['bad log level', { log: { level: 'loud' } }, ['log.level: expected one of "debug", "info", "warn", "error"']],
  ['bad mode', { sockets: { mode: '999' } }, ['sockets.mode: expected a file mode as an octal string such as "0660"']],
  ['negative uid', { sockets: { uid: -1 } }, ['sockets.uid: expected an integer from 0']],
  ['mount not object', { mount: '/mnt' }, ['mount: expected an object, got "/mnt"']],
  ['mount.enabled not bool', { mount: { enabled: 'yes' } }, ['mount.enabled: expected true or false, got "yes"']],
  ['definitions empty', { definitions: '' }, ['definitions: expected a non-empty string']],
  ['busy poll above 1 ms', { busyPollUs: 1001 }, ['busyPollUs: expected an integer from 0 to 1000']],
  ['busy poll not a number', { busyPollUs: '50' }, ['busyPollUs: expected an integer']],
  ['two problems at once', { layout: 1, api: { hots: 'x' } }, ['layout: expected one of', 'api.hots: unknown key']],
];

for (const [name, raw, fragments] of BAD) {
  test(`config rejected: ${name}`, () => {
    assert.throws(
      () => parseConfig(raw, '/srv/umdev', DRIVERS, 'config file x.json'),
      (e: unknown) => {
        const u = e as { errno?: string; message: string };
        assert.equal(u.errno, 'EINVAL');
        assert.match(u.message, /^config file x\.json is not valid:/);
        for (const f of fragments) assert.ok(u.message.includes(f), `message ${JSON.stringify(u.message)} lacks ${JSON.stringify(f)}`);
        return true;
      },
    );
  });
}

test('loadConfig names the file for unreadable and malformed files', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'umdevd-config-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await assert.rejects(loadConfig(path.join(dir, 'missing.json'), dir, DRIVERS), /cannot read config file .*missing\.json/);
  const bad = path.join(dir, 'bad.json');
  await writeFile(bad, '{"parents": [');
  await assert.rejects(loadConfig(bad, dir, DRIVERS), /config file .*bad\.json is not valid JSON/);
  const good = path.join(dir, 'good.json');
  await writeFile(good, JSON.stringify({ api: { readers: 'group' }, layout: 'v6' }));
  assert.equal((await loadConfig(good, dir, DRIVERS)).layout, 'v6');
});

test('command-line overrides win over the file', () => {
  const c = applyOverrides(defaultConfig('/s'), { noMount: true, logLevel: 'warn', logJson: true });
  assert.equal(c.mount.enabled, false);
  assert.deepEqual(c.log, { level: 'warn', json: true });
  assert.equal(applyOverrides(defaultConfig('/s'), {}).mount.enabled, true);
  assert.equal(applyOverrides(defaultConfig('/s'), { noExtensions: true }).extensions, false);
  assert.equal(applyOverrides(defaultConfig('/s'), {}).extensions, true);
});

test('command line', () => {
  assert.deepEqual(parseCommandLine([]), {
    kind: 'run',
    stateDir: 'umdev-state',
    configFile: undefined,
    noMount: false,
    noExtensions: false,
    logLevel: undefined,
    logJson: undefined,
  });
  const r = parseCommandLine(['--state-dir', '/x', '-c', 'f.json', '--no-mount', '--no-extensions', '--log-level', 'debug', '--log-json']);
  assert.deepEqual(r, { kind: 'run', stateDir: '/x', configFile: 'f.json', noMount: true, noExtensions: true, logLevel: 'debug', logJson: true });
  assert.deepEqual(parseCommandLine(['--help']), { kind: 'help' });
  assert.equal((parseCommandLine([], { UMDEV_STATE: '/srv/u' }) as { stateDir: string }).stateDir, '/srv/u', 'UMDEV_STATE, as every tool reads it');
  assert.equal((parseCommandLine(['-s', 'x'], { UMDEV_STATE: '/srv/u' }) as { stateDir: string }).stateDir, 'x', 'the flag wins');
  assert.deepEqual(parseCommandLine(['-V']), { kind: 'version' });
  assert.throws(() => parseCommandLine(['--log-level', 'loud']), /--log-level must be one of/);
  assert.throws(() => parseCommandLine(['--bogus']), (e: unknown) => (e as { errno?: string }).errno === 'EINVAL');
  assert.throws(() => parseCommandLine(['extra']), (e: unknown) => (e as { errno?: string }).errno === 'EINVAL');
});

test('deviceHosts: the warm pool, boot concurrency, nice and the zygote are read, and bad values named', () => {
  const c = parseConfig({ deviceHosts: { warm: 0, bootConcurrency: 3, nice: 19, zygote: false } }, '/s', DRIVERS).deviceHosts;
  assert.deepEqual([c.warm, c.bootConcurrency, c.nice, c.zygote], [0, 3, 19, false]);
  const d = defaultConfig('/s').deviceHosts;
  assert.ok(d.warm > 0 && d.bootConcurrency >= 1 && d.nice > 0 && d.zygote, 'on by default, hosts humbler than umdevd');
  for (const [bad, name] of [
    [{ warm: -1 }, 'deviceHosts.warm'],
    [{ bootConcurrency: 0 }, 'deviceHosts.bootConcurrency'],
    // A host may never outrank umdevd.
    [{ nice: -1 }, 'deviceHosts.nice'],
    [{ nice: 20 }, 'deviceHosts.nice'],
    [{ zygote: 'yes' }, 'deviceHosts.zygote'],
  ] as const) {
    assert.throws(() => parseConfig({ deviceHosts: bad }, '/s', DRIVERS), (e: Error) => e.message.includes(name), JSON.stringify(bad));
  }
});
