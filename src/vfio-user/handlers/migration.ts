/**
 * DEVICE_FEATURE, MIG_DATA_READ and MIG_DATA_WRITE: VFIO migration v2 over vfio-user (spec 0.9.2, linux/vfio.h).
 *
 * DEVICE_FEATURE carries `{u32 argsz, u32 flags, data[]}`; the feature id is the low 16 bits of flags. Supported, on a
 * device that declares migration: MIGRATION (GET: u64 VFIO_MIGRATION_* flags), MIG_DEVICE_STATE (GET, and SET,
 * which walks every arc of the way as the kernel's `vfio_mig_get_next_state`; the reply echoes the new state with
 * data_fd -1, since vfio-user moves data with MIG_DATA_*), DMA_LOGGING_START/STOP (SET) and DMA_LOGGING_REPORT
 * (GET, the bitmap appended to the reply). PROBE answers success for the operations a feature has and EINVAL for
 * the others (`vfio_check_feature`). Every malformed request (short payload, `argsz` below what the operation
 * needs, unknown flag bits, GET and SET together without PROBE, a state the device lacks: P2P ones included) is
 * EINVAL with the state unchanged; an arc that fails lands the device in ERROR, and DEVICE_RESET brings it back.
 * A device without migration answers EOPNOTSUPP to all of it, and the connection stays usable.
 *
 * MIG_DATA_READ (PRE_COPY, STOP_COPY) returns up to `size` bytes: a short read, then 0, ends what is ready.
 * MIG_DATA_WRITE (RESUMING) takes exactly `size` bytes. Either in another state is EINVAL.
 */
import { err } from '../../errors.js';
import { VFIO_DEVICE_FEATURE as V, VFIO_DEVICE_STATE as S } from '../../vfio/constants.js';
import type { MigrationDriver } from '../../vfio/device-migration.js';
import { type ArgszPair, decodeArgszPair } from '../codec.js';
import { Command, DEFAULT_PGSIZES, FeatureFlags, SERVER_MAX_DATA_XFER_SIZE } from '../constants.js';
import type { Connection, Handler, Reply } from '../connection.js';
import { DirtyLog, bitmapBytes } from '../dirty-log.js';

/** Largest dirty bitmap one REPORT returns (announced as `migration.max_bitmap_size`); it must fit in a reply. */
export const MAX_BITMAP_BYTES = SERVER_MAX_DATA_XFER_SIZE;

/** The operations each feature has. */
const OPS: ReadonlyMap<number, number> = new Map([
  [V.MIGRATION, FeatureFlags.GET],
  [V.MIG_DEVICE_STATE, FeatureFlags.GET | FeatureFlags.SET],
  [V.DMA_LOGGING_START, FeatureFlags.SET],
  [V.DMA_LOGGING_STOP, FeatureFlags.SET],
  [V.DMA_LOGGING_REPORT, FeatureFlags.GET],
]);

function migrationOf(conn: Connection, what: string): MigrationDriver {
  const m = conn.device.migration;
  if (!m) throw err('EOPNOTSUPP', `${what}: the device does not support migration`);
  return m;
}

export const handleDeviceFeature: Handler = async (conn, msg) => {
  const f = decodeArgszPair(Command.DEVICE_FEATURE, msg.body);
  const getSet = f.word & (FeatureFlags.GET | FeatureFlags.SET);
  const probe = (f.word & FeatureFlags.PROBE) !== 0;
  if (f.word & ~(FeatureFlags.MASK | FeatureFlags.GET | FeatureFlags.SET | FeatureFlags.PROBE)) {
    throw err('EINVAL', `DEVICE_FEATURE: unknown flags 0x${f.word.toString(16)}`);
  }
  if (getSet === (FeatureFlags.GET | FeatureFlags.SET) && !probe) throw err('EINVAL', 'DEVICE_FEATURE: GET and SET together need PROBE');
  if (!getSet && !probe) throw err('EINVAL', 'DEVICE_FEATURE: none of GET, SET, PROBE');
  const feature = f.word & FeatureFlags.MASK;
  const ops = OPS.get(feature);
  if (ops === undefined || !conn.device.migration) throw err('EOPNOTSUPP', `DEVICE_FEATURE ${feature} is not supported`);
  if (getSet & ~ops) throw err('EINVAL', `DEVICE_FEATURE ${feature} has no ${getSet & FeatureFlags.GET && !(ops & FeatureFlags.GET) ? 'GET' : 'SET'}`);
  // A client that asks about MIGRATION is one that can follow a migration (QEMU's VFIO path asks at realize when it
  // supports it; QEMU 11.1's vfio-user client never does): umdevd refuses to move a device from under any other.
  if (feature === V.MIGRATION) conn.migrationNegotiated = true;
  if (probe) return echo(f);
  const m = migrationOf(conn, 'DEVICE_FEATURE');
  switch (feature) {
    case V.MIGRATION: {
      need(f, 8, 'MIGRATION');
      const flags = Buffer.alloc(8);
      flags.writeBigUInt64LE(BigInt(m.flags));
      return echo(f, flags);
    }
    case V.MIG_DEVICE_STATE:
      return deviceState(m, f, getSet === FeatureFlags.SET);
    case V.DMA_LOGGING_START:
      return loggingStart(conn, f);
    case V.DMA_LOGGING_STOP:
      conn.dirtyLog = undefined;
      conn.dma.writeLog = undefined;
      return echo(f);
    default:
      return loggingReport(conn, f);
  }
};

/** `argsz` and the payload must both cover `bytes` of feature data. */
function need(f: ArgszPair, bytes: number, what: string): void {
  if (f.argsz < 8 + bytes) throw err('EINVAL', `DEVICE_FEATURE ${what}: argsz ${f.argsz} is below ${8 + bytes}`);
}

