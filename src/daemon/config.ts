/**
 * Concepts: what one umdevd runs, as a plain validated value. Defaults give the one-command start (the mtty parent,
 * everything under the state dir); a JSON config file (`--config`) overrides any part of them, and command-line flags
 * override the file. Relative paths in the file are relative to the state dir. Validation reports every bad field
 * with its path and what was expected, and rejects unknown keys, so a typo never silently falls back to a default.
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { PciParent, Placement } from '../sdk/pci-parent.js';
import type { PciDevice } from '../vfio/pci-device.js';
import { err } from '../errors.js';
import { LOG_LEVELS, type LogLevel } from '../log.js';
import { DEFAULT_HOST_IDS } from './device-host/uids.js';
import { parentNameProblem } from './names.js';
import { Issues, array, at, boolean, fileMode, integer, named, object, oneOf, string } from './validate.js';

/** sysfs layouts umdevd can serve. */
export type Layout = 'mainline' | 'v6';
export const LAYOUTS: readonly Layout[] = ['mainline', 'v6'];

/** One parent to register: a driver name plus the driver's own validated options. */
export interface ParentConfig {
  readonly driver: string;
  readonly options: Readonly<Record<string, unknown>>;
}

/** A vendor driver umdevd can start from a config entry. Owned by the daemon's driver catalog. */
export interface DriverEntry {
  /** Keys an entry of this driver may have besides `driver`; any other key is rejected. */
  readonly keys: readonly string[];
  /** Check the entry's own keys; report problems to `issues`. Unknown keys are already rejected by the caller. */
  validate(entry: Readonly<Record<string, unknown>>, path: string, issues: Issues): void;
  /**
   * Build the parent from a validated entry: a new spec (and pool) per call, whose devices `placement` puts where
   * they live (default: this process). A device host calls it too, for the declaration its device is built from.
   */
  create(options: Readonly<Record<string, unknown>>, placement?: Placement): PciParent<PciDevice>;
}

/** The drivers a config may name. */
export type DriverCatalog = Readonly<Record<string, DriverEntry>>;

/** Everything one daemon runs. Paths are absolute. */
export interface DaemonConfig {
  readonly stateDir: string;
  readonly parents: readonly ParentConfig[];
  readonly mount: { readonly enabled: boolean; readonly path: string };
  readonly sockets: {
    readonly dir: string;
    /** Owner of each device socket; unchanged (the daemon's) when absent. */
    readonly uid: number | undefined;
    readonly gid: number | undefined;
    readonly mode: number;
    readonly dirMode: number;
  };
  readonly definitions: string;
  readonly api: ApiConfig;
  readonly layout: Layout;
  /** umdev's own device files in the sysfs tree (`online`, `reset`); false serves the kernel's layout exactly. */
  readonly extensions: boolean;
  readonly log: { readonly level: LogLevel; readonly json: boolean };
  /** Where vfio-user clients are served: in device host processes (default) or in the daemon itself. */
  readonly deviceHosts: DeviceHostsConfig;
  /**
   * After answering a vfio-user client or the kernel's FUSE requests, keep polling for the next request for up to
   * this many microseconds (an adaptive window; 0 never polls). Trades CPU of busy peers for round-trip latency.
   */
  readonly busyPollUs: number;
}

export interface DeviceHostsConfig {
  readonly enabled: boolean;
  /** The ids hosts run as when umdevd is root, one uid (and the same gid) per host: `first` .. `first + count - 1`. */
  readonly ids: { readonly first: number; readonly count: number };
  /** V8 heap limit of one host (MiB): past it the host dies, alone. */
  readonly memoryMiB: number;
  /** A host that does not answer a ping for this long is killed (a stuck loop). */
  readonly stuckMs: number;
  /** Hosts kept booted ahead of need, holding nothing (`device-host/warm-pool.ts`); a device's first need takes one. */
  readonly warm: number;
  /** Hosts booting at once, at most (default: twice the CPUs; with the zygote a boot is a fork). */
  readonly bootConcurrency: number;
  /** The nice value hosts run at, above umdevd's own 0, so tenants never starve the daemon that serves them all. */
  readonly nice: number;
  /** Fork hosts from a zygote (a booted host that forks copies of itself), or spawn a Node process for each. */
  readonly zygote: boolean;
}

/**
 * The control API: a Unix socket (who may do what is decided by the caller's uid and groups), and TCP only when
 * configured (then every call needs the bearer token from `tokenFile`).
 */
