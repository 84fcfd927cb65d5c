/**
 * Concepts: how the CLI talks to umdevd's control API when it knows where it is. The API is known from `--api URL`,
 * from `--state-dir DIR` (umdevd writes `DIR/api.json` with `{"url": …}`), or from `UMDEV_API`, in that order; a
 * plain sysfs root (a kernel, or a mount without the API) has none and commands fall back to sysfs files. An API
 * error body `{"error":{"errno","message"}}` becomes the `UmdevError` it was in the daemon, so its message and exit
 * code are those of any other failure.
 */
import { join } from 'node:path';
import { UmdevError, isErrno } from '../core/errors.js';
import { context, fail } from './failure.js';
import { readToString } from './sysfs-read.js';

/** Where the caller said the daemon is; every field optional. Plain data. */
export interface ApiLocation {
  /** `--api URL`. */
  readonly api?: string;
  /** `--state-dir DIR`: the daemon's state dir, holding `api.json`. */
  readonly stateDir?: string;
}

/**
 * The API base URL, or undefined when none is known. An explicit `--state-dir` whose `api.json` cannot be read is an
 * error (the caller asked for that daemon); an `api.json` whose `url` is null (API disabled) means "no API".
 */
export async function knownApi(loc: ApiLocation, env: Readonly<Record<string, string | undefined>>): Promise<string | undefined> {
  if (loc.api !== undefined && loc.api !== '') return loc.api;
  if (loc.stateDir !== undefined && loc.stateDir !== '') {
    const url = await apiJsonUrl(join(loc.stateDir, 'api.json'));
    if (url !== undefined) return url;
  }
  const fromEnv = env.UMDEV_API;
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

/** `url` of an `api.json`: a string, or undefined when the API is disabled (`null`). */
export async function apiJsonUrl(file: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readToString(file);
  } catch (e) {
    throw context(e, `Unable to read ${file} (is umdevd running? or pass --api URL)`);
  }
  let url: unknown;
  try {
    url = (JSON.parse(text) as { url?: unknown }).url;
  } catch {
    throw fail('EINVAL', `${file} is not valid JSON`);
  }
  if (url === null) return undefined;
  if (typeof url !== 'string') throw fail('EINVAL', `${file} has no "url"`);
  return url;
}

/**
 * One JSON request to the API; resolves with the parsed reply body. An error reply becomes its `UmdevError`
 * (unknown errnos, and replies that are not the API's error shape, become `EIO`); no connection is `Unable to
 * connect to <url>` over the system error.
 */
export async function apiRequest(base: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const url = new URL(path, base).toString();
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw context((e as { cause?: unknown }).cause ?? e, `Unable to connect to ${url}`);
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    parsed = undefined;
  }
  if (res.ok) return parsed;
  const e = (parsed as { error?: { errno?: unknown; message?: unknown } } | undefined)?.error;
  if (e !== undefined && typeof e.errno === 'string' && typeof e.message === 'string') {
    throw new UmdevError(isErrno(e.errno) ? e.errno : 'EIO', e.message);
  }
  throw fail('EIO', `${method} ${url}: HTTP ${res.status}`);
}
