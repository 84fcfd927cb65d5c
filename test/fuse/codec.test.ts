// The FUSE codec against the kernel's own header: struct sizes and field offsets are compiled from
// <linux/fuse.h> and compared with protocol.ts, then each encoder and decoder is checked field by field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { UmdevError } from '../../src/errors.js';
import {
  type Attr,
  attrTimeoutSec,
  decodeBatchForget,
  decodeInHeader,
  decodeName,
  decodeReadIn,
  decodeSetattrIn,
  decodeWriteIn,
  encodeAttr,
  encodeAttrOut,
  encodeDirent,
  encodeDirentplus,
  encodeEntryOut,
  ENTRY_TIMEOUT_SEC,
  encodeInitOut,
  encodeNotifyDelete,
  encodeNotifyInvalEntry,
  encodeOpenOut,
  encodeOutHeader,
  encodeStatfsOut,
  encodeWriteOut,
  readU64,
  writeU64,
} from '../../src/fuse/codec.js';
import { InitFlag, Size, align8 } from '../../src/fuse/protocol.js';

const run = promisify(execFile);

/** [name, C expression, value] triples checked against the compiled header. */
const LAYOUT: [keyof typeof Size | string, string, number][] = [
  ['IN_HEADER', 'sizeof(struct fuse_in_header)', Size.IN_HEADER],
  ['OUT_HEADER', 'sizeof(struct fuse_out_header)', Size.OUT_HEADER],
  ['ATTR', 'sizeof(struct fuse_attr)', Size.ATTR],
  ['ENTRY_OUT', 'sizeof(struct fuse_entry_out)', Size.ENTRY_OUT],
  ['ATTR_OUT', 'sizeof(struct fuse_attr_out)', Size.ATTR_OUT],
  ['INIT_IN', 'sizeof(struct fuse_init_in)', Size.INIT_IN],
  ['INIT_OUT', 'sizeof(struct fuse_init_out)', Size.INIT_OUT],
  ['OPEN_IN', 'sizeof(struct fuse_open_in)', Size.OPEN_IN],
  ['OPEN_OUT', 'sizeof(struct fuse_open_out)', Size.OPEN_OUT],
  ['READ_IN', 'sizeof(struct fuse_read_in)', Size.READ_IN],
  ['WRITE_IN', 'sizeof(struct fuse_write_in)', Size.WRITE_IN],
  ['WRITE_OUT', 'sizeof(struct fuse_write_out)', Size.WRITE_OUT],
  ['RELEASE_IN', 'sizeof(struct fuse_release_in)', Size.RELEASE_IN],
  ['FLUSH_IN', 'sizeof(struct fuse_flush_in)', Size.FLUSH_IN],
  ['GETATTR_IN', 'sizeof(struct fuse_getattr_in)', Size.GETATTR_IN],
  ['SETATTR_IN', 'sizeof(struct fuse_setattr_in)', Size.SETATTR_IN],
  ['FORGET_IN', 'sizeof(struct fuse_forget_in)', Size.FORGET_IN],
  ['BATCH_FORGET_IN', 'sizeof(struct fuse_batch_forget_in)', Size.BATCH_FORGET_IN],
  ['FORGET_ONE', 'sizeof(struct fuse_forget_one)', Size.FORGET_ONE],
  ['ACCESS_IN', 'sizeof(struct fuse_access_in)', Size.ACCESS_IN],
  ['INTERRUPT_IN', 'sizeof(struct fuse_interrupt_in)', Size.INTERRUPT_IN],
  ['STATFS_OUT', 'sizeof(struct fuse_statfs_out)', Size.STATFS_OUT],
  ['DIRENT', 'offsetof(struct fuse_dirent, name)', Size.DIRENT],
  ['DIRENTPLUS', 'offsetof(struct fuse_direntplus, dirent.name)', Size.DIRENTPLUS],
  ['NOTIFY_DELETE_OUT', 'sizeof(struct fuse_notify_delete_out)', Size.NOTIFY_DELETE_OUT],
  ['NOTIFY_INVAL_ENTRY_OUT', 'sizeof(struct fuse_notify_inval_entry_out)', Size.NOTIFY_INVAL_ENTRY_OUT],
  // Field offsets the codec relies on.
  ['attr.mode', 'offsetof(struct fuse_attr, mode)', 60],
  ['attr.blksize', 'offsetof(struct fuse_attr, blksize)', 80],
  ['entry_out.attr', 'offsetof(struct fuse_entry_out, attr)', 40],
  ['attr_out.attr', 'offsetof(struct fuse_attr_out, attr)', 16],
  ['init_out.max_write', 'offsetof(struct fuse_init_out, max_write)', 20],
  ['init_out.max_pages', 'offsetof(struct fuse_init_out, max_pages)', 28],
  ['setattr_in.size', 'offsetof(struct fuse_setattr_in, size)', 16],
  ['setattr_in.mode', 'offsetof(struct fuse_setattr_in, mode)', 68],
  ['setattr_in.uid', 'offsetof(struct fuse_setattr_in, uid)', 76],
  ['setattr_in.gid', 'offsetof(struct fuse_setattr_in, gid)', 80],
  ['write_in.size', 'offsetof(struct fuse_write_in, size)', 16],
  ['kstatfs.bsize', 'offsetof(struct fuse_kstatfs, bsize)', 40],
  ['kstatfs.frsize', 'offsetof(struct fuse_kstatfs, frsize)', 48],
  // INIT flags.
  ...Object.entries(InitFlag).map(([name, bit]): [string, string, number] => [name, `FUSE_${name}`, bit]),
];