export interface ApiConfig {
  readonly enabled: boolean;
  readonly socket: string;
  /** The group (name or gid) whose members may change devices besides root; the socket is 0660 to it. */
  readonly group: string | number | undefined;
  /** Who may make read-only calls: anyone who can connect (`any`: socket 0666), or root and the group only. */
  readonly readers: ApiReaders;
  readonly tcp: { readonly host: string; readonly port: number } | undefined;
  readonly tokenFile: string;
  /** Most definitions one parent may have through the API. */
  readonly maxDefinitions: number;
}

export type ApiReaders = 'any' | 'group';

/** Command-line overrides, applied over the file. */
export interface ConfigOverrides {
  readonly stateDir?: string;
  readonly noMount?: boolean;
  readonly noExtensions?: boolean;
  readonly logLevel?: LogLevel;
  readonly logJson?: boolean;
}

const TOP_KEYS = ['parents', 'mount', 'sockets', 'definitions', 'api', 'layout', 'extensions', 'log', 'deviceHosts', 'busyPollUs'] as const;
/** Warm hosts by default: enough that a VMM's devices, or a few VMs starting together, never wait for a boot. */
export const DEFAULT_WARM_HOSTS = 4;
/**
 * Hosts booting at once by default. A boot is a fork of the zygote (its CPU, niced, not umdevd's) and one round trip;
 * a few at once keep a VM's devices, or a few VMs, from waiting in line while umdevd keeps its weight.
 */
export const DEFAULT_BOOT_CONCURRENCY = Math.max(2, availableParallelism() * 2);
/** Hosts' default nice value: umdevd (0) outweighs one about nine to one when both want a CPU. */
export const DEFAULT_HOST_NICE = 10;
/** The longest busy-poll window: the event loop serves nothing else while it polls one fd. */
export const MAX_BUSY_POLL_US = 1000;

/** The defaults for a state dir: one mtty parent, `DIR/sys`, `DIR/run`, `DIR/mdevctl.d`, API on `DIR/api.sock`. */
export function defaultConfig(stateDir: string): DaemonConfig {
  const dir = path.resolve(stateDir);
  return {
    stateDir: dir,
    parents: [{ driver: 'mtty', options: {} }],
    mount: { enabled: true, path: path.join(dir, 'sys') },
    sockets: { dir: path.join(dir, 'run'), uid: undefined, gid: undefined, mode: 0o660, dirMode: 0o755 },
    definitions: path.join(dir, 'mdevctl.d'),
    api: {
      enabled: true,
      socket: path.join(dir, 'api.sock'),
      group: undefined,
      readers: 'any',
      tcp: undefined,
      tokenFile: path.join(dir, 'api.token'),
      maxDefinitions: 1024,
    },
    layout: 'mainline',
    extensions: true,
    log: { level: 'info', json: false },
    deviceHosts: {
      enabled: true,
      ids: DEFAULT_HOST_IDS,
      memoryMiB: 256,
      stuckMs: 10_000,
      warm: DEFAULT_WARM_HOSTS,
      bootConcurrency: DEFAULT_BOOT_CONCURRENCY,
      nice: DEFAULT_HOST_NICE,
      zygote: true,
    },
    busyPollUs: 50,
  };
}

/**
 * Validate a parsed config file over the defaults of `stateDir`. Throws one `EINVAL` listing every problem.
 * `source` names the file in the message.
 */
