/**
 * Concepts: what umdevd (root) and a device host (one vfio-user session, unprivileged) say to each other over
 * Node's IPC channel. The root starts a host per client connection with the accepted socket as the host's fd 3 and
 * one `init`; after that it only pings, resets and stops it, and drives a migration of the host's instance. The host answers pings and says when the client is
 * being served. Everything a client sends stays inside the host.
 */
import type { DeviceSnapshot } from '../../vfio/migration-port.js';
import type { PlatformState } from '../../vfio/pci-device.js';

/** The accepted client socket, as the host sees it (stdio slot 3). */
export const CLIENT_FD = 3;

/** Sent once, first. */
export interface HostInit {
  readonly type: 'init';
  readonly uuid: string;
  /** The driver catalog module (file URL) that names `driver`; the host builds its own instance of the device. */
  readonly catalog: string;
  readonly driver: string;
  readonly options: Readonly<Record<string, unknown>>;
  /** The parent's name and the type's id (`mtty-2`) as registered by that driver. */
  readonly parent: string;
  readonly typeId: string;
  /** Drop to these ids after loading the code and before reading the client's first byte. */
  readonly uid: number | undefined;
  readonly gid: number | undefined;
  readonly log: { readonly level: 'debug' | 'info' | 'warn' | 'error'; readonly json: boolean };
  readonly maxDmaMaps: number | undefined;
  /** Busy-poll window ceiling for the client's socket, ns (0: never). */
  readonly busyPollNs: number;
  /** State a migration left in the daemon's instance of the device: the host's instance starts from it. */
  readonly restore?: DeviceSnapshot;
}

/** One operation on the migration of the host's device instance (`MigrationPort`, over IPC). */
export type MigrationOp =
  | { readonly op: 'open'; readonly owner: string }
  | { readonly op: 'state'; readonly target: number }
  | { readonly op: 'read'; readonly max: number }
  | { readonly op: 'write'; readonly data: string }
  | { readonly op: 'platform' }
  | { readonly op: 'stop-copy' }
  | { readonly op: 'load-platform'; readonly platform: PlatformState }
  | { readonly op: 'reset' }
  | { readonly op: 'release' };

/** The answer to one `MigrationOp`: an error, or what the operation returns (data in base64). */
export interface MigrationReply {
  readonly type: 'mig-reply';
  readonly seq: number;
  readonly error?: { readonly errno: string; readonly message: string };
  readonly flags?: number;
  readonly data?: string;
  readonly platform?: PlatformState;
}

export type RootMessage =
  | HostInit
  | { readonly type: 'ping'; readonly seq: number }
  | { readonly type: 'reset' }
  /** A plain removal waits for the client: ask it to let go (the device's REQ interrupt), `count` times so far. */
  | { readonly type: 'request-release'; readonly count: number }
  /** The device's screen as PNG (the API's screen.png): its state lives in the host. */
  | { readonly type: 'screen'; readonly seq: number }
  | { readonly type: 'stop'; readonly reason: string }
  | ({ readonly type: 'mig'; readonly seq: number } & MigrationOp);

export type HostMessage =
  | { readonly type: 'serving' }
  /** The client hung up; the host now resets and closes the device, then exits. */
  | { readonly type: 'client-gone' }
  | { readonly type: 'pong'; readonly seq: number }
  | { readonly type: 'reset-done'; readonly error?: string }
  /** The answer to `screen`: the PNG in base64 (at most `MAX_SCREEN_PNG` bytes once decoded), or the failure's errno. */
  | { readonly type: 'screen'; readonly seq: number; readonly png?: string; readonly errno?: string; readonly message?: string }
  | MigrationReply;

/** A message from the other side, checked only for shape (both ends are umdev's own code). */
export function messageType(m: unknown): string | undefined {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string' ? (m as { type: string }).type : undefined;
}
