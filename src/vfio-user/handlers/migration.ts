/**
 * DEVICE_FEATURE, MIG_DATA_READ and MIG_DATA_WRITE. Migration is not implemented (and `migration` is never
 * announced in VERSION), so a well-formed request is answered EOPNOTSUPP (= ENOTSUP on Linux) and the connection
 * stays usable; a malformed one is EINVAL, like any other command.
 */
import { err } from '../../errors.js';
import { decodeArgszPair } from '../codec.js';
import { Command, FeatureFlags } from '../constants.js';
import type { Handler } from '../connection.js';

export const handleDeviceFeature: Handler = (_conn, msg) => {
  const f = decodeArgszPair(Command.DEVICE_FEATURE, msg.body);
  const getSet = f.word & (FeatureFlags.GET | FeatureFlags.SET);
  if (f.word & ~(FeatureFlags.MASK | FeatureFlags.GET | FeatureFlags.SET | FeatureFlags.PROBE)) {
    throw err('EINVAL', `DEVICE_FEATURE: unknown flags 0x${f.word.toString(16)}`);
  }
  if (getSet === (FeatureFlags.GET | FeatureFlags.SET) && !(f.word & FeatureFlags.PROBE)) {
    throw err('EINVAL', 'DEVICE_FEATURE: GET and SET together need PROBE');
  }
  if (!getSet && !(f.word & FeatureFlags.PROBE)) throw err('EINVAL', 'DEVICE_FEATURE: none of GET, SET, PROBE');
  throw err('EOPNOTSUPP', `DEVICE_FEATURE ${f.word & FeatureFlags.MASK} is not supported`);
};

export const handleMigDataRead: Handler = (_conn, msg) => {
  decodeArgszPair(Command.MIG_DATA_READ, msg.body);
  throw err('EOPNOTSUPP', 'migration is not supported');
};

export const handleMigDataWrite: Handler = (_conn, msg) => {
  const m = decodeArgszPair(Command.MIG_DATA_WRITE, msg.body);
  if (m.data.length !== m.word) throw err('EINVAL', `MIG_DATA_WRITE size ${m.word} but ${m.data.length} data bytes`);
  throw err('EOPNOTSUPP', 'migration is not supported');
};
