import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeArgszPair } from '../../src/vfio-user/codec.js';
import { Command, FeatureFlags } from '../../src/vfio-user/constants.js';
import { expectErrno, startServer } from './fixtures.js';

test('DEVICE_FEATURE: short, small argsz, bad flag combinations are EINVAL; migration features EOPNOTSUPP', async (t) => {
  const h = await startServer(t);
  const c = await h.connect();
  const feature = (argsz: number, flags: number, data = Buffer.alloc(0)) =>
    c.request(Command.DEVICE_FEATURE, encodeArgszPair({ argsz, word: flags, data }));
  await expectErrno(c.request(Command.DEVICE_FEATURE, Buffer.alloc(4)), 'EINVAL');
  await expectErrno(feature(4, FeatureFlags.GET | 1), 'EINVAL');
  await expectErrno(feature(64, FeatureFlags.GET | FeatureFlags.SET | 1), 'EINVAL');
  await expectErrno(feature(64, 1), 'EINVAL');
  await expectErrno(feature(64, 1 << 20 | FeatureFlags.GET | 1), 'EINVAL');
  await expectErrno(feature(64, FeatureFlags.GET | 1), 'EOPNOTSUPP'); // MIGRATION
  await expectErrno(feature(64, FeatureFlags.PROBE | FeatureFlags.SET | 2), 'EOPNOTSUPP'); // MIG_DEVICE_STATE
  await expectErrno(feature(64, FeatureFlags.SET | 6, Buffer.alloc(16)), 'EOPNOTSUPP'); // DMA_LOGGING_START
  assert.equal((await c.deviceInfo()).numRegions, 9, 'connection still usable');
});