test('struct sizes and offsets match <linux/fuse.h> on this machine', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'umdev-fuse-h-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const body = LAYOUT.map(([, expr]) => `  printf("%zu\\n", (size_t)(${expr}));`).join('\n');
  await writeFile(join(dir, 'layout.c'), `#include <linux/fuse.h>\n#include <stddef.h>\n#include <stdio.h>\nint main(void) {\n${body}\n  return 0;\n}\n`);
  try {
    await run('cc', ['-o', join(dir, 'layout'), join(dir, 'layout.c')]);
  } catch (e) {
    throw new Error(`compiling against <linux/fuse.h> failed; install the Debian packages linux-libc-dev and gcc: ${(e as Error).message}`);
  }
  const { stdout } = await run(join(dir, 'layout'));
  const got = stdout.trim().split('\n').map(Number);
  LAYOUT.forEach(([name, , want], i) => assert.equal(want, got[i], `${name}`));
});

test('u64 helpers round-trip values above 2^32', () => {
  const b = Buffer.alloc(8);
  for (const n of [0, 1, 0xffff_ffff, 0x1_0000_0000, 2 ** 52 + 3]) {
    writeU64(b, 0, n);
    assert.equal(b.readBigUInt64LE(0), BigInt(n));
    assert.equal(readU64(b, 0), n);
  }
});

const ATTR: Attr = { ino: 0x1_0000_0007, size: 4096, mode: 0o100644, nlink: 1, timeSec: 1_700_000_000, timeNsec: 5 };

test('in header decodes every field', () => {
  const b = Buffer.alloc(40);
  b.writeUInt32LE(56, 0);
  b.writeUInt32LE(1, 4);
  b.writeBigUInt64LE(0x1_2345_6789n, 8);
  b.writeBigUInt64LE(42n, 16);
  b.writeUInt32LE(1000, 24);
  b.writeUInt32LE(100, 28);
  b.writeUInt32LE(777, 32);
  assert.deepEqual(decodeInHeader(b), { len: 56, opcode: 1, unique: 0x1_2345_6789, nodeid: 42, uid: 1000, gid: 100, pid: 777 });
  assert.throws(() => decodeInHeader(b.subarray(0, 39)), UmdevError);
});

test('out header carries a negative errno', () => {
  const b = Buffer.alloc(16);
  assert.equal(encodeOutHeader(b, 0, 16, -22, 99), 16);
  assert.deepEqual([b.readUInt32LE(0), b.readInt32LE(4), b.readBigUInt64LE(8)], [16, -22, 99n]);
});

