/**
 * Concepts: a device's migration as umdevd drives it, wherever the device's live state is: the device instance in
 * the daemon (`localPort`), or the instance a device host serves its client from (a port over the host's IPC). A
 * port is opened with a claim (`MigrationDriver.claim`), so the device's vfio-user client cannot change states
 * under the daemon, and is released when the migration ends either way. Besides the device stream it carries the
 * platform state (config space, interrupt configuration) that a VMM would carry itself.
 *
 * `saveDevice`/`loadDevice` move a resting device's whole state in one piece: how a device host receives the state
 * a migration left in the daemon's instance.
 */
import { err } from '../errors.js';
import { VFIO_DEVICE_STATE as S } from './constants.js';
import type { PciFunction, PlatformState } from './pci-function.js';

/** One claimed migration of one device. Owned by whoever opened it; `release` ends it (idempotent). */
export interface MigrationPort {
  /** VFIO_MIGRATION_* flags of the device. */
  readonly flags: number;
  setState(target: number): Promise<void>;
  /** Up to `max` bytes of the outgoing stream; empty when nothing more is ready. */
  read(max: number): Promise<Uint8Array>;
  /** The next chunk of the incoming stream (RESUMING). */
  write(chunk: Uint8Array): Promise<void>;
  platform(): Promise<PlatformState>;
  /**
   * RUNNING or PRE_COPY → STOP_COPY, then everything the device has left to send and its platform state, in one
   * step: the switch-over, kept to one round trip where the device lives in another process.
   */
  stopAndCopy(): Promise<{ readonly stream: Uint8Array; readonly platform: PlatformState }>;
  loadPlatform(p: PlatformState): Promise<void>;
  /** VFIO_DEVICE_RESET of the migration: back to RUNNING from any state (ERROR included); ends the claim. */
  reset(): Promise<void>;
  release(): void;
}

/** The device's migration, claimed for `owner`; EOPNOTSUPP for a device without one, EBUSY when taken. */
export function localPort(device: PciFunction, owner: string): MigrationPort {
  const m = device.migration;
  if (!m) throw err('EOPNOTSUPP', 'the device does not support migration');
  const claim = m.claim(owner);
  return {
    flags: m.flags,
    setState: (target) => claim.setState(target),
    read: async (max) => m.read(max),
    write: async (chunk) => m.write(chunk),
    platform: async () => device.platformState(),
    stopAndCopy: async () => {
      await claim.setState(S.STOP_COPY);
      const parts: Uint8Array[] = [];
      for (let chunk = m.read(1 << 20); chunk.length > 0; chunk = m.read(1 << 20)) parts.push(chunk);
      return { stream: parts.length === 1 ? parts[0]! : Buffer.concat(parts), platform: device.platformState() };
    },
    loadPlatform: async (p) => device.loadPlatformState(p),
    reset: () => m.reset(),
    release: () => claim.release(),
  };
}

/** A device's whole state, as one resting device hands it to another instance of the same type. Plain data. */
export interface DeviceSnapshot {
  /** The device stream (base64). */
  readonly stream: string;
  readonly platform: PlatformState;
}

/** Everything a STOP_COPY of `device` gives, and its platform state; the device is RUNNING again afterwards. */
export async function saveDevice(device: PciFunction, owner: string): Promise<DeviceSnapshot> {
  const port = localPort(device, owner);
  try {
    const { stream, platform } = await port.stopAndCopy();
    await port.setState(S.RUNNING);
    return { stream: Buffer.from(stream).toString('base64'), platform };
  } catch (e) {
    await port.reset();
    throw e;
  } finally {
    port.release();
  }
}

/** Load a `saveDevice` snapshot into a device of the same type, all or nothing (a failure resets the migration). */
export async function loadDevice(device: PciFunction, snap: DeviceSnapshot, owner: string): Promise<void> {
  const port = localPort(device, owner);
  try {
    await port.setState(S.RESUMING);
    await port.write(Buffer.from(snap.stream, 'base64'));
    await port.setState(S.RUNNING);
    await port.loadPlatform(snap.platform);
  } catch (e) {
    await port.reset();
    throw e;
  } finally {
    port.release();
  }
}
