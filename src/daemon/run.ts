/**
 * `umdevd` as a function: parse the command line, load the config, start a `Daemon` with the given parts, print
 * `umdevd ready`, and shut down cleanly on SIGINT/SIGTERM. `main.ts` runs it with the real parts.
 */
import { readFileSync } from 'node:fs';
import { toUmdevError } from '../errors.js';
import { USAGE, parseCommandLine } from './args.js';
import { applyOverrides, loadConfig } from './config.js';
import { Daemon } from './daemon.js';
import { createLogger, describeError } from '../log.js';
import type { DaemonParts } from './daemon.js';
import { SystemdNotifier } from './notify.js';
import { greeting } from './greeting.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Run umdevd with `parts`; resolves with the exit status once it has stopped. */
export async function runUmdevd(argv: readonly string[], parts: DaemonParts): Promise<number> {
  let cmd;
  try {
    cmd = parseCommandLine(argv, process.env);
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
    process.stderr.write(greeting(daemon, { root: process.getuid?.() === 0, cwd: process.cwd() }));
    process.stdout.write('umdevd ready\n');
    systemd?.ready(`serving ${daemon.core.parents().map((p) => p.name).join(', ')}${daemon.mounted ? ` at ${daemon.config.mount.path}` : ''}`);
  });
}

