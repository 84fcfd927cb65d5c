/**
 * Concepts: `umdevctl migrate UUID --to DEST` moves a running device from the umdevd this CLI talks to (`--api`,
 * `--state-dir`, `UMDEV_API`) to another one (DEST: its API URL, or socket path on this machine). The source daemon
 * drives the migration and talks to the destination itself, so the stream takes one hop and a CLI that dies halfway
 * leaves the daemons to finish or roll back; this command only starts it and shows its steps as they happen (one
 * JSON line each with `--json`). The destination's bearer token comes from `--to-token-file` or
 * `UMDEV_DEST_TOKEN`, and travels only to the local source daemon.
 *
 * SIGINT or SIGTERM ask the source daemon to abort (`DELETE /devices/UUID/migrate`); the command keeps reading the
 * daemon's steps until the rollback is reported, says so, and exits 128+signal. After the switch-over it is too
 * late: the migration completes and the command says that instead.
 */
import { readFile } from 'node:fs/promises';
import { UmdevError, isErrno } from '../errors.js';
import { apiCall, apiOpen, type ApiEndpoint } from './api-client.js';
import { knownApi, replyError, type ApiLocation } from './daemon-api.js';
import { context, fail } from '../mdevctl/failure.js';
import { constants } from 'node:os';
import type { CliContext } from './io.js';

export interface MigrateOptions extends ApiLocation {
  readonly uuid: string;
  readonly to: string;
  readonly tokenFile?: string;
  /** Stream bytes per second at most. */
  readonly maxBandwidth?: number;
  /** Migrate even though an attached client never negotiated migration (it is cut off). */
  readonly force?: boolean;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Aborted with the signal's name (`SIGINT`, `SIGTERM`) when the user interrupts. */
  readonly signal?: AbortSignal;
}

/** What the source daemon's stream carries, one JSON object per line. */
type Line =
  | { phase: 'created'; to: string }
  | { phase: 'pre-copy' | 'stop-copy'; bytes: number }
  | { phase: 'switched'; downtimeMs: number }
  | { phase: 'rolled-back'; reason: string }
  | { done: { preCopyBytes: number; stopCopyBytes: number; downtimeMs: number; totalMs: number; to: string; socket?: string } }
  | { error: { errno: string; message: string } };

/** Runs the migration; resolves with the exit status (0, or 128+signal after an interrupted and rolled-back one). */
export async function migrateCommand(ctx: CliContext, opts: MigrateOptions): Promise<number> {
  const env = opts.env ?? {};
  const api = (await knownApi(opts, env, true)) as ApiEndpoint;
  const token = opts.tokenFile !== undefined ? (await readFile(opts.tokenFile, 'utf8').catch((e: unknown) => {
    throw context(e, `Unable to read ${opts.tokenFile}`);
  })).trim() : env.UMDEV_DEST_TOKEN;
  const body = JSON.stringify({
    to: opts.to,
    ...(token ? { token } : {}),
    ...(opts.maxBandwidth === undefined ? {} : { maxBandwidth: opts.maxBandwidth }),
    ...(opts.force === true ? { force: true } : {}),
  });
  const what = `Failed to migrate device ${opts.uuid}`;
  let res;
  try {
    res = await apiOpen(api, 'POST', `/devices/${opts.uuid}/migrate`, { body });
  } catch (e) {
    throw context(e, `${what}: unable to reach the source umdevd`);
  }
  if ((res.statusCode ?? 0) >= 300) {
    // Refused before anything moved (a client that cannot follow, no such device): the daemon's error body.
    const chunks: Buffer[] = [];
    for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
    const bytes = Buffer.concat(chunks);
    throw context(replyError({ status: res.statusCode ?? 0, headers: res.headers, text: bytes.toString('utf8'), body: bytes }, api, 'POST', `/devices/${opts.uuid}/migrate`), what);
  }
  if (!ctx.json) ctx.stdout.write(`migrating ${opts.uuid} to ${opts.to}\n`);
  let interrupted: string | undefined;
  let switched = false;
  const onSignal = (): void => {
    const sig = String(opts.signal?.reason ?? 'SIGINT');
    interrupted = sig;
    if (!ctx.json) ctx.stdout.write(switched ? `  ${sig}: too late to abort, the destination already runs the device\n` : `  ${sig}: aborting; umdevd rolls the migration back\n`);
    apiCall(api, 'DELETE', `/devices/${opts.uuid}/migrate`, {}).catch(() => undefined);
  };
  opts.signal?.addEventListener('abort', onSignal, { once: true });
  let pending = '';
  let failure: UmdevError | undefined;
  let done = false;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      pending += chunk.toString('utf8');
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const text = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (text.trim() === '') continue;
        const line = JSON.parse(text) as Line;
        if (ctx.json) ctx.stdout.write(`${text}\n`);
        else ctx.stdout.write(describe(line));
        if ('phase' in line && line.phase === 'switched') switched = true;
        if ('error' in line) failure = new UmdevError(isErrno(line.error.errno) ? line.error.errno : 'EIO', line.error.message);
        if ('done' in line) done = true;
      }
    }
  } finally {
    opts.signal?.removeEventListener('abort', onSignal);
  }
  if (interrupted !== undefined && failure !== undefined) {
    if (!ctx.json) ctx.stdout.write(`aborted: the migration was rolled back; ${opts.uuid} runs on the source again\n`);
    return 128 + (constants.signals[interrupted as NodeJS.Signals] ?? 2);
  }
  if (failure !== undefined) throw context(failure, what);
  if (!done) throw fail('EIO', `${what}: the source umdevd ended without a result (HTTP ${res.statusCode ?? 0})`);
  return 0;
}

function describe(line: Line): string {
  if ('error' in line) return '';
  if ('done' in line) {
    const d = line.done;
    const where = d.socket === undefined ? `on ${d.to}` : `at ${d.socket} (umdevd ${d.to})`;
    return `done: ${d.preCopyBytes + d.stopCopyBytes} bytes in ${d.totalMs.toFixed(1)} ms, ${d.downtimeMs.toFixed(2)} ms down; the device now runs ${where}\n`;
  }
  switch (line.phase) {
    case 'created':
      return `  destination ${line.to} created the device (RESUMING)\n`;
    case 'pre-copy':
      return `  pre-copy: ${line.bytes} bytes sent while the device ran\n`;
    case 'stop-copy':
      return `  stop-copy: ${line.bytes} bytes sent while it was stopped\n`;
    case 'switched':
      return `  switched over: the destination runs it (${line.downtimeMs.toFixed(2)} ms down); source device removed\n`;
    case 'rolled-back':
      return `  rolled back (${line.reason}): the device runs on the source again\n`;
  }
}
