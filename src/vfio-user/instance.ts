/**
 * Concepts: a device's one live instance (the kernel's `mdev_device` plus the vendor's state), wherever it runs: in
 * this process (`LocalInstance`), or in the device's own host process (`src/daemon/device-host/`), reached through
 * one typed call per use. Everything per-instance goes through it: a client's session, vendor attributes,
 * online/offline, reset, release requests, the screen and migration. The core keeps the device's record and
 * the vendor state it holds is this object; the vfio-user bus driver hands each accepted client to it.
 *
 * An instance lives from the device's create to its remove (`dispose`), across any number of client sessions.
 */
import type { UmdevError } from '../errors.js';
import type { LimitedLog } from '../log-limit.js';
import type { Native } from '../native/index.js';
import type { MigrationPort } from '../vfio/migration-port.js';
import type { DmaBudget } from './dma-budget.js';
import type { Logger } from './log.js';

/** One client's session with the instance. */
export interface ActiveSession {
  /** True once the client is known to be gone (the device may still be closing). */
  readonly closed: boolean;
  /** Whether the client is still there: a client that hung up is noticed now (its socket is read). */
  probe(): Promise<boolean>;
  /** Whether the client asked about the device's migration (DEVICE_FEATURE MIGRATION): a VMM that can follow one. */
  negotiatedMigration(): Promise<boolean>;
  /** End the session (the device is being removed, or its handle revoked). */
  close(reason: UmdevError): void;
  /** Resolves once the device is closed again after the client; never rejects. */
  readonly done: Promise<void>;
  /** Who serves the client, when it is not this process (`device host pid 42`); for log lines. */
  readonly server?: string;
}

/**
 * The socket pair of a twin socket (server end, client end): `take` it when the client negotiates twin-socket mode,
 * `drop` it when the client's VERSION did not ask (a pair made in advance is then closed at once).
 */
export interface TwinSource {
  take(): [number, number];
  drop(): void;
}

/** What an instance is told with the client it is handed: who it is, and the serving process's own settings. */
export interface ServeContext {
  /** `vfio-user client pid 1234 (uid 0)`, for log lines. */
  readonly who: string;
  readonly io: Native;
  /** The device's `vfio-user[<uuid>]` log. */
  readonly log: Logger;
  readonly limited?: LimitedLog;
  readonly maxDmaMaps?: number;
  readonly dmaBudget?: DmaBudget;
  readonly busyPollNs?: number;
  /** Where the socket pair of a client's twin socket comes from; absent: none is offered. */
  readonly twin?: TwinSource;
}

/**
 * A file the root opened for the device (a disk's backing store): the fd, which the receiver owns from then on, and
 * what the root found it to be. See `src/sdk/file-source.ts`.
 */
export interface OpenedFile {
  readonly fd: number;
  /** Bytes in it when it was opened. */
  readonly size: number;
  readonly kind: 'file' | 'block';
  readonly readOnly: boolean;
  /** What the user named, for log lines. */
  readonly label: string;
}

/** Opens the device's file anew, in the root; called each time a model needs it (a fresh device host). */
export type FileSource = () => OpenedFile;

/** The device's live instance. Owned by the core's record of the device (its vendor state); see the module comment. */
export abstract class DeviceInstance {
  /** Serve the accepted client socket `fd` (owned from here on) until it goes; at most one session at a time. */
  abstract serve(fd: number, context: ServeContext): ActiveSession;
  /** A vendor attribute's value (`group` undefined: in the device's own directory). */
  abstract showAttribute(group: string | undefined, name: string): Promise<string>;
  abstract storeAttribute(group: string | undefined, name: string, value: string): Promise<void>;
  /** The vendor's start and stop (the device's `online`). */
  abstract start(): Promise<void>;
  abstract stop(): Promise<void>;
  /** VFIO_DEVICE_RESET from outside the client (sysfs `reset`, the API). */
  abstract reset(): Promise<void>;
  /** A removal waits for the client: ask it to let go (the REQ interrupt), `count` times so far. */
  abstract requestRelease(count: number): void;
  /** The screen as PNG: EOPNOTSUPP without a display, EBUSY with the reason when it shows nothing. */
  abstract screen(): Promise<Buffer>;
  /** Claim the device's migration for `owner`. */
  abstract openMigration(owner: string): Promise<MigrationPort>;
  /**
   * Give the model the file `name` (one the parent declared in `files`) from `source`, now if the model exists and
   * again whenever a new one is built. The model may refuse (`EBUSY` while a client uses the old file); the instance
   * then keeps what it had.
   */
  abstract attachFile(name: string, source: FileSource): Promise<void>;
  /** The device is removed: release everything (a host exits). Idempotent. */
  abstract dispose(): Promise<void>;
}
