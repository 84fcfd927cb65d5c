/**
 * Concepts: the source side of a live migration between daemons, driven by the source daemon. It claims the
 * device's migration where its live state is (the device host serving the client, or the daemon's instance), asks
 * the destination's API to create the same device in RESUMING, sends PRE_COPY's stream while the device runs,
 * then stops it (STOP_COPY), sends the rest and the platform state, and has the destination load it and run. Only
 * then is the source device removed, which hangs up on its client (the VMM reconnects to the destination).
 * Downtime is STOP_COPY's start to the destination's RUNNING.
 *
 * Any failure rolls back: the destination's device is removed and the source's goes back to RUNNING (through a
 * reset of its migration when it is in ERROR), with its client still connected.
 */
import { performance } from 'node:perf_hooks';
import { type ApiEndpoint, apiCall, describeEndpoint } from '../../cli/api-client.js';
import { UmdevError, err, isErrno, toUmdevError } from '../../errors.js';
import type { Core } from '../../core/core.js';
import type { Logger } from '../../log.js';
import { VFIO_DEVICE_STATE as S, VFIO_MIGRATION as M } from '../../vfio/constants.js';
import type { MigrationPort } from '../../vfio/migration-port.js';
import type { MigrationTransport } from './incoming.js';

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
}

/** Move `uuid` to `dest`; resolves once the source device is gone, rejects after rolling back. */
export async function migrateOut(o: OutgoingOptions): Promise<MigrationResult> {
  const log = o.log.child('migration');
  const d = o.core.device(o.uuid);
  if (d === undefined) throw err('ENODEV', `no device ${o.uuid}`);
  const to = describeEndpoint(o.dest);
  const start = performance.now();
  const port = await o.transport.open(o.uuid, `a migration to ${to}`);
  let created = false;
  let preCopyBytes = 0;
  try {
    await peer(o.dest, 'POST', '/migrations', { parent: d.parent.name, type: d.type.id, uuid: o.uuid, flags: port.flags });
    created = true;
    o.progress({ phase: 'created', to });
    if (port.flags & M.PRE_COPY) {
      await port.setState(S.PRE_COPY);
      preCopyBytes = await pump(port, o.dest, o.uuid, o.maxBandwidth);
      o.progress({ phase: 'pre-copy', bytes: preCopyBytes });
    }
    const stop = performance.now();
    const { stream, platform } = await port.stopAndCopy();
    const stopCopyBytes = stream.length;
    // A small rest rides with the finish call: the switch-over is then one round trip to the destination.
    const inline = stream.length <= INLINE_BYTES;
    if (!inline) await send(Buffer.from(stream), o.dest, o.uuid, o.maxBandwidth);
    await peer(o.dest, 'POST', `/migrations/${o.uuid}/finish`, { platform, ...(inline && stream.length > 0 ? { data: Buffer.from(stream).toString('base64') } : {}) });
    const downtimeMs = performance.now() - stop;
    o.progress({ phase: 'stop-copy', bytes: stopCopyBytes });
    o.progress({ phase: 'switched', downtimeMs });
    port.release();
    log.info(`${o.uuid} migrated to ${to}: ${preCopyBytes} bytes before the stop, ${stopCopyBytes} after, ${downtimeMs.toFixed(2)} ms down`);
    // The destination runs the device now; the source's goes, and its client with it.
    await o.core.remove(o.uuid, { force: true, origin: 'migration' });
    return { uuid: o.uuid, to, preCopyBytes, stopCopyBytes, downtimeMs, totalMs: performance.now() - start };
  } catch (e) {
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
async function pump(port: MigrationPort, dest: ApiEndpoint, uuid: string, rate: number | undefined): Promise<number> {
  const parts: Uint8Array[] = [];
  let size = 0;
  let total = 0;
  for (let chunk = await port.read(READ_BYTES); chunk.length > 0; chunk = await port.read(READ_BYTES)) {
    parts.push(chunk);
    size += chunk.length;
    if (size >= BATCH_BYTES) {
      total += await send(Buffer.concat(parts.splice(0)), dest, uuid, rate);
      size = 0;
    }
  }
  if (size > 0) total += await send(Buffer.concat(parts), dest, uuid, rate);
  return total;
}

/**
 * PUT `bytes` to the destination in batches; with `rate` (bytes/s) each batch is a quarter second's worth and the
 * sender waits so the average stays below it. Returns the byte count.
 */
async function send(bytes: Buffer, dest: ApiEndpoint, uuid: string, rate: number | undefined): Promise<number> {
  const began = performance.now();
  const limit = rate === undefined ? BATCH_BYTES : Math.max(1, Math.min(BATCH_BYTES, Math.floor(rate / 4)));
  for (let at = 0; at < bytes.length; at += limit) {
    const piece = bytes.subarray(at, at + limit);
    await peer(dest, 'PUT', `/migrations/${uuid}/data`, piece);
    if (rate !== undefined) {
      const due = ((at + piece.length) / rate) * 1000 - (performance.now() - began);
      if (due > 0) await new Promise((r) => setTimeout(r, due));
    }
  }
  return bytes.length;
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