export function parseConfig(raw: unknown, stateDir: string, drivers: DriverCatalog, source = 'config'): DaemonConfig {
  const base = defaultConfig(stateDir);
  const issues = new Issues();
  const top = object(raw, '', issues, TOP_KEYS);
  if (top === undefined) throw issues.toError(`${source} is not valid`) ?? err('EINVAL', `${source} is not valid`);
  const rel = (p: string): string => path.resolve(base.stateDir, p);

  const parents = top.parents === undefined ? base.parents : parseParents(top.parents, drivers, issues);

  let mount = base.mount;
  if (top.mount !== undefined) {
    const m = object(top.mount, 'mount', issues, ['enabled', 'path']);
    if (m !== undefined) {
      const enabled = m.enabled === undefined ? mount.enabled : boolean(m.enabled, 'mount.enabled', issues);
      const p = m.path === undefined ? mount.path : string(m.path, 'mount.path', issues, { nonEmpty: true });
      mount = { enabled: enabled ?? mount.enabled, path: p === undefined ? mount.path : rel(p) };
    }
  }

  let sockets = base.sockets;
  if (top.sockets !== undefined) {
    const s = object(top.sockets, 'sockets', issues, ['dir', 'uid', 'gid', 'mode', 'dirMode']);
    if (s !== undefined) {
      const dir = s.dir === undefined ? undefined : string(s.dir, 'sockets.dir', issues, { nonEmpty: true });
      const id = (k: 'uid' | 'gid'): number | undefined =>
        s[k] === undefined ? undefined : integer(s[k], `sockets.${k}`, issues, 0, 0xfffffffe);
      const mode = s.mode === undefined ? undefined : fileMode(s.mode, 'sockets.mode', issues);
      const dirMode = s.dirMode === undefined ? undefined : fileMode(s.dirMode, 'sockets.dirMode', issues);
      sockets = {
        dir: dir === undefined ? sockets.dir : rel(dir),
        uid: id('uid'),
        gid: id('gid'),
        mode: mode ?? sockets.mode,
        dirMode: dirMode ?? sockets.dirMode,
      };
    }
  }

  let definitions = base.definitions;
  if (top.definitions !== undefined) {
    const d = string(top.definitions, 'definitions', issues, { nonEmpty: true });
    if (d !== undefined) definitions = rel(d);
  }

  const api = top.api === undefined ? base.api : parseApi(top.api, base.api, rel, issues);

  const layout = top.layout === undefined ? base.layout : (oneOf(top.layout, 'layout', issues, LAYOUTS) ?? base.layout);

  const extensions = top.extensions === undefined ? base.extensions : (boolean(top.extensions, 'extensions', issues) ?? base.extensions);

  let log = base.log;
  if (top.log !== undefined) {
    const l = object(top.log, 'log', issues, ['level', 'json']);
    if (l !== undefined) {
      const level = l.level === undefined ? undefined : oneOf(l.level, 'log.level', issues, LOG_LEVELS);
      const json = l.json === undefined ? undefined : boolean(l.json, 'log.json', issues);
      log = { level: level ?? log.level, json: json ?? log.json };
    }
  }

  let deviceHosts = base.deviceHosts;
  if (top.deviceHosts !== undefined) {
    const h = object(top.deviceHosts, 'deviceHosts', issues, ['enabled', 'ids', 'memoryMiB', 'stuckMs', 'warm', 'bootConcurrency', 'nice', 'zygote']);
    if (h !== undefined) {
      const enabled = h.enabled === undefined ? undefined : boolean(h.enabled, 'deviceHosts.enabled', issues);
      let ids: DeviceHostsConfig['ids'] | undefined;
      if (h.ids !== undefined) {
        const r = object(h.ids, 'deviceHosts.ids', issues, ['first', 'count']);
        // Never root (0); 4294967295 is the kernel's -1, no id at all.
        const first = integer(r?.first, 'deviceHosts.ids.first', issues, 1, 0xfffffffe);
        const count = integer(r?.count, 'deviceHosts.ids.count', issues, 1, 1 << 20);
        if (first !== undefined && count !== undefined) {
          if (first + count - 1 > 0xfffffffe) issues.add('deviceHosts.ids', 'a range that ends below 4294967295', h.ids);
          else ids = { first, count };
        }
      }
      const memoryMiB = h.memoryMiB === undefined ? undefined : integer(h.memoryMiB, 'deviceHosts.memoryMiB', issues, 32, 65536);
      const stuckMs = h.stuckMs === undefined ? undefined : integer(h.stuckMs, 'deviceHosts.stuckMs', issues, 100, 3_600_000);
      const warm = h.warm === undefined ? undefined : integer(h.warm, 'deviceHosts.warm', issues, 0, 256);
      const bootConcurrency = h.bootConcurrency === undefined ? undefined : integer(h.bootConcurrency, 'deviceHosts.bootConcurrency', issues, 1, 64);
      // 0..19: a host may be made humbler than umdevd, never more important.
      const nice = h.nice === undefined ? undefined : integer(h.nice, 'deviceHosts.nice', issues, 0, 19);
      const zygote = h.zygote === undefined ? undefined : boolean(h.zygote, 'deviceHosts.zygote', issues);
      deviceHosts = {
        enabled: enabled ?? deviceHosts.enabled,
        ids: ids ?? deviceHosts.ids,
        memoryMiB: memoryMiB ?? deviceHosts.memoryMiB,
        stuckMs: stuckMs ?? deviceHosts.stuckMs,
        warm: warm ?? deviceHosts.warm,
        bootConcurrency: bootConcurrency ?? deviceHosts.bootConcurrency,
        nice: nice ?? deviceHosts.nice,
        zygote: zygote ?? deviceHosts.zygote,
      };
    }
  }

  const busyPollUs = top.busyPollUs === undefined ? base.busyPollUs : (integer(top.busyPollUs, 'busyPollUs', issues, 0, MAX_BUSY_POLL_US) ?? base.busyPollUs);

  const e = issues.toError(`${source} is not valid`);
  if (e !== undefined) throw e;
  return { stateDir: base.stateDir, parents, mount, sockets, definitions, api, layout, extensions, log, deviceHosts, busyPollUs };
}

