/**
 * Concepts: the destination side of a live migration between daemons. `begin` creates a device of the same parent,
 * type and UUID as the source's, claims its migration and puts it in RESUMING; `write` feeds it the source's
 * stream; `finish` leaves RESUMING (the device loads the stream, all or nothing) and loads the platform state (config
 * space, interrupt configuration) into the device's one instance, where its next client finds it. The stream is
 * parsed there (the device's host), never by umdevd. `abort`, a failed `finish`, or `idleMs` without a call (the source died) removes the
 * device again: nothing is left half-migrated.
 */
import type { MigrationBoard, MigrationTracker } from './board.js';
import { err, toUmdevError } from '../../errors.js';
import type { Core } from '../../core/core.js';
import type { Logger } from '../../log.js';
import { VFIO_DEVICE_STATE as S } from '../../vfio/constants.js';
import type { MigrationPort } from '../../vfio/migration-port.js';
import type { PlatformState } from '../../vfio/pci-device.js';

/** What a daemon needs from its device transport to take part in migrations. */
export interface MigrationTransport {
  /** Claim the migration of a device, on its one instance (in its device host, which parses the stream). */
  open(uuid: string, owner: string): Promise<MigrationPort>;
}

/** Most stream bytes one incoming migration may send; more is E2BIG and the migration is aborted. */
export const MAX_INCOMING_BYTES = 1 << 30;
/** An incoming migration without a call for this long is aborted (its source is gone). */
export const INCOMING_IDLE_MS = 30_000;

interface Incoming {
  readonly port: MigrationPort;
  bytes: number;
  timer: NodeJS.Timeout;
  /** Where the dashboard and /metrics see it. */
  readonly tracker: MigrationTracker | undefined;
}

/** The incoming migrations of one daemon, by UUID. Owned by the daemon; `close` aborts them all. */
export class IncomingMigrations {
  readonly #core: Core;
  readonly #transport: MigrationTransport;
  readonly #log: Logger;
  readonly #idleMs: number;
  readonly #active = new Map<string, Incoming>();
  readonly #board: MigrationBoard | undefined;

  constructor(core: Core, transport: MigrationTransport, log: Logger, idleMs = INCOMING_IDLE_MS, board?: MigrationBoard) {
    this.#board = board;
    this.#core = core;
    this.#transport = transport;
    this.#log = log.child('migration');
    this.#idleMs = idleMs;
  }

  /** Create the device and put it in RESUMING. EEXIST when the UUID is in use here, EINVAL when the flags differ. */
  async begin(parent: string, type: string, uuid: string, flags: number | undefined): Promise<void> {
    if (this.#active.has(uuid)) throw err('EEXIST', `a migration of ${uuid} is already coming in`);
    await this.#core.create(parent, type, uuid, { origin: 'migration' });
    let port: MigrationPort | undefined;
    try {
      port = await this.#transport.open(uuid, 'an incoming migration');
      if (flags !== undefined && flags !== port.flags) throw err('EINVAL', `the source migrates with flags ${flags}, this device with ${port.flags}`);
      await port.setState(S.RESUMING);
    } catch (e) {
      port?.release();
      await this.#remove(uuid);
      throw e;
    }
    this.#active.set(uuid, { port, bytes: 0, timer: this.#idle(uuid), tracker: this.#board?.begin(uuid, 'in', 'source') });
    this.#log.info(`incoming migration of ${uuid} (${parent}/${type}) started`);
  }

  /** The next bytes of the stream. */
  async write(uuid: string, chunk: Uint8Array): Promise<void> {
    const m = this.#get(uuid);
    m.bytes += chunk.length;
    m.tracker?.bytes(chunk.length);
    if (m.bytes > MAX_INCOMING_BYTES) {
      await this.abort(uuid, `more than ${MAX_INCOMING_BYTES} bytes`);
      throw err('E2BIG', `migration stream of ${uuid} is larger than ${MAX_INCOMING_BYTES} bytes`);
    }
    try {
      await m.port.write(chunk);
    } catch (e) {
      await this.abort(uuid, toUmdevError(e).message);
      throw e;
    }
  }

  /**
   * The stream's last bytes (`rest`, if any), RESUMING → RUNNING and the platform state; on failure the device is
   * removed. Returns the bytes taken.
   */
  async finish(uuid: string, platform: PlatformState, rest?: Uint8Array): Promise<number> {
    if (rest !== undefined && rest.length > 0) await this.write(uuid, rest);
    const m = this.#get(uuid);
    clearTimeout(m.timer);
    this.#active.delete(uuid);
    try {
      await m.port.setState(S.RUNNING);
      await m.port.loadPlatform(platform);
    } catch (e) {
      m.tracker?.end('failed');
      m.port.release();
      this.#log.warn(`incoming migration of ${uuid} failed to load: ${toUmdevError(e).message}; device removed`);
      await this.#remove(uuid);
      throw e;
    }
    m.tracker?.end('done');
    m.port.release();
    this.#log.info(`incoming migration of ${uuid} done (${m.bytes} bytes)`);
    return m.bytes;
  }

  /** Give up: the device is removed. ENOENT when no such migration is coming in. */
  async abort(uuid: string, why: string): Promise<void> {
    const m = this.#get(uuid);
    clearTimeout(m.timer);
    this.#active.delete(uuid);
    m.tracker?.end('failed');
    m.port.release();
    this.#log.warn(`incoming migration of ${uuid} aborted: ${why}; device removed`);
    await this.#remove(uuid);
  }

  /** Abort every incoming migration (daemon shutdown). */
  async close(): Promise<void> {
    await Promise.all([...this.#active.keys()].map((u) => this.abort(u, 'the daemon is stopping').catch(() => undefined)));
  }

  #get(uuid: string): Incoming {
    const m = this.#active.get(uuid);
    if (m === undefined) throw err('ENOENT', `no migration of ${uuid} is coming in`);
    m.timer.refresh();
    return m;
  }

  #idle(uuid: string): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.abort(uuid, `no word from the source for ${this.#idleMs} ms`).catch(() => undefined);
    }, this.#idleMs);
    t.unref();
    return t;
  }

  async #remove(uuid: string): Promise<void> {
    try {
      if (this.#core.device(uuid) !== undefined) await this.#core.remove(uuid, { force: true, origin: 'migration' });
    } catch (e) {
      this.#log.error(`could not remove ${uuid} after a failed incoming migration: ${toUmdevError(e).message}`);
    }
  }
}
