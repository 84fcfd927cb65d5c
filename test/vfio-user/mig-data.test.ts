import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeArgszPair } from '../../src/vfio-user/codec.js';
import { Command } from '../../src/vfio-user/constants.js';
import { expectErrno, startServer } from './fixtures.js';

test('MIG_DATA_READ/WRITE: malformed is EINVAL, well-formed EOPNOTSUPP (no migration), connection stays', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  await expectErrno(c.request(Command.MIG_DATA_READ, Buffer.alloc(4)), 'EINVAL');
  await expectErrno(c.request(Command.MIG_DATA_READ, encodeArgszPair({ argsz: 4, word: 16, data: Buffer.alloc(0) })), 'EINVAL');
  await expectErrno(c.request(Command.MIG_DATA_READ, encodeArgszPair({ argsz: 24, word: 16, data: Buffer.alloc(0) })), 'EOPNOTSUPP');
  await expectErrno(c.request(Command.MIG_DATA_WRITE, encodeArgszPair({ argsz: 8, word: 16, data: Buffer.alloc(8) })), 'EINVAL');
  await expectErrno(c.request(Command.MIG_DATA_WRITE, encodeArgszPair({ argsz: 8, word: 8, data: Buffer.alloc(8) })), 'EOPNOTSUPP');
  assert.equal((await c.irqInfo(1)).count, 2);
});
