import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UmdevError } from '../../src/errors.js';
import {
  decodeArgszPair,
  decodeDmaMap,
  decodeDmaUnmap,
  decodeHeader,
  decodeIrqSet,
  decodeQuad,
  decodeRegionAccess,
  decodeRegionInfo,
  decodeVersion,
  decodeWriteMulti,
  encodeArgszPair,
  encodeDmaMap,
  encodeDmaUnmap,
  encodeHeader,
  encodeIrqSet,
  encodeQuad,
  encodeRegionAccess,
  encodeRegionInfo,
  encodeVersion,
  encodeWriteMulti,
  parseCapabilities,
} from '../../src/vfio-user/codec.js';
import { Command, RegionFlags } from '../../src/vfio-user/constants.js';

function throwsErrno(fn: () => unknown, errno: string, what: string): void {
  assert.throws(fn, (e: unknown) => e instanceof UmdevError && e.errno === errno, what);
}

test('header round-trips and sits at the spec offsets', () => {
  const h = { msgId: 0xbeef, cmd: Command.REGION_READ, size: 32, flags: 0x21, errorNo: 22 };
  const b = encodeHeader(h);
  assert.equal(b.length, 16);
  assert.deepEqual([...b.subarray(0, 4)], [0xef, 0xbe, 9, 0]);
  assert.equal(b.readUInt32LE(4), 32);
  assert.equal(b.readUInt32LE(12), 22);
  assert.deepEqual(decodeHeader(b), h);
});

test('round trips of every fixed structure', () => {
  const map = { argsz: 32, flags: 3, offset: 0x1000n, iova: 0x10000n, size: 0x2000n };
  const mb = encodeDmaMap(map);
  assert.equal(mb.length, 32);
  assert.deepEqual(decodeDmaMap(mb), map);
  const unmap = { argsz: 24, flags: 2, iova: 0n, size: 0n };
  assert.deepEqual(decodeDmaUnmap(encodeDmaUnmap(unmap)), unmap);
  const q = { argsz: 16, flags: 3, a: 9, b: 5 };
  assert.deepEqual(decodeQuad(Command.DEVICE_GET_INFO, encodeQuad(q)), q);
  const set = { argsz: 22, flags: 0x22, index: 1, start: 0, count: 2, data: Buffer.from([1, 0]) };
  assert.deepEqual(decodeIrqSet(encodeIrqSet(set)), set);
  const ra = decodeRegionAccess(Command.REGION_WRITE, Buffer.concat([encodeRegionAccess(0x10n, 2, 4), Buffer.from([1, 2, 3, 4])]));
  assert.deepEqual({ ...ra, data: [...ra.data] }, { offset: 0x10n, region: 2, count: 4, data: [1, 2, 3, 4] });
  const writes = [{ offset: 4n, region: 0, count: 2, data: Buffer.from([7, 8]) }];
  assert.deepEqual(decodeWriteMulti(encodeWriteMulti(writes)), writes);
  const pair = { argsz: 16, word: 0x10001, data: Buffer.from('abcd') };
  assert.deepEqual(decodeArgszPair(Command.DEVICE_FEATURE, encodeArgszPair(pair)), pair);
});

test('short payloads and small argsz are EINVAL', () => {
  const table: [string, () => unknown][] = [
    ['version < 4', () => decodeVersion(Buffer.alloc(3))],
    ['dma map < 32', () => decodeDmaMap(Buffer.alloc(31))],
    ['dma map argsz 8', () => decodeDmaMap(encodeDmaMap({ argsz: 8, flags: 0, offset: 0n, iova: 0n, size: 1n }))],
    ['dma unmap < 24', () => decodeDmaUnmap(Buffer.alloc(23))],
    ['dma unmap argsz 4', () => decodeDmaUnmap(encodeDmaUnmap({ argsz: 4, flags: 0, iova: 0n, size: 1n }))],
    ['quad < 16', () => decodeQuad(Command.DEVICE_GET_INFO, Buffer.alloc(12))],
    ['quad argsz 15', () => decodeQuad(Command.DEVICE_GET_INFO, encodeQuad({ argsz: 15, flags: 0, a: 0, b: 0 }))],
    ['irq set < 20', () => decodeIrqSet(Buffer.alloc(19))],
    ['irq set argsz 19', () => decodeIrqSet(encodeIrqSet({ argsz: 19, flags: 0, index: 0, start: 0, count: 0, data: Buffer.alloc(0) }))],
    ['region access < 16', () => decodeRegionAccess(Command.REGION_READ, Buffer.alloc(15))],
    ['write multi empty', () => decodeWriteMulti(Buffer.alloc(8))],
    ['write multi count mismatch', () => decodeWriteMulti(Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.alloc(24)]))],
    ['feature < 8', () => decodeArgszPair(Command.DEVICE_FEATURE, Buffer.alloc(7))],
    ['feature argsz 7', () => decodeArgszPair(Command.DEVICE_FEATURE, encodeArgszPair({ argsz: 7, word: 0, data: Buffer.alloc(0) }))],
  ];
  for (const [what, fn] of table) throwsErrno(fn, 'EINVAL', what);
});

