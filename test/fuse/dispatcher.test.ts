// The dispatcher through an in-memory channel: requests built byte by byte, replies decoded, no mount. Covers the
// bookkeeping a mount cannot show directly (node ids, FORGET, READDIRPLUS references, notifications).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { err } from '../../src/errors.js';
import type { AttrTree } from '../../src/fuse/attr-tree.js';
import { benignNotifyError } from '../../src/fuse/device-channel.js';
import { FuseDispatcher } from '../../src/fuse/dispatcher.js';
import { InitFlag, Op, opName } from '../../src/fuse/protocol.js';
import { createLogger } from '../../src/log.js';
import { ToyTree } from './toy-tree.js';

interface Reply {
  error: number;
  unique: number;
  body: Buffer;
}

class Session {
  readonly replies: Reply[] = [];
  readonly notes: Buffer[] = [];
  readonly logs: string[] = [];
  readonly d: FuseDispatcher;
  #unique = 100;

  /** `log` gets every line; by default only errors are kept, in `logs`. */
  constructor(tree: AttrTree, log: (level: 'debug' | 'error', m: string) => void = (level, m) => level === 'error' && this.logs.push(m)) {
    this.d = new FuseDispatcher(
      tree,
      {
        reply: (m) => this.replies.push({ error: m.readInt32LE(4), unique: Number(m.readBigUInt64LE(8)), body: Buffer.from(m.subarray(16)) }),
        notify: (m) => this.notes.push(m),
        drained: () => Promise.resolve(),
      },
      log,
    );
  }

  /** Sends one request; returns the reply it produced synchronously (undefined if none). */
  send(opcode: number, nodeid: number, body: Buffer = Buffer.alloc(0), uid = 0): Reply | undefined {
    const unique = this.#unique++;
    const req = Buffer.alloc(40 + body.length);
    req.writeUInt32LE(req.length, 0);
    req.writeUInt32LE(opcode, 4);
    req.writeBigUInt64LE(BigInt(unique), 8);
    req.writeBigUInt64LE(BigInt(nodeid), 16);
    req.writeUInt32LE(uid, 24);
    body.copy(req, 40);
    const before = this.replies.length;
    this.d.handle(req);
    const r = this.replies.slice(before).find((x) => x.unique === unique);
    return r;
  }

  lookup(parent: number, name: string): number {
    const r = this.send(Op.LOOKUP, parent, Buffer.from(name + '\0'));
    assert.equal(r?.error, 0, `lookup ${name}`);
    return Number(r.body.readBigUInt64LE(0));
  }

  open(ino: number, op: number = Op.OPEN, flags = 0): number {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(flags, 0);
    const r = this.send(op, ino, b);
    assert.equal(r?.error, 0);
    return Number(r.body.readBigUInt64LE(0));
  }
}

function u64s(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => b.writeBigUInt64LE(BigInt(v), i * 8));
  return b;
}

function readIn(fh: number, offset: number, size: number): Buffer {
  const b = Buffer.alloc(40);
  b.writeBigUInt64LE(BigInt(fh), 0);
  b.writeBigUInt64LE(BigInt(offset), 8);
  b.writeUInt32LE(size, 16);
  return b;
}

function tree(): ToyTree {
  return new ToyTree().dir('devices').dir('devices/u1').file('devices/u1/name', 0o444, () => 'u1\n').file('value', 0o644, () => 'v\n', () => undefined);
}

test('INIT answers 7.31 with the wanted flags the kernel offers, 128 KiB writes and 32 pages', () => {
  const s = new Session(tree());
  const body = Buffer.alloc(64);
  body.writeUInt32LE(7, 0);
  body.writeUInt32LE(45, 4);
  body.writeUInt32LE(131072, 8);
  body.writeUInt32LE(0xffff_ffff, 12);
  const r = s.send(Op.INIT, 0, body)!;
  assert.equal(r.error, 0);
  assert.equal(r.body.length, 64);
  const want =
    InitFlag.ASYNC_READ |
    InitFlag.BIG_WRITES |
    InitFlag.MAX_PAGES |
    InitFlag.ATOMIC_O_TRUNC |
    InitFlag.DO_READDIRPLUS |
    InitFlag.READDIRPLUS_AUTO |
    InitFlag.CACHE_SYMLINKS;
  assert.deepEqual([r.body.readUInt32LE(0), r.body.readUInt32LE(4), r.body.readUInt32LE(12), r.body.readUInt32LE(20), r.body.readUInt16LE(28)], [7, 31, want, 131072, 32]);
  body.writeUInt32LE(InitFlag.ASYNC_READ, 12);
  assert.equal(s.send(Op.INIT, 0, body)!.body.readUInt32LE(12), InitFlag.ASYNC_READ, 'never a flag the kernel did not offer');
});

