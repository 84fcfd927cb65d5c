/**
 * Concepts: the source side of a live migration between daemons, driven by the source daemon. It claims the
 * device's migration where its live state is (the device host serving the client, or the daemon's instance), asks
 * the destination's API to create the same device in RESUMING, sends PRE_COPY's stream while the device runs,
 * then stops it (STOP_COPY), sends the rest and the platform state, and has the destination load it and run. Only
 * then is the source device removed, which hangs up on its client (the VMM reconnects to the destination).
 * Downtime is STOP_COPY's start to the destination's RUNNING.
 *
 * Any failure rolls back: the destination's device is removed and the source's goes back to RUNNING (through a
 * reset of its migration when it is in ERROR), with its client still connected. So does an abort (the user's
 * Ctrl-C, through `DELETE /devices/UUID/migrate`), up to the finish call; after it the destination runs the device.
 *
 * The device's definition moves with it: the finish call carries it, the destination writes it before it runs the
 * device (and takes it back if that fails), and the source removes its own once the destination runs the device.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { type ApiEndpoint, apiCall, describeEndpoint } from '../../cli/api-client.js';
import { UmdevError, err, isErrno, toUmdevError } from '../../errors.js';
import type { Core } from '../../core/core.js';
import type { Logger } from '../../log.js';
import { VFIO_DEVICE_STATE as S, VFIO_MIGRATION as M } from '../../vfio/constants.js';
import type { MigrationPort } from '../../vfio/migration-port.js';
import type { MigrationTransport } from './incoming.js';
import { parseStoredDefinition, removeDefinition, type StoredDefinition } from '../../mdevctl/store.js';

/** One step of a migration, as the CLI shows it. Plain data (one NDJSON line each). */
export type MigrationEvent =
  | { readonly phase: 'created'; readonly to: string }
  | { readonly phase: 'pre-copy'; readonly bytes: number }
  | { readonly phase: 'stop-copy'; readonly bytes: number }
  | { readonly phase: 'switched'; readonly downtimeMs: number }
  | { readonly phase: 'rolled-back'; readonly reason: string };

/** What a finished migration reports. Plain data. */
export interface MigrationResult {
  readonly uuid: string;
  readonly to: string;
  /** The device's socket on the destination, when it said. */
  readonly socket?: string;
  readonly preCopyBytes: number;
  readonly stopCopyBytes: number;
  /** STOP_COPY's start to the destination's RUNNING. */
  readonly downtimeMs: number;
  readonly totalMs: number;
}

/** How long one call to the destination may take. */
const PEER_TIMEOUT_MS = 30_000;
/** Stream bytes per request to the destination. */
const BATCH_BYTES = 4 << 20;
/** Largest STOP_COPY rest sent inside the finish call (base64 in a JSON body the API takes: under 64 KiB). */
const INLINE_BYTES = 32 << 10;
/** Largest read from the device at once. */
const READ_BYTES = 1 << 20;

export interface OutgoingOptions {
  readonly core: Core;
  readonly transport: MigrationTransport;
  readonly log: Logger;
  readonly uuid: string;
  readonly dest: ApiEndpoint;
  /** Stream bytes per second at most (QEMU's max-bandwidth); undefined: as fast as the link goes. */
  readonly maxBandwidth?: number;
  readonly progress: (e: MigrationEvent) => void;
  /** Aborts the migration (rolled back) until the finish call is made. */
  readonly signal?: AbortSignal;
  /** Refuses the migration (throws) when the attached client could not follow it; run before anything moves. */
  readonly check?: () => Promise<void>;
  /** The source's definitions directory: the device's definition there moves with it. */
  readonly definitions?: string;
}

/** The EBUSY for a device whose attached client never negotiated migration. */
export function legacyClient(uuid: string): UmdevError {
  return err(
    'EBUSY',
    `${uuid} is in use by a vfio-user client that never negotiated migration: it could not follow the device to the destination ` +
      `(QEMU 11.1 can neither migrate a vfio-user device nor reconnect), so its guest would lose it; stop the VM first, or pass --force ` +
      'to migrate anyway and cut that client off',
  );
}

/** The migrations this daemon drives now, one per device, each abortable. */
export class OutgoingMigrations {
  readonly #running = new Map<string, AbortController>();

