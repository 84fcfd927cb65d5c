#!/usr/bin/env node
/**
 * `umdev-k8s`: parse the command line, load the config, follow umdevd, and serve the device plugins and (with
 * `--dra`) the DRA kubelet plugin until SIGINT/SIGTERM; or, with `--dry-run`, print this node's ResourceSlices.
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { hostname } from 'node:os';
import { parseEndpoint, type ApiEndpoint } from '../cli/api-client.js';
import { apiJsonEndpoint } from '../cli/daemon-api.js';
import { describeState, findStateDir } from '../cli/find-state.js';
import { err, toUmdevError } from '../errors.js';
import { createLogger, describeError, type Logger } from '../log.js';
import { USAGE, parseCommandLine, type Command } from './args.js';
import { defaultConfig, loadConfig, parseConfig, type K8sConfig } from './config.js';
import { DevicePlugins } from './device-plugin/manager.js';
import { ClaimPreparer } from './dra/claims.js';
import { DraPlugin, draPaths } from './dra/plugin.js';
import { SlicePublisher, currentSlices } from './dra/slice-publisher.js';
import { poolProblems, resourceSliceProblems } from './dra/slice-schema.js';
import { CheckpointFile, loadCheckpoint } from './inventory/checkpoint.js';
import { Holdings } from './inventory/holdings.js';
import { Inventory } from './inventory/inventory.js';
import { HeldDeviceKeeper } from './inventory/keeper.js';
import { PoolShapes } from './inventory/pools.js';
import { kubeClient } from './kube/client.js';
import { UmdevWatch } from './umdev/watch.js';

type RunCommand = Extract<Command, { kind: 'run' }>;

function version(): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** Defaults, then the file, then the flags (checked by the same rules as the file). */
async function configure(cmd: RunCommand, env: NodeJS.ProcessEnv): Promise<K8sConfig> {
  let cfg = defaultConfig(env, hostname());
  if (cmd.configFile !== undefined) cfg = await loadConfig(cmd.configFile, cfg);
  const dra = {
    ...(cmd.dra === undefined ? {} : { enabled: cmd.dra }),
    ...(cmd.driver === undefined ? {} : { driver: cmd.driver }),
    ...(cmd.nodeName === undefined ? {} : { nodeName: cmd.nodeName }),
    ...(cmd.kubeconfig === undefined ? {} : { kubeconfig: cmd.kubeconfig }),
    ...(cmd.cdiDir === undefined ? {} : { cdiDir: cmd.cdiDir }),
  };
  const flags = {
    ...(cmd.api === undefined ? {} : { api: cmd.api }),
    ...(cmd.stateDir === undefined ? {} : { stateDir: cmd.stateDir }),
    ...(cmd.kubeletDir === undefined ? {} : { kubeletDir: cmd.kubeletDir }),
    ...(cmd.devicePlugin === undefined ? {} : { devicePlugin: cmd.devicePlugin }),
    dra,
  };
  return parseConfig(flags, cfg, process.cwd());
}

async function endpoint(cfg: K8sConfig, env: NodeJS.ProcessEnv): Promise<ApiEndpoint> {
  if (cfg.api !== undefined) return parseEndpoint(cfg.api, env.UMDEV_API_TOKEN);
  // Say where the state dir came from: the rule's own steps, or the config file.
  const byRule = findStateDir(undefined, env);
  const why = byRule.dir === cfg.stateDir ? describeState(byRule) : `${cfg.stateDir} (from --state-dir or the config file)`;
  const ep = await apiJsonEndpoint(cfg.stateDir, env, why);
  if (ep === undefined) throw err('EINVAL', `${cfg.stateDir}/api.json names no API: umdevd runs without its API`);
  return ep;
}

/** The agent's shared state: one view of umdevd, one record of holds, one inventory both APIs read. */
interface Fleet {
  readonly inventory: Inventory;
  readonly checkpoint: CheckpointFile;
  readonly keeper: HeldDeviceKeeper;
}