function needData(f: ArgszPair, bytes: number, what: string): void {
  need(f, bytes, what);
  if (f.data.length < bytes) throw err('EINVAL', `DEVICE_FEATURE ${what}: ${f.data.length} data bytes, needs ${bytes}`);
}

/** The reply: `{argsz, flags}` then `data` (GET) or nothing; argsz says how much is real. */
function echo(f: ArgszPair, data?: Buffer): Reply {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(8 + (data?.length ?? 0), 0);
  head.writeUInt32LE(f.word, 4);
  return { payload: data ? [head, data] : head };
}

async function deviceState(m: MigrationDriver, f: ArgszPair, set: boolean): Promise<Reply> {
  const state = Buffer.alloc(8);
  if (set) {
    needData(f, 8, 'MIG_DEVICE_STATE');
    const target = f.data.readUInt32LE(0);
    // ERROR is never a target; unsupported states (P2P ones) are refused by the walk, before any arc.
    if (target === S.ERROR) throw err('EINVAL', 'MIG_DEVICE_STATE: ERROR cannot be requested');
    await m.setState(target);
  } else {
    need(f, 8, 'MIG_DEVICE_STATE');
  }
  state.writeUInt32LE(m.state, 0);
  // data_fd: vfio-user moves the data with MIG_DATA_READ/WRITE, never through an fd.
  state.writeInt32LE(-1, 4);
  return echo(f, state);
}

function loggingStart(conn: Connection, f: ArgszPair): Reply {
  needData(f, 16, 'DMA_LOGGING_START');
  const pageSize = f.data.readBigUInt64LE(0);
  const n = f.data.readUInt32LE(8);
  if (f.data.readUInt32LE(12) !== 0) throw err('EINVAL', 'DMA_LOGGING_START: reserved field is not zero');
  // No ranges: log every write the device makes, as the vfio-user spec defines num_ranges 0.
  if (n > 256) throw err('EINVAL', `DMA_LOGGING_START: ${n} ranges`);
  needData(f, 16 + 16 * n, 'DMA_LOGGING_START');
  const ranges = Array.from({ length: n }, (_, i) => ({ iova: f.data.readBigUInt64LE(16 + 16 * i), length: f.data.readBigUInt64LE(24 + 16 * i) }));
  if (conn.dirtyLog) throw err('EBUSY', 'DMA_LOGGING_START: logging is already on (stop it first)');
  const log = new DirtyLog(pageSize, ranges, BigInt(DEFAULT_PGSIZES), MAX_BITMAP_BYTES * 64);
  conn.dirtyLog = log;
  conn.dma.writeLog = (iova, length) => log.mark(iova, length);
  return echo(f);
}

function loggingReport(conn: Connection, f: ArgszPair): Reply {
  needData(f, 24, 'DMA_LOGGING_REPORT');
  const iova = f.data.readBigUInt64LE(0);
  const length = f.data.readBigUInt64LE(8);
  const pageSize = f.data.readBigUInt64LE(16);
  const log = conn.dirtyLog;
  if (!log) throw err('EINVAL', 'DMA_LOGGING_REPORT: logging is not on');
  if (pageSize === 0n || length === 0n) throw err('EINVAL', 'DMA_LOGGING_REPORT: zero page size or length');
  const bytes = bitmapBytes(length, pageSize);
  if (bytes > MAX_BITMAP_BYTES) throw err('EINVAL', `DMA_LOGGING_REPORT: a bitmap of ${bytes} bytes exceeds ${MAX_BITMAP_BYTES}`);
  need(f, 24 + bytes, 'DMA_LOGGING_REPORT');
  const bitmap = log.report(iova, length, pageSize);
  return echo(f, Buffer.concat([f.data.subarray(0, 24), bitmap]));
}

/** `{argsz, size}` of a MIG_DATA request, checked against the transfer limit. */
function dataRequest(cmd: number, body: Buffer): ArgszPair {
  const p = decodeArgszPair(cmd, body);
  const name = cmd === Command.MIG_DATA_READ ? 'MIG_DATA_READ' : 'MIG_DATA_WRITE';
  if (p.word > SERVER_MAX_DATA_XFER_SIZE) throw err('EINVAL', `${name}: size ${p.word} exceeds max_data_xfer_size`);
  if (p.argsz < 8 + p.word) throw err('EINVAL', `${name}: argsz ${p.argsz} is below ${8 + p.word}`);
  return p;
}

export const handleMigDataRead: Handler = (conn, msg) => {
  const p = dataRequest(Command.MIG_DATA_READ, msg.body);
  if (p.data.length !== 0) throw err('EINVAL', `MIG_DATA_READ carries ${p.data.length} data bytes`);
  const m = migrationOf(conn, 'MIG_DATA_READ');
  if (m.state !== S.PRE_COPY && m.state !== S.STOP_COPY) throw err('EINVAL', `MIG_DATA_READ in migration state ${m.state}`);
  const data = Buffer.from(m.read(p.word));
  const head = Buffer.alloc(8);
  head.writeUInt32LE(8 + data.length, 0);
  head.writeUInt32LE(data.length, 4);
  return { payload: [head, data] };
};

export const handleMigDataWrite: Handler = (conn, msg) => {
  const p = dataRequest(Command.MIG_DATA_WRITE, msg.body);
  if (p.data.length !== p.word) throw err('EINVAL', `MIG_DATA_WRITE size ${p.word} but ${p.data.length} data bytes`);
  const m = migrationOf(conn, 'MIG_DATA_WRITE');
  if (m.state !== S.RESUMING) throw err('EINVAL', `MIG_DATA_WRITE in migration state ${m.state}`);
  m.write(p.data);
  return undefined;
};