  /** Run `migrate` for `uuid` with an abort signal; EBUSY while another migration of it runs. */
  async run<T>(uuid: string, migrate: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.#running.has(uuid)) throw err('EBUSY', `${uuid} is already being migrated`);
    const ac = new AbortController();
    this.#running.set(uuid, ac);
    try {
      return await migrate(ac.signal);
    } finally {
      this.#running.delete(uuid);
    }
  }

  /** Ask the migration of `uuid` to roll back; ENOENT when none runs. */
  abort(uuid: string): void {
    const ac = this.#running.get(uuid);
    if (ac === undefined) throw err('ENOENT', `no migration of ${uuid} is running`);
    ac.abort(err('ECANCELED', 'aborted by the user'));
  }
}

/** Throw the abort's reason when `signal` is aborted. */
function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw signal.reason instanceof UmdevError ? signal.reason : err('ECANCELED', 'aborted');
}

/** The device's definition in `dir`, for the finish call; undefined when it has none. */
async function ownDefinition(dir: string | undefined, parent: string, uuid: string): Promise<StoredDefinition | undefined> {
  if (dir === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(path.join(dir, parent, uuid), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return parseStoredDefinition(parent, uuid, text);
}

/** Move `uuid` to `dest`; resolves once the source device is gone, rejects after rolling back. */
export async function migrateOut(o: OutgoingOptions): Promise<MigrationResult> {
  const log = o.log.child('migration');
  const d = o.core.device(o.uuid);
  if (d === undefined) throw err('ENODEV', `no device ${o.uuid}`);
  await o.check?.();
  const to = describeEndpoint(o.dest);
  const start = performance.now();
  const definition = await ownDefinition(o.definitions, d.parent.name, o.uuid);
  const port = await o.transport.open(o.uuid, `a migration to ${to}`);
  let created = false;
  let preCopyBytes = 0;
  let finished: { socket?: unknown } | undefined;
  try {
    checkAbort(o.signal);
    await peer(o.dest, 'POST', '/migrations', { parent: d.parent.name, type: d.type.id, uuid: o.uuid, flags: port.flags });
    created = true;
    o.progress({ phase: 'created', to });
    if (port.flags & M.PRE_COPY) {
      await port.setState(S.PRE_COPY);
      preCopyBytes = await pump(port, o.dest, o.uuid, o.maxBandwidth, o.signal);
      o.progress({ phase: 'pre-copy', bytes: preCopyBytes });
    }
    checkAbort(o.signal);
    const stop = performance.now();
    const { stream, platform } = await port.stopAndCopy();
    const stopCopyBytes = stream.length;
    // A small rest rides with the finish call: the switch-over is then one round trip to the destination.
    const inline = stream.length <= INLINE_BYTES;
    if (!inline) await send(Buffer.from(stream), o.dest, o.uuid, o.maxBandwidth, o.signal);
    // The last moment to abort: once the finish call is made, the destination may already run the device.
    checkAbort(o.signal);
    finished = (await peer(o.dest, 'POST', `/migrations/${o.uuid}/finish`, {
      platform,
      ...(inline && stream.length > 0 ? { data: Buffer.from(stream).toString('base64') } : {}),
      ...(definition === undefined ? {} : { definition: { start: definition.autostart ? 'auto' : 'manual', attrs: definition.attrs.map(([k, v]) => ({ [k]: v })) } }),
    })) as { socket?: unknown } | undefined;
    const downtimeMs = performance.now() - stop;
    o.progress({ phase: 'stop-copy', bytes: stopCopyBytes });
    o.progress({ phase: 'switched', downtimeMs });
    port.release();
    log.info(`${o.uuid} migrated to ${to}: ${preCopyBytes} bytes before the stop, ${stopCopyBytes} after, ${downtimeMs.toFixed(2)} ms down`);
    // The destination runs the device now, defined there if it was here; the source's goes, and its client with it.
    await o.core.remove(o.uuid, { force: true, origin: 'migration' });
    if (definition !== undefined && o.definitions !== undefined) {
      await removeDefinition(o.definitions, d.parent.name, o.uuid).catch((e: unknown) =>
        log.error(`${o.uuid} runs on ${to} now, but its definition here could not be removed: ${toUmdevError(e).message}`),
      );
    }
    const socket = typeof finished?.socket === 'string' ? finished.socket : undefined;
    return { uuid: o.uuid, to, ...(socket === undefined ? {} : { socket }), preCopyBytes, stopCopyBytes, downtimeMs, totalMs: performance.now() - start };
  } catch (e) {
    if (finished !== undefined) throw e;
    const reason = toUmdevError(e).message;
    log.warn(`migration of ${o.uuid} to ${to} failed: ${reason}; rolling back`);
    if (created) await peer(o.dest, 'DELETE', `/migrations/${o.uuid}`).catch((u: unknown) => log.warn(`the destination did not drop ${o.uuid}: ${toUmdevError(u).message}`));
    await rollBack(port).catch((u: unknown) => log.error(`${o.uuid} could not be returned to RUNNING: ${toUmdevError(u).message}`));
    o.progress({ phase: 'rolled-back', reason });
    throw e;
  }
}

/** Back to RUNNING; a device in ERROR gets there through a reset of its migration. Ends the claim. */
async function rollBack(port: MigrationPort): Promise<void> {
  try {
    await port.setState(S.RUNNING);
  } catch {
    await port.reset();
  } finally {
    port.release();
  }
}

/** Read what the device has ready and send it on (`send`); returns the byte count. */
async function pump(port: MigrationPort, dest: ApiEndpoint, uuid: string, rate: number | undefined, signal: AbortSignal | undefined): Promise<number> {
  const parts: Uint8Array[] = [];
  let size = 0;
  let total = 0;
  for (let chunk = await port.read(READ_BYTES); chunk.length > 0; chunk = await port.read(READ_BYTES)) {
    checkAbort(signal);
    parts.push(chunk);
    size += chunk.length;
    if (size >= BATCH_BYTES) {
      total += await send(Buffer.concat(parts.splice(0)), dest, uuid, rate, signal);
      size = 0;
    }
  }
  if (size > 0) total += await send(Buffer.concat(parts), dest, uuid, rate, signal);
  return total;
}

/**
 * PUT `bytes` to the destination in batches; with `rate` (bytes/s) each batch is a quarter second's worth and the
 * sender waits so the average stays below it. Returns the byte count.
 */
async function send(bytes: Buffer, dest: ApiEndpoint, uuid: string, rate: number | undefined, signal: AbortSignal | undefined): Promise<number> {
  const began = performance.now();
  const limit = rate === undefined ? BATCH_BYTES : Math.max(1, Math.min(BATCH_BYTES, Math.floor(rate / 4)));
  for (let at = 0; at < bytes.length; at += limit) {
    checkAbort(signal);
    const piece = bytes.subarray(at, at + limit);
    await peer(dest, 'PUT', `/migrations/${uuid}/data`, piece);
    if (rate !== undefined) {
      const due = ((at + piece.length) / rate) * 1000 - (performance.now() - began);
      // Paced waits end early on an abort, so a slow migration stops at once.
      if (due > 0) await sleep(due, signal);
    }
  }
  return bytes.length;
}

/** Wait `ms`, or less when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** One call to the destination's API; an error reply becomes its `UmdevError`. */
async function peer(dest: ApiEndpoint, method: string, path: string, body?: unknown): Promise<unknown> {
  const bytes = Buffer.isBuffer(body);
  const res = await apiCall(dest, method, path, {
    ...(body === undefined ? {} : { body: bytes ? body : JSON.stringify(body) }),
    ...(bytes ? { headers: { 'content-type': 'application/octet-stream' } } : {}),
    signal: AbortSignal.timeout(PEER_TIMEOUT_MS),
  }).catch((e: unknown) => {
    throw err('ECONNREFUSED', `cannot reach the destination ${describeEndpoint(dest)} (${method} ${path}): ${(e as Error).message}`);
  });
  let parsed: unknown;
  try {
    parsed = res.text === '' ? undefined : (JSON.parse(res.text) as unknown);
  } catch {
    parsed = undefined;
  }
  if (res.status >= 200 && res.status < 300) return parsed;
  const e = (parsed as { error?: { errno?: unknown; message?: unknown } } | undefined)?.error;
  if (e !== undefined && typeof e.errno === 'string' && typeof e.message === 'string') {
    throw new UmdevError(isErrno(e.errno) ? e.errno : 'EIO', `destination: ${e.message}`);
  }
  throw err('EIO', `destination answered ${method} ${path} with HTTP ${res.status}`);
}