test('node ids are stable while referenced and released by FORGET and BATCH_FORGET', () => {
  const s = new Session(tree());
  const a = s.lookup(1, 'devices');
  assert.equal(s.lookup(1, 'devices'), a);
  const b = s.lookup(a, 'u1');
  assert.notEqual(a, b);
  assert.equal(s.d.inodeCount, 3);
  assert.equal(s.send(Op.FORGET, a, u64s(1)), undefined, 'FORGET gets no reply');
  assert.equal(s.d.inodeCount, 3, 'one reference left');
  const batch = Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), u64s(a, 1, b, 1)]);
  assert.equal(s.send(Op.BATCH_FORGET, 0, batch), undefined);
  assert.equal(s.d.inodeCount, 1);
  assert.equal(s.send(Op.GETATTR, a, Buffer.alloc(16))?.error, -2, 'a forgotten node id is ENOENT');
  assert.equal(s.send(Op.FORGET, 999, u64s(1)), undefined, 'forgetting an unknown node is harmless');
});

test('unknown opcodes are ENOSYS, CREATE EACCES, mkdir/remove/rename-like ones EPERM, bad bodies EINVAL; nothing throws', () => {
  const s = new Session(tree());
  assert.equal(s.send(39 /* IOCTL */, 1)?.error, -38);
  assert.equal(s.send(Op.FLUSH, 1, Buffer.alloc(24))?.error, -38);
  assert.equal(s.send(Op.CREATE, 1, Buffer.from('x\0'))?.error, -13);
  for (const op of [Op.MKNOD, Op.MKDIR, Op.UNLINK, Op.RMDIR, Op.SYMLINK, Op.RENAME, Op.LINK]) assert.equal(s.send(op, 1, Buffer.from('x\0'))?.error, -1, `op ${op}`);
  assert.equal(s.send(Op.LOOKUP, 1, Buffer.from('no-nul'))?.error, -22);
  assert.equal(s.send(Op.READ, 1, Buffer.alloc(8))?.error, -22);
  assert.equal(s.send(Op.INTERRUPT, 0, u64s(5)), undefined);
  s.d.handle(Buffer.alloc(10));
  assert.ok(s.logs.some((l) => l.includes('shorter than its header')));
});

test('a bug in the tree answers EIO and is logged with its stack; the next request is served', () => {
  const broken: AttrTree = {
    resolve: (path) => {
      if (path[0] === 'boom') throw new RangeError('tree bug');
      return path.length === 0 ? { kind: 'dir', mode: 0o755, entries: () => [] } : undefined;
    },
  };
  const s = new Session(broken);
  assert.equal(s.send(Op.LOOKUP, 1, Buffer.from('boom\0'))?.error, -5);
  assert.ok(s.logs.some((l) => l.includes('RangeError: tree bug') && l.includes('at ')), s.logs.join('\n'));
  assert.equal(s.send(Op.LOOKUP, 1, Buffer.from('other\0'))?.error, -2);
});

test('READ renders once at offset 0 and serves later offsets from that value', () => {
  let shows = 0;
  const t = new ToyTree().file('big', 0o444, () => (++shows, 'a'.repeat(5000) + 'b'.repeat(5000)));
  const s = new Session(t);
  const fh = s.open(s.lookup(1, 'big'));
  const first = s.send(Op.READ, 0, readIn(fh, 0, 4096))!;
  const second = s.send(Op.READ, 0, readIn(fh, 4096, 4096))!;
  const third = s.send(Op.READ, 0, readIn(fh, 8192, 4096))!;
  const end = s.send(Op.READ, 0, readIn(fh, 10000, 4096))!;
  assert.deepEqual([first.body.length, second.body.length, third.body.length, end.body.length], [4096, 4096, 1808, 0]);
  assert.equal(second.body.toString()[903], 'a');
  assert.equal(second.body.toString()[904], 'b');
  assert.equal(shows, 1);
  s.send(Op.READ, 0, readIn(fh, 0, 4096));
  assert.equal(shows, 2, 'a read at offset 0 renders again');
  assert.equal(s.send(Op.RELEASE, 0, u64s(fh, 0, 0))?.error, 0);
  assert.equal(s.d.handleCount, 0);
});

