/**
 * The real mdevctl sets a device's vendor attributes, and the device a vfio-user client then opens is the one it
 * set: `start --jsonfile` with `attrs`, and `modify --addattr` followed by umdevd's autostart. mcount's
 * `vendor/scratch` is its SCRATCH register (BAR0 0xc), which the client reads back.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { MCOUNT_REG } from '../../src/drivers/mcount/index.js';
import { VFIO_PCI_REGION as R } from '../../src/vfio/constants.js';
import { connect, until } from './hosts.js';
import { killDaemon, run, start, stateDir } from './umdevd-process.js';

const U1 = '5c0a4b4e-1f2e-4d3c-8b7a-6f5e4d3c2b1a';
const U2 = '6d1b5c5f-2a3f-4e4d-9c8b-7a6f5e4d3c2b';

test('mdevctl start --jsonfile with attrs, and modify --addattr + autostart, set the device the client opens', async (t) => {
  const which = await run('sh', ['-c', 'command -v mdevctl && command -v unshare']);
  assert.equal(which.code, 0, 'mdevctl and unshare are needed: apt-get install mdevctl util-linux');
  const ctx = await stateDir(t, 'umdev-host-mdevctl-');
  const config = path.join(ctx.dir, 'umdevd.json');
  await writeFile(config, JSON.stringify({ parents: [{ driver: 'mcount' }] }));
  let d = await start(ctx, ['--config', config]);
  const sys = path.join(ctx.dir, 'sys');
  const defs = path.join(ctx.dir, 'mdevctl.d');
  const mdevctl = (...args: string[]): ReturnType<typeof run> =>
    run('unshare', ['-m', 'sh', '-c', 'mount --rbind "$0" /sys && mount --bind "$1" /etc/mdevctl.d && shift && exec mdevctl "$@"', sys, defs, ...args]);
  const scratch = async (uuid: string): Promise<number> => {
    const c = await connect(ctx, uuid);
    try {
      return (await c.read(R.BAR0, MCOUNT_REG.SCRATCH, 4)).readUInt32LE(0);
    } finally {
      c.close();
    }
  };

  const json = path.join(ctx.dir, 'u1.json');
  await writeFile(json, JSON.stringify({ mdev_type: 'mcount-1', start: 'manual', attrs: [{ 'vendor/scratch': '0x00c0ffee' }] }));
  const started = await mdevctl('start', '-u', U1, '-p', 'mcount', '--jsonfile', json);
  assert.equal(started.code, 0, `mdevctl start --jsonfile: ${started.stderr}`);
  assert.equal(await scratch(U1), 0x00c0ffee, 'the client reads what mdevctl wrote before it connected');

  assert.equal((await mdevctl('define', '-u', U2, '-p', 'mcount', '-t', 'mcount-1', '--auto')).code, 0);
  const modified = await mdevctl('modify', '-u', U2, '--addattr', 'vendor/scratch', '--value', '0x0000beef');
  assert.equal(modified.code, 0, `mdevctl modify --addattr: ${modified.stderr}`);
  // A new daemon on the same state starts the auto definition, attributes and all.
  await killDaemon(d);
  d = await start(ctx, ['--config', config]);
  await until('autostart', async () => ((await mdevctl('list')).stdout.includes(U2) ? true : undefined));
  assert.equal(await scratch(U2), 0x0000beef, 'the client reads what autostart wrote from the definition');
  assert.equal(d.proc.exitCode, null);
});
