/**
 * The shipped daemon as a fuzz target's system under test: the built `umdevd` on a fresh state dir, logging at warn.
 * Whenever it exits (stopped, or crashed) its FUSE mount is detached and its state dir removed, so a crash followed
 * by a relaunch leaves nothing behind. Error-level log lines are bugs by the project's rule, so they are reported.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMounted } from '../test/process.js';
import { spawnServed, type Served } from './child.js';

const UMDEVD = fileURLToPath(new URL('../src/daemon/main.js', import.meta.url));

/** A running umdevd. `stop()` ends it with SIGTERM (a clean unmount) and waits for the cleanup. */
export interface Umdevd {
  readonly served: Served;
  readonly stateDir: string;
  readonly mount: string;
  readonly apiSocket: string;
  /** Error-level lines logged since the last call. */
  takeErrors(): string[];
  /** Resolves once the daemon has exited and its mount and state dir are gone. */
  readonly gone: Promise<void>;
  stop(): Promise<void>;
}

export async function launchUmdevd(args: readonly string[] = []): Promise<Umdevd> {
  const stateDir = mkdtempSync(join(tmpdir(), 'umdev-fuzz-'));
  const mount = join(stateDir, 'sys');
  let served: Served;
  try {
    served = await spawnServed([UMDEVD, '--state-dir', stateDir, '--log-level', 'warn', ...args], (l) => l === 'umdevd ready');
  } catch (e) {
    await cleanup(mount, stateDir);
    throw e;
  }
  const gone = served.exited.then(() => cleanup(mount, stateDir));
  return {
    served,
    stateDir,
    mount,
    apiSocket: join(stateDir, 'api.sock'),
    gone,
    takeErrors: () => served.takeStderr().split('\n').filter((l) => /^\S+ error /.test(l)),
    stop: async () => {
      if (served.child.exitCode === null && served.child.signalCode === null) served.child.kill('SIGTERM');
      await gone;
    },
  };
}

/** Detach a mount a dead daemon left (lazily: never blocks on it), then remove the state dir. */
async function cleanup(mount: string, stateDir: string): Promise<void> {
  if (await isMounted(mount)) {
    const p = spawn('umount', ['-l', mount], { stdio: 'ignore' });
    await once(p, 'exit');
  }
  rmSync(stateDir, { recursive: true, force: true });
}
