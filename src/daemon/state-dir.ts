/**
 * Concepts: the files umdevd keeps in its state dir. The directories are created at start (the definitions dir with
 * `scripts.d/callouts` and `scripts.d/notifiers`, which mdevctl insists on), `api.json` tells clients where the
 * control API listens and is written atomically (temp + rename, so a reader never sees half of it), and removed at
 * a clean shutdown. A live pid in an existing `api.json` means another umdevd owns the dir.
 */
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { err } from '../core/errors.js';
import type { DaemonConfig } from './config.js';

/** What `api.json` holds. */
export interface ApiInfo {
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

/** Refuse a state dir a live umdevd already serves (`EBUSY`); a stale `api.json` from a killed daemon is fine. */
export async function checkNotInUse(config: DaemonConfig): Promise<void> {
  let info: Partial<ApiInfo>;
  try {
    info = JSON.parse(await readFile(apiInfoPath(config), 'utf8')) as Partial<ApiInfo>;
  } catch {
    return;
  }
  const pid = info.pid;
  if (typeof pid !== 'number' || pid === process.pid || !isAlive(pid)) return;
  throw err('EBUSY', `${config.stateDir} is in use by umdevd pid ${pid} (its API is at ${info.url ?? 'unknown'})`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Create every directory umdevd uses. (Temp files of a killed definition writer are reaped by the next write.) */
export async function prepareStateDir(config: DaemonConfig): Promise<void> {
  await mkdir(config.stateDir, { recursive: true });
  await mkdir(config.sockets.dir, { recursive: true });
  await chmod(config.sockets.dir, config.sockets.dirMode);
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
  try {
    const info = JSON.parse(await readFile(apiInfoPath(config), 'utf8')) as Partial<ApiInfo>;
    if (info.pid === process.pid) await rm(apiInfoPath(config), { force: true });
  } catch {
    // Missing or unreadable: nothing of ours to remove.
  }
}