test('an async store answers later without holding up other requests', async () => {
  let release!: () => void;
  const t = new ToyTree().file('slow', 0o200, undefined, () => new Promise<void>((r) => (release = r))).file('fast', 0o444, () => 'f\n');
  const s = new Session(t);
  const fh = s.open(s.lookup(1, 'slow'), Op.OPEN, 1);
  const w = Buffer.concat([readIn(fh, 0, 3), Buffer.from('abc')]);
  assert.equal(s.send(Op.WRITE, 0, w), undefined, 'no reply yet');
  assert.equal(s.send(Op.LOOKUP, 1, Buffer.from('fast\0'))?.error, 0, 'served meanwhile');
  release();
  await sleep(1);
  const last = s.replies[s.replies.length - 1]!;
  assert.deepEqual([last.error, last.body.readUInt32LE(0)], [0, 3]);
});

test('READDIRPLUS takes one reference per entry it returns and continues at the returned offset', () => {
  const t = new ToyTree();
  for (let i = 0; i < 20; i++) t.file(`attribute_number_${i}`, 0o444, () => `${i}\n`);
  const s = new Session(t);
  const fh = s.open(1, Op.OPENDIR);
  const names: string[] = [];
  let offset = 0;
  for (let guard = 0; guard < 50; guard++) {
    const r = s.send(Op.READDIRPLUS, 1, readIn(fh, offset, 1024))!;
    assert.equal(r.error, 0);
    if (r.body.length === 0) break;
    for (let p = 0; p < r.body.length; ) {
      const namelen = r.body.readUInt32LE(p + 144);
      names.push(r.body.toString('utf8', p + 152, p + 152 + namelen));
      offset = Number(r.body.readBigUInt64LE(p + 136));
      p += (152 + namelen + 7) & ~7;
    }
  }
  assert.equal(names.length, 22);
  assert.deepEqual(names.slice(0, 3), ['.', '..', 'attribute_number_0']);
  assert.equal(s.d.inodeCount, 21, 'root plus one per entry; . and .. take none');
});

test('READDIR pages through . .. and the entries without taking references; d_ino is the node id when known', () => {
  const t = new ToyTree().dir('devices');
  for (let i = 0; i < 30; i++) t.file(`f${i}`, 0o444, () => '');
  const s = new Session(t);
  const devices = s.lookup(1, 'devices');
  const fh = s.open(1, Op.OPENDIR);
  const seen: [string, number, number][] = [];
  let offset = 0;
  for (let guard = 0; guard < 50; guard++) {
    const r = s.send(Op.READDIR, 1, readIn(fh, offset, 200))!;
    if (r.body.length === 0) break;
    for (let p = 0; p < r.body.length; ) {
      const namelen = r.body.readUInt32LE(p + 16);
      seen.push([r.body.toString('utf8', p + 24, p + 24 + namelen), Number(r.body.readBigUInt64LE(p)), r.body.readUInt32LE(p + 20)]);
      offset = Number(r.body.readBigUInt64LE(p + 8));
      p += (24 + namelen + 7) & ~7;
    }
  }
  assert.equal(seen.length, 33);
  assert.deepEqual(seen.slice(0, 3), [
    ['.', 1, 4],
    ['..', 1, 4],
    ['devices', devices, 4],
  ]);
  assert.equal(seen[3]![2], 8, 'DT_REG');
  assert.ok(seen[3]![1] > 0xffff_ffff, 'a synthetic d_ino for an entry without a node id');
  assert.equal(new Set(seen.map((e) => e[0])).size, 33, 'no entry twice across pages');
  assert.equal(s.d.inodeCount, 2, 'root and devices only');
  assert.equal(s.send(Op.RELEASEDIR, 0, u64s(fh, 0, 0))?.error, 0);
});

test('a removal notifies the kernel: DELETE for a known child, INVAL_ENTRY for an unknown one, nothing under an unknown parent', () => {
  const t = tree().dir('other').dir('other/x').dir('devices/u2');
  const s = new Session(t);
  const devices = s.lookup(1, 'devices');
  const u1 = s.lookup(devices, 'u1');
  s.lookup(u1, 'name');
  t.remove('devices/u1');
  t.remove('devices/u2');
  t.remove('other/x');
  assert.equal(s.notes.length, 2);
  const [del, inval] = s.notes as [Buffer, Buffer];
  assert.deepEqual([del.readInt32LE(4), Number(del.readBigUInt64LE(16)), Number(del.readBigUInt64LE(24)), del.toString('utf8', 40, 42)], [6, devices, u1, 'u1']);
  assert.deepEqual([inval.readInt32LE(4), Number(inval.readBigUInt64LE(16)), inval.toString('utf8', 32, 34)], [3, devices, 'u2']);
  assert.equal(s.send(Op.GETATTR, u1, Buffer.alloc(16))?.error, -2, 'the removed node id is dead');
  t.dir('devices/u1');
  assert.notEqual(s.lookup(devices, 'u1'), u1, 'a re-created entry gets a new node id');
});

