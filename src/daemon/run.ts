/**
 * `umdevd` as a function: parse the command line, load the config, start a `Daemon` with the given parts, print
 * `umdevd ready`, and shut down cleanly on SIGINT/SIGTERM. `main.ts` runs it with the real parts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toUmdevError } from '../errors.js';
import { USAGE, parseCommandLine } from './args.js';
import { applyOverrides, loadConfig } from './config.js';
import { Daemon } from './daemon.js';
import { createLogger, describeError } from '../log.js';
import type { DaemonParts } from './daemon.js';
import { SystemdNotifier } from './notify.js';
import type { MdevType } from '../core/types.js';

/** The checkout's (or the global install's) bin/, where the greeting points people for the other commands. */
const BIN = fileURLToPath(new URL('../../../bin/', import.meta.url));

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Free instances of a type for the greeting; a vendor that cannot say right now is shown as `?`. */
function freeOf(d: Daemon, t: MdevType): string {
  try {
    return String(d.core.availableInstances(t));
  } catch {
    return '?';
  }
}

/** How a person reaches the daemon; printed on stderr just before the ready line. */
function greeting(d: Daemon): string {
  const c = d.config;
  // Short paths when the state dir is below the working directory, absolute ones otherwise.
  const rel = (p: string): string => {
    const r = path.relative(process.cwd(), p);
    return r === '' ? '.' : r.startsWith('..') ? p : r;
  };
  const tool = (name: string): string => {
    const r = rel(path.join(BIN, name));
    return r.startsWith('/') ? r : `./${r}`;
  };
  // What the parents offer right now: the first proof that the daemon works, before anything else is tried.
  const parents = d.core.parents().map((p) => `  parent ${p.name}: ${p.types.map((t) => `${t.id} (${freeOf(d, t)} free)`).join(', ')}`);
  const lines = [
    ...parents,
    d.mounted ? `  sysfs:       ${c.mount.path} (FUSE)` : `  sysfs:       not mounted (${d.mountProblem})`,
    `  sockets:     ${c.sockets.dir}/<uuid>.sock (vfio-user)`,
    `  definitions: ${c.definitions}`,
    d.apiSocket === undefined ? '  api:         disabled' : `  api:         ${d.apiSocket} (also in ${path.join(c.stateDir, 'api.json')})`,
    ...(d.apiUrl === undefined ? [] : [`  api (tcp):   ${d.apiUrl} (Authorization: Bearer <token in ${c.api.tokenFile}>)`]),
    'try:',
    `  ${tool('umdevctl')} --sysfs-root ${rel(c.mount.path)} --config-root ${rel(c.definitions)} types`,
  ];
  if (d.mounted) {
    lines.push(
      `  unshare -m sh -c 'mount --rbind ${c.mount.path} /sys && mount --bind ${c.definitions} /etc/mdevctl.d && mdevctl types'`,
    );
  }
  const parent = d.core.parents()[0];
  const type = parent?.types[parent.types.length - 1];
  if (d.apiSocket !== undefined && type !== undefined) {
    const body = `{"parent":"${parent.name}","type":"${type.id}"}`;
    lines.push(`  curl -s --unix-socket ${rel(d.apiSocket)} -H 'content-type: application/json' http://umdev/devices -d '${body}'`);
  }
  lines.push(`  ${tool('umdev-uart')} ${rel(c.sockets.dir)}/<uuid>.sock hello   (an mtty device's UART in loopback)`);
  return `${lines.join('\n')}\n`;
}

/** Run umdevd with `parts`; resolves with the exit status once it has stopped. */
export async function runUmdevd(argv: readonly string[], parts: DaemonParts): Promise<number> {
  let cmd;
  try {
    cmd = parseCommandLine(argv);
  } catch (e) {
    process.stderr.write(`umdevd: ${toUmdevError(e).message}\n${USAGE}`);
    return 2;
  }
  if (cmd.kind === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (cmd.kind === 'version') {
    process.stdout.write(`umdevd ${version()}\n`);
    return 0;
  }
  let config;
  try {
    config = applyOverrides(await loadConfig(cmd.configFile, cmd.stateDir, parts.drivers), cmd);
  } catch (e) {
    process.stderr.write(`umdevd: ${toUmdevError(e).message}\n`);
    return 1;
  }
  const log = createLogger({ level: config.log.level, json: config.log.json });
  let daemon: Daemon;
  try {
    daemon = await Daemon.start(config, parts, log);
  } catch (e) {
    log.error(`cannot start: ${describeError(e)}`);
    return 1;
  }
  const systemd = SystemdNotifier.fromEnv(process.env, log);
  // As sd_notify(unset_environment=1): callout scripts and other children must not talk to systemd for us.
  for (const k of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete process.env[k];
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (why: string, code: number): void => {
      if (stopping) {
        log.warn(`${why} again while shutting down; exiting now`);
        process.exit(1);
      }
      stopping = true;
      log.info(`${why} received`);
      systemd?.stopping();
      daemon.close().then(
        () => resolve(code),
        (e: unknown) => {
          log.error(`shutdown failed: ${describeError(e)}`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', () => stop('SIGINT', 0));
    process.on('SIGTERM', () => stop('SIGTERM', 0));
    process.on('uncaughtException', (e) => {
      log.error(`internal error: ${e.stack ?? e.message}`);
      stop('internal error', 1);
    });
    process.on('unhandledRejection', (e) => {
      log.error(`internal error (unhandled rejection): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    });
    // The greeting goes first: stdio pipes are written synchronously, so whoever sees `ready` can already read it.
    process.stderr.write(greeting(daemon));
    process.stdout.write('umdevd ready\n');
    systemd?.ready(`serving ${daemon.core.parents().map((p) => p.name).join(', ')}${daemon.mounted ? ` at ${daemon.config.mount.path}` : ''}`);
  });
}

