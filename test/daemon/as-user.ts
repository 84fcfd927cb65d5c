/**
 * API calls made by another user: `curl --unix-socket` run through `setpriv` as uid/gid 65534 (nobody) with chosen
 * supplementary groups, so the daemon sees that user's peer credentials. Both are plain binaries any user can run;
 * nothing from the checkout (which nobody may not be able to read) is loaded by the child.
 */
import { exec } from '../process.js';

export const NOBODY = 65534;

export interface AsUser {
  /** Primary gid (default nobody's). */
  readonly gid?: number;
  /** Supplementary groups (default none). */
  readonly groups?: readonly number[];
}

/** The status and parsed body of one call, or `status` 0 with curl's exit code when it could not connect. */
export interface UserReply {
  readonly status: number;
  readonly body: unknown;
  readonly curlExit: number;
}

export async function callAs(user: AsUser, socket: string, method: string, path: string, body?: string, headers: readonly string[] = ['content-type: application/json']): Promise<UserReply> {
  const groups = user.groups === undefined || user.groups.length === 0 ? ['--clear-groups'] : [`--groups=${user.groups.join(',')}`];
  const args = [`--reuid=${NOBODY}`, `--regid=${user.gid ?? NOBODY}`, ...groups, '/usr/bin/curl', '-s', '-o', '-', '-w', '\n%{http_code}', '--unix-socket', socket, '-X', method];
  for (const h of headers) args.push('-H', h);
  if (body !== undefined) args.push('--data-binary', body);
  args.push(`http://umdev${path}`);
  const r = await exec('/usr/bin/setpriv', args);
  const nl = r.stdout.lastIndexOf('\n');
  const status = Number(r.stdout.slice(nl + 1));
  const text = r.stdout.slice(0, Math.max(nl, 0));
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    parsed = text;
  }
  return { status: Number.isNaN(status) ? 0 : status, body: parsed, curlExit: r.code };
}