test('VERSION JSON: NUL, object, capability types', () => {
  const ok = encodeVersion({ major: 0, minor: 2, json: { capabilities: { max_msg_fds: 8 } } });
  assert.equal(ok[ok.length - 1], 0, 'NUL-terminated');
  const v = decodeVersion(ok);
  assert.deepEqual(v, { major: 0, minor: 2, json: { capabilities: { max_msg_fds: 8 } } });
  assert.deepEqual(decodeVersion(encodeVersion({ major: 0, minor: 0, json: undefined })), { major: 0, minor: 0, json: undefined });
  const raw = (text: string) => Buffer.concat([Buffer.from([0, 0, 0, 0]), Buffer.from(text)]);
  throwsErrno(() => decodeVersion(raw('{}')), 'EINVAL', 'no NUL');
  throwsErrno(() => decodeVersion(raw('{"capabilities":\0')), 'EINVAL', 'bad JSON');
  throwsErrno(() => decodeVersion(raw('[1]\0')), 'EINVAL', 'not an object');
  const caps = parseCapabilities(undefined, 1024);
  assert.deepEqual(caps, { maxMsgFds: 1, maxDataXferSize: 1 << 20, maxDmaMaps: 65535, pgsizes: 4096, writeMultiple: false, twinSocket: false });
  const table: [unknown, string][] = [
    [{ capabilities: 5 }, 'caps not object'],
    [{ capabilities: { max_msg_fds: 'x' } }, 'fds string'],
    [{ capabilities: { max_msg_fds: 2000 } }, 'fds above limit'],
    [{ capabilities: { max_msg_fds: -1 } }, 'fds negative'],
    [{ capabilities: { max_data_xfer_size: 1.5 } }, 'xfer not integer'],
    [{ capabilities: { write_multiple: 1 } }, 'write_multiple not bool'],
  ];
  for (const [json, what] of table) throwsErrno(() => parseCapabilities(json as Record<string, unknown>, 1024), 'EINVAL', what);
  assert.equal(parseCapabilities({ capabilities: { unknown_key: {}, write_multiple: true } }, 1024).writeMultiple, true);
});

test('region info: caps only when they fit, argsz always the full size', () => {
  const info = { flags: RegionFlags.READ | RegionFlags.WRITE | RegionFlags.MMAP, index: 2, size: 0x2000n, offset: 0x1000n, sparse: [{ offset: 0x1000n, size: 0x1000n }] };
  const small = encodeRegionInfo(info, 32);
  assert.equal(small.capsIncluded, false);
  assert.equal(small.payload.length, 32);
  assert.equal(small.payload.readUInt32LE(0), 32 + 16 + 16);
  assert.equal(small.payload.readUInt32LE(4) & RegionFlags.CAPS, 0);
  const full = encodeRegionInfo(info, 4096);
  assert.equal(full.capsIncluded, true);
  const d = decodeRegionInfo(full.payload);
  assert.equal(d.capOffset, 32);
  assert.equal(d.flags & RegionFlags.CAPS, RegionFlags.CAPS);
  assert.deepEqual(d.sparse, info.sparse);
  assert.equal(d.offset, 0x1000n);
  const loop = Buffer.from(full.payload);
  loop.writeUInt16LE(99, 32);
  loop.writeUInt32LE(32, 36);
  assert.equal(decodeRegionInfo(loop).sparse, undefined, 'a looping chain ends');
  const bad = Buffer.from(full.payload);
  bad.writeUInt32LE(4000, 12);
  throwsErrno(() => decodeRegionInfo(bad), 'EINVAL', 'cap offset outside');
});
