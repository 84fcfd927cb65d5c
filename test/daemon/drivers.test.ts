import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Core } from '../../src/core/core.js';
import { parseConfig } from '../../src/daemon/config.js';
import { DRIVERS } from '../../src/daemon/drivers.js';

test("the daemon's mbochs entry: max_mbytes (default 256) sizes the parent's budget", () => {
  const c = parseConfig({ parents: [{ driver: 'mtty' }, { driver: 'mbochs', max_mbytes: 32 }, { driver: 'mbochs' }] }, '/s', DRIVERS);
  assert.deepEqual(c.parents, [
    { driver: 'mtty', options: {} },
    { driver: 'mbochs', options: { max_mbytes: 32 } },
    { driver: 'mbochs', options: {} },
  ]);
  const avail = (options: Readonly<Record<string, unknown>>): number => {
    const core = new Core();
    core.registerParent(DRIVERS.mbochs!.create(options));
    return core.availableInstances(core.type('mbochs', 'mbochs-small')!);
  };
  assert.equal(avail({ max_mbytes: 32 }), 8);
  assert.equal(avail({}), 64);
});

test('a bad max_mbytes or an unknown mbochs key is reported with its path', () => {
  assert.throws(() => parseConfig({ parents: [{ driver: 'mbochs', max_mbytes: 0 }] }, '/s', DRIVERS), /parents\[0\]\.max_mbytes: expected an integer from 1 to 1048576, got number 0/);
  assert.throws(() => parseConfig({ parents: [{ driver: 'mbochs', max_mbytes: '64' }] }, '/s', DRIVERS), /parents\[0\]\.max_mbytes: expected an integer/);
  assert.throws(() => parseConfig({ parents: [{ driver: 'mbochs', mbytes: 64 }] }, '/s', DRIVERS), /parents\[0\]\.mbytes: unknown key \(allowed: driver, max_mbytes\)/);
});
