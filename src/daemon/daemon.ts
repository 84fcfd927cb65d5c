/**
 * Concepts: one running umdevd. `Daemon.start` assembles the parts in dependency order: state dir → core → bus
 * driver (device sockets) → sysfs tree → FUSE mount → parents (which triggers autostart) → control API → api.json.
 * Every step pushes its undo; a failed start runs the undos in reverse and rethrows the original error. `close()` is
 * the same list run forward-to-back once more: graceful, idempotent, and every caller gets the same promise.
 * Definitions are never touched by shutdown; active devices are transient, as on a kernel.
 *
 * The parts themselves (driver catalog, sysfs renderer, FUSE mount, vfio-user bus driver) are passed in (`DaemonParts`)
 * so tests can run a daemon with a toy parent and no mount.
 */
import { Core } from '../core/index.js';
import { err } from '../errors.js';
import type { AttrTree } from '../fuse/attr-tree.js';
import { startApi } from './api-listen.js';
import type { ApiDeps } from './api/router.js';
import { IncomingMigrations, type MigrationTransport } from './migrate/incoming.js';
import { DeviceInstance } from '../vfio-user/instance.js';
import { OutgoingMigrations, legacyClient, migrateOut } from './migrate/outgoing.js';
import { parentNameProblem } from './names.js';
import { Autostart } from './autostart.js';
import { logDeviceEvents } from './device-log.js';
import type { DaemonConfig, DriverCatalog, Layout, ParentConfig } from './config.js';
import { describeError, type Logger } from '../log.js';
import { describeEndpoint } from '../api-client/http.js';
import { FuseStats } from '../fuse/stats.js';
import { DeviceInsight } from './live/insight.js';
import type { DeviceServer } from './device-server.js';
import { MigrationBoard } from './migrate/board.js';
import { lockStateDir, prepareStateDir, removeApiInfo, writeApiInfo } from './state-dir.js';

/** A mounted tree; `close()` unmounts (idempotent). */
export interface MountHandle {
  close(): Promise<void>;
  /** Resolves once the removals made so far are visible through the mount (see `FuseServer.settled`). */
  settled?(): Promise<void>;
}


/** The pluggable parts of a daemon. Owned by the caller; the daemon calls each factory once. */
export interface DaemonParts {
  readonly drivers: DriverCatalog;
  /** Render the sysfs tree from the core; `extensions` shows umdev's own device files (`online`, `reset`). */
  sysfsTree(core: Core, layout: Layout, extensions: boolean): AttrTree;
  /** Mount `tree` at `dir` (clearing a stale mount a killed daemon left there). Throw with a plain reason when impossible. */
  mount(tree: AttrTree, dir: string, log: Logger, busyPollUs: number): Promise<MountHandle>;
  /** The device transport, listening in `config.sockets.dir`; `source` names the driver config of a parent (hosts build from it). */
  deviceServer(core: Core, config: DaemonConfig, log: Logger, source: (parent: string) => ParentConfig | undefined): DeviceServer | Promise<DeviceServer>;
}

type Undo = () => void | Promise<void>;

/** A running umdevd. Created by `Daemon.start`; the owner calls `close()` once done (SIGTERM). */
export class Daemon {
  readonly config: DaemonConfig;
  readonly core: Core;
  readonly tree: AttrTree;
  /** The control API's Unix socket, when it is enabled. */
  readonly apiSocket: string | undefined;
  /** The control API's TCP URL, when `api.tcp` is configured. */
  readonly apiUrl: string | undefined;
  /** Why the tree is not mounted (disabled, or the mount failed); undefined when it is mounted. */
  readonly mountProblem: string | undefined;
  readonly #undo: Undo[];
  readonly #log: Logger;
  #closing: Promise<void> | undefined;

