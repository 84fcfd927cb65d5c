/** The wire shapes the page receives (umdevd's API views, as the dashboard server passes them on). */

export interface TypeView {
  readonly parent: string;
  readonly id: string;
  readonly name: string;
  readonly description?: string;
  readonly availableInstances: number | null;
}

export interface ParentView {
  readonly name: string;
  readonly driver: string;
  readonly types: readonly TypeView[];
}

export interface DeviceView {
  readonly uuid: string;
  readonly parent: string;
  readonly type: string;
  readonly state: string;
  readonly online: boolean;
  readonly driver: string | null;
  readonly openCount: number;
  readonly socket?: string;
}

export interface DefinitionView {
  readonly uuid: string;
  readonly parent: string;
  readonly type: string;
  readonly start: 'auto' | 'manual';
}

export interface ClientInfo {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  readonly since: number;
}

export interface Counters {
  readonly requests: number;
  readonly errors: number;
  readonly interrupts: number;
  readonly dmaMaps: number;
  readonly dmaUnmaps: number;
  readonly dmaBytes: number;
  readonly latency: { readonly count: number; readonly sum: number };
}

export interface ActivityView {
  readonly uuid: string;
  readonly client?: ClientInfo;
  readonly host?: { readonly pid: number; readonly uid: number; readonly rssBytes: number; readonly cpuSeconds: number };
  readonly counters?: Counters;
}

export interface MigrationView {
  readonly uuid: string;
  readonly direction: 'in' | 'out';
  readonly phase: string;
  readonly bytes: number;
  readonly peer: string;
  readonly startedAt: number;
}

export interface CoreEvent {
  readonly kind: string;
  readonly parent: string;
  readonly uuid?: string;
  readonly type?: string;
  readonly message?: string;
  readonly origin?: string;
  readonly seq: number;
}

export interface Snapshot {
  /** The hub's name for this state; the live stream is asked for what came after it. */
  readonly version: string;
  readonly devices: DeviceView[];
  readonly pools: ParentView[];
  readonly definitions: DefinitionView[];
  readonly activity: ActivityView[];
  readonly migrations: MigrationView[];
  readonly connected: boolean;
}

export interface SessionInfo {
  readonly csrf: string;
  readonly privileged: boolean;
  readonly peers: readonly string[];
  readonly api: string;
}

/** What the page comes with (the JSON block `#boot`): its session, and the first state unless umdevd was slow. */
export interface Boot {
  readonly session: SessionInfo;
  readonly state: Snapshot | null;
  readonly problem?: string;
}
