import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Core } from '../../src/core/core.js';
import type { MappedRange } from '../../src/core/types.js';
import { expectErrno, randomUUID, spec } from './helpers.js';

function range(start: bigint, size: bigint, log: string[]): MappedRange {
  return { start, size, onInvalidate: (r, s, n) => void log.push(`${r.start.toString(16)}:${s.toString(16)}+${n.toString(16)}`) };
}

test('invalidate reaches partial overlaps on both sides, inside and covering; adjacent spans do not hit', async () => {
  const core = new Core();
  core.registerParent(spec('p'));
  const d = await core.create('p', 'test-1', randomUUID());
  const log: string[] = [];
  core.addMapping(d.uuid, range(0x1000n, 0x1000n, log));
  core.addMapping(d.uuid, range(0x3000n, 0x1000n, log));
  core.addMapping(d.uuid, range(0x4000n, 0x100n, log)); // adjacent to the previous one: allowed
  const cases: [bigint, bigint, number, string[]][] = [
    [0x800n, 0x1000n, 1, ['1000:1000+800']], // left partial
    [0x1800n, 0x1000n, 1, ['1000:1800+800']], // right partial
    [0x1100n, 0x10n, 1, ['1000:1100+10']], // inside
    [0x0n, 0x10000n, 3, ['1000:1000+1000', '3000:3000+1000', '4000:4000+100']], // covering
    [0x2000n, 0x1000n, 0, []], // the gap, adjacent on both sides
    [0x3fffn, 0x2n, 2, ['3000:3fff+1', '4000:4000+1']], // across two adjacent ranges
  ];
  for (const [addr, size, count, want] of cases) {
    log.length = 0;
    assert.equal(core.invalidate(d.uuid, addr, size), count, `0x${addr.toString(16)}+0x${size.toString(16)}`);
    assert.deepEqual(log, want);
  }
});

test('mapping errors: EINVAL overlap and bad ranges, ENXIO delete of no range, ENODEV unknown device', async () => {
  const core = new Core();
  core.registerParent(spec('p'));
  const d = await core.create('p', 'test-1', randomUUID());
  const log: string[] = [];
  core.addMapping(d.uuid, range(0x1000n, 0x1000n, log));
  await expectErrno(() => core.addMapping(d.uuid, range(0x1fffn, 2n, log)), 'EINVAL', /overlaps/);
  await expectErrno(() => core.addMapping(d.uuid, range(0n, 0n, log)), 'EINVAL');
  await expectErrno(() => core.addMapping(d.uuid, range(1n << 64n, 1n, log)), 'EINVAL');
  await expectErrno(() => core.invalidate(d.uuid, 0n, 0n), 'EINVAL');
  await expectErrno(() => core.deleteMapping(d.uuid, 0x1001n), 'ENXIO');
  await expectErrno(() => core.addMapping(randomUUID(), range(0n, 1n, log)), 'ENODEV');
  await expectErrno(() => core.invalidate(randomUUID(), 0n, 1n), 'ENODEV');
  core.deleteMapping(d.uuid, 0x1000n);
  assert.equal(core.invalidate(d.uuid, 0n, 0x10000n), 0);
  await expectErrno(() => core.deleteMapping(d.uuid, 0x1000n), 'ENXIO');
});

test('ranges are dropped with the device, and a throwing callback does not stop the others', async () => {
  const core = new Core();
  const warnings: string[] = [];
  core.subscribe((e) => warnings.push(e.message ?? ''), ['warning']);
  core.registerParent(spec('p'));
  const u = randomUUID();
  const d = await core.create('p', 'test-1', u);
  const log: string[] = [];
  core.addMapping(u, { start: 0n, size: 16n, onInvalidate: () => { throw new Error('owner broke'); } });
  core.addMapping(u, range(16n, 16n, log));
  assert.equal(core.invalidate(u, 0n, 32n), 2);
  assert.deepEqual(log, ['10:10+10']);
  assert.equal(warnings.length, 1);
  assert.equal(core.mappings(u).length, 2);
  await core.remove(d.uuid);
  await core.create('p', 'test-1', u);
  assert.deepEqual(core.mappings(u), []);
});