test('a node id stands for one symlink target: re-pointed in place, the old id is dead and a lookup gets a new one', () => {
  // The kernel caches a link's target per node id (FUSE_CACHE_SYMLINKS), so a tree that re-points a link without
  // reporting it must not have the new target served under the old id.
  let target = 'devices';
  const t = tree();
  const moving: AttrTree = { resolve: (path) => (path.join('/') === 'l' ? { kind: 'symlink', target } : t.resolve(path)) };
  const s = new Session(moving);
  const r = s.send(Op.LOOKUP, 1, Buffer.from('l\0'))!;
  assert.equal(r.body.readBigUInt64LE(40 + 8), 7n, 'st_size is the target length, where a caching kernel ends the target');
  const old = Number(r.body.readBigUInt64LE(0));
  assert.equal(s.send(Op.READLINK, old)?.body.toString(), 'devices');
  assert.equal(s.lookup(1, 'l'), old, 'same target, same node id');
  target = 'value';
  assert.equal(s.send(Op.READLINK, old)?.error, -2, 'the old node id does not serve the new target');
  const fresh = s.lookup(1, 'l');
  assert.notEqual(fresh, old);
  assert.equal(s.send(Op.READLINK, fresh)?.body.toString(), 'value');
  target = 'devices/u1';
  assert.notEqual(s.lookup(1, 'l'), fresh, 'a lookup alone notices the change too');
});

test('other users get the permission bits on top of the attribute capabilities', () => {
  const t = new ToyTree().file('rw', 0o644, () => 'x', () => undefined).dir('private', 0o700).file('private/f', 0o444, () => 'x');
  const s = new Session(t);
  const rw = s.lookup(1, 'rw');
  const open = (flags: number, uid: number) => {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(flags, 0);
    return s.send(Op.OPEN, rw, b, uid)?.error;
  };
  assert.equal(open(1, 0), 0);
  assert.equal(open(1, 1000), -13);
  assert.equal(open(0, 1000), 0);
  const priv = s.lookup(1, 'private');
  assert.equal(s.send(Op.LOOKUP, priv, Buffer.from('f\0'), 1000)?.error, -13);
});

test('an async show that resolves to a wrong type or rejects with a bug answers EIO, without an unhandled rejection', async () => {
  const t = new ToyTree()
    .file('wrong', 0o444, () => Promise.resolve(42 as unknown as string))
    .file('rejects', 0o444, () => Promise.reject(new Error('async bug')));
  const s = new Session(t);
  for (const name of ['wrong', 'rejects']) {
    const fh = s.open(s.lookup(1, name));
    assert.equal(s.send(Op.READ, 0, readIn(fh, 0, 4096)), undefined);
  }
  await sleep(1);
  assert.deepEqual(s.replies.slice(-2).map((r) => r.error), [-5, -5]);
  assert.ok(s.logs.some((l) => l.includes('neither a string nor a Buffer')));
  assert.ok(s.logs.some((l) => l.includes('async bug')));
});

test('a store error keeps its errno', () => {
  const t = new ToyTree().file('create', 0o200, undefined, () => {
    throw err('EUSERS', 'too many');
  });
  const s = new Session(t);
  const fh = s.open(s.lookup(1, 'create'), Op.OPEN, 1);
  assert.equal(s.send(Op.WRITE, 0, Buffer.concat([readIn(fh, 0, 1), Buffer.from('1')]))?.error, -87);
});

test('failed requests are logged at debug with the opcode name, under one `fuse:` prefix from the caller', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', sink: { write: (l: string) => lines.push(l) } }).child('fuse');
  const s = new Session(new ToyTree(), (level, m) => log[level](m));
  assert.equal(s.send(Op.LOOKUP, 1, Buffer.from('nosuch\0'))?.error, -2);
  assert.equal(s.send(0x7777, 1)?.error, -38);
  assert.equal(lines.length, 2, lines.join(''));
  assert.match(lines[0]!, / debug fuse: LOOKUP failed: ENOENT /);
  assert.match(lines[1]!, / debug fuse: opcode 30583 failed: ENOSYS /);
  for (const l of lines) assert.doesNotMatch(l, /fuse: fuse:/);
  assert.equal(opName(Op.GETATTR), 'GETATTR');
  assert.equal(opName(Op.BATCH_FORGET), 'BATCH_FORGET');
});

test('notification errors that mean the kernel is already there are not logged; others are', () => {
  // ENOTEMPTY: NOTIFY_DELETE of a directory whose dentry still has cached children (the kernel invalidated it anyway).
  for (const code of ['ENOENT', 'ENOTEMPTY', 'ENODEV']) assert.equal(benignNotifyError(code), true, code);
  for (const code of ['EINVAL', 'EIO', undefined]) assert.equal(benignNotifyError(code), false, String(code));
});
