/**
 * Concepts: how umdevd opens its control API from the config: the Unix socket with the mode the read policy needs
 * (`readers: any` 0666, since the file mode is the only gate a non-member meets before the peer-credential check;
 * `readers: group` 0660 to the group, or 0600 without one), and the TCP listener with its token only when
 * `api.tcp` is set. A socket file left by a killed daemon is removed first (the state dir lock says none is live).
 */
import { lstat, rm } from 'node:fs/promises';
import { err } from '../errors.js';
import { ApiServer } from './api/server.js';
import { resolveGroup } from './api/group.js';
import type { ApiDeps } from './api/router.js';
import { loadToken } from './api/token.js';
import type { ApiConfig } from './config.js';

/** The Unix socket's mode for a read policy. */
export function apiSocketMode(readers: ApiConfig['readers'], gid: number | undefined): number {
  if (readers === 'any') return 0o666;
  return gid === undefined ? 0o600 : 0o660;
}

/** Start the API `config` describes; the caller closes it. */
export async function startApi(config: ApiConfig, deps: ApiDeps): Promise<ApiServer> {
  const gid = config.group === undefined ? undefined : await resolveGroup(config.group);
  await removeStaleSocket(config.socket);
  const token = config.tcp === undefined ? undefined : await loadToken(config.tokenFile);
  return ApiServer.listen(deps, {
    socket: { path: config.socket, mode: apiSocketMode(config.readers, gid), ...(gid === undefined ? {} : { gid }) },
    ...(config.tcp === undefined || token === undefined ? {} : { tcp: { ...config.tcp, token } }),
    access: { gid, readers: config.readers },
    limits: { maxDefinitions: config.maxDefinitions },
  });
}

async function removeStaleSocket(file: string): Promise<void> {
  try {
    if (!(await lstat(file)).isSocket()) throw err('EEXIST', `${file} exists and is not a socket; not replacing it`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  await rm(file, { force: true });
}