  private constructor(init: {
    config: DaemonConfig;
    core: Core;
    tree: AttrTree;
    apiSocket: string | undefined;
    apiUrl: string | undefined;
    mountProblem: string | undefined;
    undo: Undo[];
    log: Logger;
  }) {
    this.config = init.config;
    this.core = init.core;
    this.tree = init.tree;
    this.apiSocket = init.apiSocket;
    this.apiUrl = init.apiUrl;
    this.mountProblem = init.mountProblem;
    this.#undo = init.undo;
    this.#log = init.log;
  }

  /** True when the sysfs tree is mounted at `config.mount.path`. */
  get mounted(): boolean {
    return this.mountProblem === undefined;
  }

  /** Bring everything up; resolves once autostart has finished and the API answers. */
  static async start(config: DaemonConfig, parts: DaemonParts, log: Logger): Promise<Daemon> {
    const undo: Undo[] = [];
    try {
      return await Daemon.#assemble(config, parts, log, undo);
    } catch (e) {
      await runUndo(undo, log);
      throw e;
    }
  }

  static async #assemble(config: DaemonConfig, parts: DaemonParts, log: Logger, undo: Undo[]): Promise<Daemon> {
    undo.push(await lockStateDir(config));
    await prepareStateDir(config);
    const core = new Core({ log: log.child('core') });
    // First in, last out: removals during shutdown (parents unregistering) are still logged.
    undo.push(logDeviceEvents(core, log));

    // Which driver config made each parent: device hosts build their own instance of a device from it.
    const sources = new Map<string, ParentConfig>();
    const server = await parts.deviceServer(core, config, log.child('vfio-user'), (name) => sources.get(name));
    undo.push(() => server.close());
    const driver = server.driver;
    await core.registerDriver(driver);
    undo.push(() => core.unregisterDriver(driver.name));

    // The tree the mount serves carries where the FUSE server counts its requests (read by GET /metrics).
    const fuseStats = new FuseStats();
    const tree = withRequestStats(parts.sysfsTree(core, config.layout, config.extensions), fuseStats);
    let mountProblem: string | undefined = 'disabled by configuration';
    let mountSettled: (() => Promise<void>) | undefined;
    if (config.mount.enabled) {
      try {
        const mount = await parts.mount(tree, config.mount.path, log.child('fuse'), config.busyPollUs);
        undo.push(() => mount.close());
        mountProblem = undefined;
        mountSettled = mount.settled?.bind(mount);
      } catch (e) {
        mountProblem = describeError(e);
        log.warn(`cannot mount the sysfs tree at ${config.mount.path}: ${mountProblem}; running without the mount`);
      }
    }

    const autostart = new Autostart(core, config.definitions, log);
    autostart.watch();
    undo.push(() => autostart.stop());
    for (const p of config.parents) {
      const entry = parts.drivers[p.driver];
      if (entry === undefined) throw err('EINVAL', `no driver named ${p.driver}`);
      const spec = entry.create(p.options, server.placement, { stateDir: config.stateDir });
      const bad = parentNameProblem(spec.name);
      if (bad !== undefined) throw err('EINVAL', `parent ${JSON.stringify(spec.name)} from driver ${p.driver}: expected ${bad}`);
      const parent = core.registerParent(spec);
      sources.set(parent.name, p);
      // Unregistering force-removes the parent's devices, which closes their sockets through the bus driver.
      undo.push(() => core.unregisterParent(parent.name));
      log.info(`registered parent ${parent.name} (${parent.types.map((t) => t.id).join(', ')})`);
    }
    await autostart.idle();

