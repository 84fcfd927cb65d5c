/**
 * Concepts: the files umdevd keeps in its state dir. The directories are created at start (the definitions dir with
 * `scripts.d/callouts` and `scripts.d/notifiers`, which mdevctl insists on), `api.json` tells clients where the
 * control API listens and is written atomically (temp + rename, so a reader never sees half of it), and removed at
 * a clean shutdown. Which umdevd owns the dir is decided by an exclusive flock on `umdevd.lock`, held for the
 * daemon's life: the kernel drops it when the process dies, however it dies, and a reused pid cannot fake it.
 */
import { openSync } from 'node:fs';
import { chmod, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { err } from '../errors.js';
import { native } from '../native/index.js';
import type { DaemonConfig } from './config.js';

/** What `api.json` holds: where the API is, never how to authenticate to it (the file is 0644). */
export interface ApiInfo {
  /** The API's Unix socket (`curl --unix-socket`), or null when the API is disabled. */
  readonly socket: string | null;
  /** The TCP listener's URL, or null when there is none. */
  readonly url: string | null;
  readonly pid: number;
  /** The sysfs mount point, or null when the tree is not mounted. */
  readonly sysfs: string | null;
  readonly run: string;
  readonly definitions: string;
}

export function apiInfoPath(config: DaemonConfig): string {
  return path.join(config.stateDir, 'api.json');
}

/**
 * Take the state dir for this process, or fail with `EBUSY` while another umdevd holds it. Returns the release
 * (closing the lock's fd; the kernel also releases it when the process ends).
 */
export async function lockStateDir(config: DaemonConfig): Promise<() => void> {
  await mkdir(config.stateDir, { recursive: true });
  const fd = openSync(path.join(config.stateDir, 'umdevd.lock'), 'a', 0o600);
  let locked: boolean;
  try {
    locked = native.tryLock(fd);
  } catch (e) {
    native.close(fd);
    throw e;
  }
  if (!locked) {
    native.close(fd);
    const info = await readApiInfo(config);
    const owner = info?.pid === undefined ? 'another umdevd' : `umdevd pid ${info.pid} (its API is at ${info.socket ?? info.url ?? 'unknown'})`;
    throw err('EBUSY', `${config.stateDir} is in use by ${owner}`);
  }
  return () => native.close(fd);
}

async function readApiInfo(config: DaemonConfig): Promise<Partial<ApiInfo> | undefined> {
  try {
    return JSON.parse(await readFile(apiInfoPath(config), 'utf8')) as Partial<ApiInfo>;
  } catch {
    return undefined;
  }
}

/**
 * Create every directory umdevd uses and clear stale sockets; call with the lock held. (Temp files of a killed
 * definition writer are reaped by the next write.)
 */
export async function prepareStateDir(config: DaemonConfig): Promise<void> {
  await mkdir(config.stateDir, { recursive: true });
  await mkdir(config.sockets.dir, { recursive: true });
  await chmod(config.sockets.dir, config.sockets.dirMode);
  // Sockets left by a daemon that was killed: nothing listens on them, and every device gets a fresh one.
  for (const name of await readdir(config.sockets.dir)) {
    if (name.endsWith('.sock')) await rm(path.join(config.sockets.dir, name), { force: true });
  }
  for (const sub of ['scripts.d/callouts', 'scripts.d/notifiers']) {
    await mkdir(path.join(config.definitions, sub), { recursive: true, mode: 0o755 });
  }
  if (config.mount.enabled) await mkdir(config.mount.path, { recursive: true }).catch(ignoreStaleMount);
}

/** `mkdir` of a mount point that is a dead FUSE mount fails with ENOTCONN; the FUSE layer clears that at mount. */
function ignoreStaleMount(e: unknown): void {
  const code = (e as NodeJS.ErrnoException).code;
  if (code !== 'ENOTCONN' && code !== 'EEXIST') throw e;
}

/** Write `api.json` atomically. */
export async function writeApiInfo(config: DaemonConfig, info: ApiInfo): Promise<void> {
  const file = apiInfoPath(config);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o644 });
  await rename(tmp, file);
}

/** Remove `api.json` if it is still ours (a newer daemon may have taken the dir over). */
export async function removeApiInfo(config: DaemonConfig): Promise<void> {
  if ((await readApiInfo(config))?.pid === process.pid) await rm(apiInfoPath(config), { force: true });
}