test('attr, entry_out and attr_out place every field', () => {
  const b = Buffer.alloc(256, 0xaa);
  assert.equal(encodeAttr(b, 0, ATTR), 88);
  assert.equal(b.readBigUInt64LE(0), 0x1_0000_0007n);
  assert.equal(b.readBigUInt64LE(8), 4096n);
  assert.equal(b.readBigUInt64LE(16), 0n);
  for (const off of [24, 32, 40]) assert.equal(b.readBigUInt64LE(off), 1_700_000_000n);
  for (const off of [48, 52, 56]) assert.equal(b.readUInt32LE(off), 5);
  assert.deepEqual([60, 64, 68, 72, 76, 80, 84].map((o) => b.readUInt32LE(o)), [0o100644, 1, 0, 0, 0, 4096, 0]);

  b.fill(0xaa);
  assert.equal(encodeEntryOut(b, 0, 9, ATTR), 128);
  assert.equal(b.readBigUInt64LE(0), 9n);
  assert.equal(b.readBigUInt64LE(8), 0n, 'generation');
  assert.equal(b.readBigUInt64LE(16), BigInt(ENTRY_TIMEOUT_SEC), 'a found entry is cached');
  assert.ok(ENTRY_TIMEOUT_SEC > 0);
  assert.ok(b.subarray(24, 40).every((x) => x === 0), 'attr timeout and both nsec are 0: attributes stay live');
  assert.equal(b.readUInt32LE(40 + 60), 0o100644);

  b.fill(0xaa);
  assert.equal(encodeEntryOut(b, 0, 0, undefined), 128);
  assert.ok(b.subarray(0, 128).every((x) => x === 0));

  b.fill(0xaa);
  assert.equal(encodeAttrOut(b, 0, ATTR), 104);
  assert.ok(b.subarray(0, 16).every((x) => x === 0));
  assert.equal(b.readBigUInt64LE(16), 0x1_0000_0007n);

  // A symlink's attributes are fixed for its node id: kept as long as its entry, in both replies.
  const link: Attr = { ...ATTR, mode: 0o120777, size: 7 };
  b.fill(0xaa);
  encodeEntryOut(b, 0, 9, link);
  assert.deepEqual([b.readBigUInt64LE(16), b.readBigUInt64LE(24), b.readUInt32LE(32), b.readUInt32LE(36)], [BigInt(ENTRY_TIMEOUT_SEC), BigInt(ENTRY_TIMEOUT_SEC), 0, 0]);
  b.fill(0xaa);
  encodeAttrOut(b, 0, link);
  assert.deepEqual([b.readBigUInt64LE(0), b.readUInt32LE(8), b.readUInt32LE(12)], [BigInt(ENTRY_TIMEOUT_SEC), 0, 0]);
  for (const mode of [0o040755, 0o100444]) assert.equal(attrTimeoutSec(mode), 0, `mode ${mode.toString(8)} stays live`);
});

test('init, open, write and statfs replies', () => {
  const b = Buffer.alloc(128, 0xaa);
  const init = { major: 7, minor: 31, maxReadahead: 131072, flags: 0x40_0029, maxBackground: 16, congestionThreshold: 12, maxWrite: 131072, timeGran: 1, maxPages: 32 };
  assert.equal(encodeInitOut(b, 0, init), 64);
  assert.deepEqual(
    [b.readUInt32LE(0), b.readUInt32LE(4), b.readUInt32LE(8), b.readUInt32LE(12), b.readUInt16LE(16), b.readUInt16LE(18), b.readUInt32LE(20), b.readUInt32LE(24), b.readUInt16LE(28)],
    [7, 31, 131072, 0x40_0029, 16, 12, 131072, 1, 32],
  );
  assert.ok(b.subarray(30, 64).every((x) => x === 0));

  assert.equal(encodeOpenOut(b, 0, 0x1_0000_0001, 1), 16);
  assert.deepEqual([b.readBigUInt64LE(0), b.readUInt32LE(8), b.readUInt32LE(12)], [0x1_0000_0001n, 1, 0]);
  assert.equal(encodeWriteOut(b, 0, 12), 8);
  assert.deepEqual([b.readUInt32LE(0), b.readUInt32LE(4)], [12, 0]);
  assert.equal(encodeStatfsOut(b, 0, 3), 80);
  assert.deepEqual([b.readBigUInt64LE(0), b.readBigUInt64LE(24), b.readUInt32LE(40), b.readUInt32LE(44), b.readUInt32LE(48)], [0n, 3n, 4096, 255, 4096]);
});