const API_KEYS = ['enabled', 'socket', 'group', 'readers', 'tcp', 'tokenFile', 'maxDefinitions'] as const;

function parseApi(v: unknown, base: ApiConfig, rel: (p: string) => string, issues: Issues): ApiConfig {
  const a = object(v, 'api', issues, API_KEYS);
  if (a === undefined) return base;
  const enabled = a.enabled === undefined ? undefined : boolean(a.enabled, 'api.enabled', issues);
  const socket = a.socket === undefined ? undefined : string(a.socket, 'api.socket', issues, { nonEmpty: true });
  let group: string | number | undefined;
  if (typeof a.group === 'number') group = integer(a.group, 'api.group', issues, 0, 0xfffffffe);
  else if (a.group !== undefined) group = named(a.group, 'api.group', issues, (g) => (/^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/.test(g) ? undefined : 'a group name or gid'));
  const readers = a.readers === undefined ? undefined : oneOf(a.readers, 'api.readers', issues, ['any', 'group'] as const);
  let tcp = base.tcp;
  if (a.tcp !== undefined) {
    const t = object(a.tcp, 'api.tcp', issues, ['host', 'port']);
    const host = string(t?.host, 'api.tcp.host', issues, { nonEmpty: true });
    const port = integer(t?.port, 'api.tcp.port', issues, 0, 65535);
    if (host !== undefined && port !== undefined) tcp = { host, port };
  }
  const tokenFile = a.tokenFile === undefined ? undefined : string(a.tokenFile, 'api.tokenFile', issues, { nonEmpty: true });
  const maxDefinitions = a.maxDefinitions === undefined ? undefined : integer(a.maxDefinitions, 'api.maxDefinitions', issues, 0, 1 << 20);
  return {
    enabled: enabled ?? base.enabled,
    socket: socket === undefined ? base.socket : rel(socket),
    group: group ?? base.group,
    readers: readers ?? base.readers,
    tcp,
    tokenFile: tokenFile === undefined ? base.tokenFile : rel(tokenFile),
    maxDefinitions: maxDefinitions ?? base.maxDefinitions,
  };
}

function parseParents(v: unknown, drivers: DriverCatalog, issues: Issues): readonly ParentConfig[] {
  const list = array(v, 'parents', issues);
  if (list === undefined) return [];
  const out: ParentConfig[] = [];
  list.forEach((item, i) => {
    const p = at('parents', i);
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return issues.add(p, 'an object', item);
    const driver = oneOf((item as Record<string, unknown>).driver, at(p, 'driver'), issues, Object.keys(drivers));
    if (driver === undefined) return undefined;
    const entry = drivers[driver];
    const rec = object(item, p, issues, ['driver', ...entry.keys]);
    if (rec === undefined) return undefined;
    entry.validate(rec, p, issues);
    // A driver that takes a name gets one that can be a parent (not `scripts.d`, which the definitions dir holds).
    if (typeof rec.name === 'string') named(rec.name, at(p, 'name'), issues, parentNameProblem);
    const options: Record<string, unknown> = { ...rec };
    delete options.driver;
    out.push({ driver, options });
    return undefined;
  });
  return out;
}

/** Apply command-line overrides (they win over the file). */
export function applyOverrides(config: DaemonConfig, o: ConfigOverrides): DaemonConfig {
  return {
    ...config,
    mount: o.noMount === true ? { ...config.mount, enabled: false } : config.mount,
    extensions: o.noExtensions === true ? false : config.extensions,
    log: { level: o.logLevel ?? config.log.level, json: o.logJson ?? config.log.json },
  };
}

/** Read and validate a config file; `EINVAL` names the file and the problem (unreadable, bad JSON, bad fields). */
export async function loadConfig(file: string | undefined, stateDir: string, drivers: DriverCatalog): Promise<DaemonConfig> {
  if (file === undefined) return defaultConfig(stateDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw err('EINVAL', `cannot read config file ${file}: ${(e as Error).message}`, e);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw err('EINVAL', `config file ${file} is not valid JSON: ${(e as Error).message}`, e);
  }
  return parseConfig(raw, stateDir, drivers, `config file ${file}`);
}
