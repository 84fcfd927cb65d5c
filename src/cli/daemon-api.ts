/**
 * Concepts: how the CLI talks to umdevd's control API when it knows where it is. The API is known from `--api`
 * (a socket path, or an `http://` URL whose token comes from `UMDEV_API_TOKEN`), from `--state-dir DIR` (umdevd
 * writes `DIR/api.json` with `{"socket": …, "url": …}`; the socket wins, and a TCP-only daemon's token is read from
 * `DIR/api.token`), or from `UMDEV_API`, in that order; a plain sysfs root (a kernel, or a mount without the API)
 * has none and commands fall back to sysfs files. Commands that need the API find it by the one rule (find-state.ts). An API error body `{"error":{"errno","message"}}` becomes the
 * `UmdevError` it was in the daemon, so its message and exit code are those of any other failure.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UmdevError, isErrno } from '../errors.js';
import { apiCall, describeEndpoint, parseEndpoint, type ApiEndpoint, type RawReply } from './api-client.js';
import { context, fail } from '../mdevctl/failure.js';
import { readToString } from '../mdevctl/read-text.js';
import { describeState, findStateDir } from './find-state.js';

export type { ApiEndpoint } from './api-client.js';

/** Where the caller said the daemon is; every field optional. Plain data. */
export interface ApiLocation {
  /** `--api SOCKET|URL`. */
  readonly api?: string;
  /** `--state-dir DIR`: the daemon's state dir, holding `api.json`. */
  readonly stateDir?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The API's endpoint, or undefined when none is known: `--api`, then `UMDEV_API`, then the state dir `--state-dir`
 * names. With `rule`, a state dir is also found by the one rule (`UMDEV_STATE`, a live `./umdev-state`,
 * `/var/lib/umdev`: see find-state.ts), and finding no API there is an error that says where it looked. An explicit
 * `--state-dir` whose `api.json` cannot be read is an error (the caller asked for that daemon); an `api.json` with
 * neither socket nor url (API disabled) means "no API".
 */
export async function knownApi(loc: ApiLocation, env: Env, rule = false): Promise<ApiEndpoint | undefined> {
  if (loc.api !== undefined && loc.api !== '') return parseEndpoint(loc.api, env.UMDEV_API_TOKEN);
  const fromEnv = env.UMDEV_API;
  if ((loc.stateDir === undefined || loc.stateDir === '') && fromEnv !== undefined && fromEnv !== '') return parseEndpoint(fromEnv, env.UMDEV_API_TOKEN);
  if (!rule && (loc.stateDir === undefined || loc.stateDir === '')) return undefined;
  const found = findStateDir(loc.stateDir, env);
  if (found.source === 'system' && found.pid === undefined) {
    throw fail('ENOENT', `No umdevd found: none holds ${describeState(found)}; start one (umdevd), or say where it is with --state-dir DIR, UMDEV_STATE or --api`);
  }
  const ep = await apiJsonEndpoint(found.dir, env, describeState(found));
  if (ep === undefined && rule) throw fail('EINVAL', `The umdevd in ${describeState(found)} runs without its API (api.json names none)`);
  return ep;
}

/** The endpoint `<stateDir>/api.json` names, or undefined when the daemon runs without its API. */
export async function apiJsonEndpoint(stateDir: string, env: Env = {}, why?: string): Promise<ApiEndpoint | undefined> {
  const file = join(stateDir, 'api.json');
  let text: string;
  try {
    text = await readToString(file);
  } catch (e) {
    throw context(e, `Unable to read ${file} (is umdevd running in ${why ?? stateDir}? or pass --api SOCKET)`);
  }
  let info: { socket?: unknown; url?: unknown };
  try {
    info = JSON.parse(text) as { socket?: unknown; url?: unknown };
  } catch {
    throw fail('EINVAL', `${file} is not valid JSON`);
  }
  if (typeof info.socket === 'string' && info.socket !== '') return { socket: info.socket };
  if (typeof info.url === 'string' && info.url !== '') {
    const token = env.UMDEV_API_TOKEN ?? (await readFile(join(stateDir, 'api.token'), 'utf8').catch(() => undefined))?.trim();
    return token === undefined || token === '' ? { url: info.url } : { url: info.url, token };
  }
  if ((info.socket ?? null) === null && (info.url ?? null) === null) return undefined;
  throw fail('EINVAL', `${file} has no "socket" or "url"`);
}

/**
 * One JSON request to the API; resolves with the parsed reply body. An error reply becomes its `UmdevError`
 * (unknown errnos, and replies that are not the API's error shape, become `EIO`); no connection is `Unable to
 * connect to <endpoint>` over the system error.
 */
export async function apiRequest(ep: ApiEndpoint, method: string, path: string, body?: unknown): Promise<unknown> {
  let res: RawReply;
  try {
    res = await apiCall(ep, method, path, body === undefined ? {} : { body: JSON.stringify(body) });
  } catch (e) {
    throw context(e, `Unable to connect to ${'url' in ep ? new URL(path, ep.url).toString() : `${ep.socket} (${path})`}`);
  }
  if (res.status >= 200 && res.status < 300) return parseJson(res.text);
  throw replyError(res, ep, method, path);
}

function parseJson(text: string): unknown {
  try {
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

/**
 * The `UmdevError` an API error reply stands for (unknown errnos, and replies that are not the API's error shape,
 * become `EIO`).
 */
export function replyError(res: RawReply, ep: ApiEndpoint, method: string, path: string): UmdevError {
  const e = (parseJson(res.text) as { error?: { errno?: unknown; message?: unknown } } | undefined)?.error;
  if (e !== undefined && typeof e.errno === 'string' && typeof e.message === 'string') {
    return new UmdevError(isErrno(e.errno) ? e.errno : 'EIO', e.message);
  }
  return fail('EIO', `${method} ${path} at ${describeEndpoint(ep)}: HTTP ${res.status}`);
}