    const transport: MigrationTransport = { open: async (uuid, owner) => instanceOf(core, uuid).openMigration(owner) };
    const board = new MigrationBoard();
    const incoming = new IncomingMigrations(core, transport, log, undefined, board);
    undo.push(() => incoming.close());
    const outgoing = new OutgoingMigrations();
    const canMigrate = server.clientCanMigrate?.bind(server);
    // A VMM that never negotiated migration cannot follow the device, and would lose it: refused unless forced.
    const check = async (uuid: string, force: boolean): Promise<void> => {
      const d = core.device(uuid);
      if (d === undefined) throw err('ENODEV', `no device ${uuid}`);
      if (!force && canMigrate !== undefined && (await canMigrate(d)) === false) throw legacyClient(uuid);
    };
    const migrations: ApiDeps['migrations'] = {
      incoming,
      board,
      check,
      abort: (uuid) => outgoing.abort(uuid),
      out: (uuid, dest, o, progress) =>
        outgoing.run(uuid, async (signal) => {
          const tracker = board.begin(uuid, 'out', describeEndpoint(dest));
          try {
            const result = await migrateOut({
              core, transport, log, uuid, dest, maxBandwidth: o.maxBandwidth, signal, check: () => check(uuid, o.force), definitions: config.definitions,
              progress: (e) => {
                tracker.step(e);
                progress(e);
              },
            });
            tracker.end('done');
            return result;
          } catch (e) {
            tracker.end('failed');
            throw e;
          }
        }),
    };
    const insight = new DeviceInsight({ core, server, screen: (uuid) => instanceOf(core, uuid).screen(), ...(mountProblem === undefined ? { fuse: () => fuseStats.snapshot() } : {}) });
    // A removed device's last frame must not outlive it.
    undo.push(core.subscribe((e) => {
      if (e.kind === 'remove' && e.uuid !== undefined) insight.frames.drop(e.uuid);
    }));

    let apiUrl: string | undefined;
    let apiSocket: string | undefined;
    if (config.api.enabled) {
      const api = await startApi(
        config.api,
        {
          core,
          log,
          socketPath: (uuid) => {
            const d = core.device(uuid);
            return d !== undefined && d.driver === driver.name ? server.socketPath(d) : undefined;
          },
          screen: async (uuid) => instanceOf(core, uuid).screen(),
          definitions: { dir: config.definitions },
          insight,
          board,
          ...(mountSettled ? { settled: mountSettled } : {}),
          migrations,
        },
      );
      undo.push(() => api.close());
      apiUrl = api.url;
      apiSocket = api.socketPath;
    }
    await writeApiInfo(config, {
      socket: apiSocket ?? null,
      url: apiUrl ?? null,
      pid: process.pid,
      sysfs: mountProblem === undefined ? config.mount.path : null,
      run: config.sockets.dir,
      definitions: config.definitions,
    });
    undo.push(() => removeApiInfo(config));
    return new Daemon({ config, core, tree, apiSocket, apiUrl, mountProblem, undo, log });
  }

  /** Stop the API, unregister parents (devices go away, sockets close), unmount, remove api.json. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#log.info('shutting down');
      await runUndo(this.#undo, this.#log);
      this.#log.info('stopped');
    })();
    return this.#closing;
  }
}

/** `tree` as it is, carrying `stats` for the server that mounts it. */
function withRequestStats(tree: AttrTree, stats: FuseStats): AttrTree {
  return {
    resolve: (path) => tree.resolve(path),
    ...(tree.onChange === undefined ? {} : { onChange: tree.onChange.bind(tree) }),
    requestStats: stats,
  };
}

/** Run undo steps last-first; a failing step is logged and the rest still run. */
async function runUndo(undo: Undo[], log: Logger): Promise<void> {
  while (undo.length > 0) {
    const step = undo.pop() as Undo;
    try {
      await step();
    } catch (e) {
      log.error(`shutdown step failed: ${describeError(e)}`);
    }
  }
}


/** The live instance of device `uuid`: ENODEV when there is no such device, EOPNOTSUPP when its parent keeps none. */
function instanceOf(core: Core, uuid: string): DeviceInstance {
  const d = core.device(uuid);
  if (d === undefined) throw err('ENODEV', `no device ${uuid}`);
  if (!(d.driverData instanceof DeviceInstance)) throw err('EOPNOTSUPP', `${uuid} has no device instance umdev can reach`);
  return d.driverData;
}