async function fleet(cfg: K8sConfig, watch: UmdevWatch, log: Logger): Promise<Fleet> {
  const dir = draPaths(cfg).pluginDir;
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const saved = await loadCheckpoint(path.join(dir, 'checkpoint.json'), log);
  const holdings = new Holdings();
  const shapes = new PoolShapes(cfg.pools, saved.pools);
  if (cfg.dra.enabled) {
    for (const [uid, rec] of saved.claims) {
      try {
        holdings.holdClaim(uid, rec);
      } catch (e) {
        log.warn(`checkpoint claim ${rec.namespace}/${rec.name}: ${describeError(e)}; dropped`);
      }
    }
  }
  const checkpoint = new CheckpointFile(path.join(dir, 'checkpoint.json'), holdings, shapes);
  const inventory = new Inventory(cfg, watch, holdings, shapes, log, {
    devicePlugin: cfg.devicePlugin,
    dra: cfg.dra.enabled,
    counters: cfg.dra.sharedCounters !== 'off',
  });
  inventory.onLearned = () => void checkpoint.save().catch((e: unknown) => log.warn(`saving the checkpoint failed: ${describeError(e)}`));
  return { inventory, checkpoint, keeper: new HeldDeviceKeeper(watch, holdings, log) };
}

async function dryRun(cfg: K8sConfig, watch: UmdevWatch, log: Logger): Promise<number> {
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000).unref());
  if ((await Promise.race([watch.whenUp(), timeout])) === 'timeout') throw err('ETIMEDOUT', 'umdevd did not answer within 10 s');
  const inventory = new Inventory(cfg, watch, new Holdings(), new PoolShapes(cfg.pools), log, { devicePlugin: cfg.devicePlugin, dra: true, counters: cfg.dra.sharedCounters !== 'off' });
  const items = currentSlices(cfg, inventory, 1);
  // Into a pipe stdout is asynchronous, and the process exits once this returns: wait until it is all written, or
  // `umdev-k8s --dry-run | jq` would read half a document.
  await new Promise<void>((resolve) => process.stdout.write(`${JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 2)}\n`, () => resolve()));
  const problems = [...items.flatMap((s) => resourceSliceProblems(s).map((p) => `${s.metadata.name}: ${p}`)), ...poolProblems(items)];
  for (const p of problems) process.stderr.write(`umdev-k8s: invalid ResourceSlice: ${p}\n`);
  return problems.length === 0 ? 0 : 1;
}

async function serve(cfg: K8sConfig, watch: UmdevWatch, log: Logger): Promise<() => Promise<void>> {
  const closers: (() => Promise<void>)[] = [];
  const f = await fleet(cfg, watch, log);
  closers.push(async () => f.keeper.close());
  if (cfg.devicePlugin) {
    const dp = new DevicePlugins(cfg, f.inventory, log, f.keeper);
    await dp.start();
    closers.push(() => dp.close());
  }
  if (cfg.dra.enabled) {
    const kube = cfg.dra.kubeconfig === undefined ? undefined : await kubeClient(cfg.dra.kubeconfig);
    if (kube === undefined) log.warn('DRA without a kubeconfig: claims cannot be read and no ResourceSlice is published');
    const claims = new ClaimPreparer(cfg, f.inventory, f.checkpoint, kube, log);
    await claims.start();
    const plugin = new DraPlugin(cfg, claims, log);
    if (kube !== undefined) {
      const publisher = new SlicePublisher(cfg, f.inventory, kube, log);
      publisher.start();
      plugin.onRegistered = () => void publisher.republish();
      closers.push(() => publisher.close());
    }
    await plugin.start();
    closers.push(() => plugin.close());
  }
  return async () => {
    for (const c of closers.reverse()) await c().catch((e: unknown) => log.warn(`shutdown: ${describeError(e)}`));
  };
}

async function main(argv: readonly string[]): Promise<number> {
  let cmd: Command;
  try {
    cmd = parseCommandLine(argv);
  } catch (e) {
    process.stderr.write(`umdev-k8s: ${toUmdevError(e).message}\n${USAGE}`);
    return 2;
  }
  if (cmd.kind === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (cmd.kind === 'version') {
    process.stdout.write(`umdev-k8s ${version()}\n`);
    return 0;
  }
  const log = createLogger({ level: cmd.logLevel ?? 'info', json: cmd.logJson, component: 'umdev-k8s' });
  try {
    const cfg = await configure(cmd, process.env);
    const watch = new UmdevWatch(await endpoint(cfg, process.env), log);
    watch.start();
    if (cmd.dryRun) {
      const code = await dryRun(cfg, watch, log);
      watch.close();
      return code;
    }
    const stop = await serve(cfg, watch, log);
    process.stdout.write('umdev-k8s ready\n');
    await new Promise<void>((resolve) => {
      const onSignal = (): void => resolve();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    });
    log.info('shutting down');
    await stop();
    watch.close();
    return 0;
  } catch (e) {
    const u = toUmdevError(e);
    process.stderr.write(`umdev-k8s: ${u.message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
// Sockets and timers of a closed gRPC server can linger; the work is done.
process.exit();
