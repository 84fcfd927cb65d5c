/**
 * Concepts: the JSON the control API speaks, as plain types shared by its server (umdevd renders them from the core)
 * and its clients (umdevctl, the dashboard, umdev-k8s, a daemon migrating to another). One declaration per shape,
 * so a client never restates what the daemon sends.
 */

export interface TypeView {
  readonly parent: string;
  readonly id: string;
  readonly name: string;
  readonly deviceApi: string;
  readonly description?: string;
  /** Free instances now; null when the vendor could not say (its errno is in `availableError`). */
  readonly availableInstances: number | null;
  readonly availableError?: string;
}

export interface ParentView {
  readonly name: string;
  readonly devicePath: string;
  readonly driver: string;
  readonly deviceApi: string;
  readonly unregistering: boolean;
  readonly hasReset: boolean;
  readonly hasOnline: boolean;
  readonly types: readonly TypeView[];
}

export interface DeviceView {
  readonly uuid: string;
  readonly name: string;
  readonly parent: string;
  readonly type: string;
  readonly state: string;
  readonly online: boolean;
  readonly iommuGroup: number | null;
  readonly driver: string | null;
  readonly openCount: number;
  readonly instance?: number;
  readonly params?: string;
  readonly socket?: string;
}

/** One step of a migration, as the CLI shows it. Plain data (one NDJSON line each). */
export type MigrationEvent =
  | { readonly phase: 'created'; readonly to: string }
  | { readonly phase: 'pre-copy'; readonly bytes: number }
  | { readonly phase: 'stop-copy'; readonly bytes: number }
  | { readonly phase: 'switched'; readonly downtimeMs: number }
  | { readonly phase: 'rolled-back'; readonly reason: string };

/** What a finished migration reports. Plain data. */
export interface MigrationResult {
  readonly uuid: string;
  readonly to: string;
  /** The device's socket on the destination, when it said. */
  readonly socket?: string;
  readonly preCopyBytes: number;
  readonly stopCopyBytes: number;
  /** STOP_COPY's start to the destination's RUNNING. */
  readonly downtimeMs: number;
  readonly totalMs: number;
}

/** One line of `POST /devices/UUID/migrate`'s NDJSON stream: a step, the result, or the error that ended it. */
export type MigrationLine = MigrationEvent | { readonly done: MigrationResult } | { readonly error: { readonly errno: string; readonly message: string } };