test('dirents are padded to 8 bytes and stop at the limit', () => {
  const cases: [string, number][] = [
    ['a', 32],
    ['abcdefgh', 32],
    ['abcdefghi', 40],
    ['.', 32],
  ];
  for (const [name, size] of cases) {
    const b = Buffer.alloc(64, 0xaa);
    assert.equal(encodeDirent(b, 0, 64, 5, 3, 8, Buffer.from(name)), size, name);
    assert.deepEqual([b.readBigUInt64LE(0), b.readBigUInt64LE(8), b.readUInt32LE(16), b.readUInt32LE(20)], [5n, 3n, name.length, 8]);
    assert.equal(b.toString('utf8', 24, 24 + name.length), name);
    assert.ok(b.subarray(24 + name.length, size).every((x) => x === 0), 'padding is zeroed');
    assert.equal(size, align8(24 + name.length));
  }
  assert.equal(encodeDirent(Buffer.alloc(64), 40, 64, 5, 3, 8, Buffer.from('a')), 0, 'does not fit');

  const b = Buffer.alloc(256, 0xaa);
  assert.equal(encodeDirentplus(b, 0, 256, 9, ATTR, 9, 2, 8, Buffer.from('value')), align8(152 + 5));
  assert.equal(b.readBigUInt64LE(0), 9n); // entry_out.nodeid
  assert.equal(b.readUInt32LE(40 + 60), 0o100644); // entry_out.attr.mode
  assert.deepEqual([b.readBigUInt64LE(128), b.readBigUInt64LE(136), b.readUInt32LE(144), b.readUInt32LE(148)], [9n, 2n, 5, 8]);
  assert.equal(b.toString('utf8', 152, 157), 'value');
  assert.equal(encodeDirentplus(b, 100, 256, 9, ATTR, 9, 2, 8, Buffer.from('value')), 0, 'does not fit');
});

test('notifications: unique 0, the notify code in the error field, NUL-terminated name', () => {
  const d = encodeNotifyDelete(1, 7, Buffer.from('u1'));
  assert.equal(d.length, 16 + 24 + 3);
  assert.deepEqual([d.readUInt32LE(0), d.readInt32LE(4), d.readBigUInt64LE(8)], [43, 6, 0n]);
  assert.deepEqual([d.readBigUInt64LE(16), d.readBigUInt64LE(24), d.readUInt32LE(32), d.readUInt32LE(36)], [1n, 7n, 2, 0]);
  assert.equal(d.toString('latin1', 40), 'u1\0');
  const i = encodeNotifyInvalEntry(3, Buffer.from('name'));
  assert.equal(i.length, 16 + 16 + 5);
  assert.deepEqual([i.readUInt32LE(0), i.readInt32LE(4), i.readBigUInt64LE(16), i.readUInt32LE(24), i.readUInt32LE(28)], [37, 3, 3n, 4, 0]);
  assert.equal(i.toString('latin1', 32), 'name\0');
});

test('decoders read their fields and reject short bodies with EINVAL', () => {
  const read = Buffer.alloc(40);
  read.writeBigUInt64LE(4n, 0);
  read.writeBigUInt64LE(4096n, 8);
  read.writeUInt32LE(131072, 16);
  assert.deepEqual(decodeReadIn(read, 0, 40), { fh: 4, offset: 4096, size: 131072 });

  const write = Buffer.alloc(43);
  write.writeBigUInt64LE(4n, 0);
  write.writeUInt32LE(3, 16);
  assert.deepEqual(decodeWriteIn(write, 0, 43), { fh: 4, offset: 0, size: 3 });
  assert.throws(() => decodeWriteIn(write, 0, 42), (e: unknown) => e instanceof UmdevError && e.errno === 'EINVAL');

  const setattr = Buffer.alloc(88);
  setattr.writeUInt32LE(8 | 1, 0);
  setattr.writeBigUInt64LE(0n, 16);
  setattr.writeUInt32LE(0o600, 68);
  setattr.writeUInt32LE(5, 76);
  setattr.writeUInt32LE(6, 80);
  assert.deepEqual(decodeSetattrIn(setattr, 0, 88), { valid: 9, fh: 0, size: 0, mode: 0o600, uid: 5, gid: 6 });
  assert.throws(() => decodeSetattrIn(setattr, 0, 80), UmdevError);

  const forget = Buffer.alloc(8 + 32);
  forget.writeUInt32LE(2, 0);
  forget.writeBigUInt64LE(5n, 8);
  forget.writeBigUInt64LE(1n, 16);
  forget.writeBigUInt64LE(6n, 24);
  forget.writeBigUInt64LE(3n, 32);
  assert.deepEqual(decodeBatchForget(forget, 0, 40), [
    [5, 1],
    [6, 3],
  ]);
  assert.throws(() => decodeBatchForget(forget, 0, 39), UmdevError);

  assert.equal(decodeName(Buffer.from('abc\0'), 0, 4), 'abc');
  assert.throws(() => decodeName(Buffer.from('abc'), 0, 3), UmdevError);
});
