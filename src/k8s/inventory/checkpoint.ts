/**
 * Concepts: the agent's checkpoint, `<kubelet>/plugins/<driver>/checkpoint.json` (mode 0600): the DRA driver's
 * prepared claims (what `Holdings` holds for them) and the pool shapes learned so far (`pools.ts`). Device plugin
 * holds are not saved: the kubelet's pod resources API is their record. The file is read once at start and
 * checked field by field: a record that does not parse is dropped with a warning, never trusted; claim UIDs stay
 * data (read into a `Map`, written from one).
 */
import { readFile } from 'node:fs/promises';
import { describeError, type Logger } from '../../log.js';
import { writeJsonAtomic } from '../files.js';
import type { ClaimRecord, Holdings, RecordedDevice } from './holdings.js';
import type { PoolShapes } from './pools.js';

/** At most this many claims are read back (a node prepares far fewer). */
const MAX_CLAIMS = 65_536;

export interface CheckpointData {
  readonly claims: ReadonlyMap<string, ClaimRecord>;
  /** Learned pool shapes as saved (checked by `PoolShapes`). */
  readonly pools: unknown;
}

const str = (v: unknown): v is string => typeof v === 'string';

function device(v: unknown): RecordedDevice | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const d = v as Record<string, unknown>;
  if (!str(d.request) || !str(d.deviceName) || !str(d.parent) || !str(d.type) || !str(d.uuid) || typeof d.created !== 'boolean') return undefined;
  return { request: d.request, deviceName: d.deviceName, parent: d.parent, type: d.type, uuid: d.uuid, created: d.created };
}

/** Read the checkpoint; a missing file is an empty one. */
export async function loadCheckpoint(file: string, log: Logger): Promise<CheckpointData> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.warn(`checkpoint ${file} unreadable, starting empty: ${describeError(e)}`);
    return { claims: new Map(), pools: undefined };
  }
  const o = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const claims = new Map<string, ClaimRecord>();
  const entries = typeof o.claims === 'object' && o.claims !== null ? Object.entries(o.claims) : [];
  for (const [uid, c] of entries.slice(0, MAX_CLAIMS)) {
    const r = (typeof c === 'object' && c !== null ? c : {}) as Record<string, unknown>;
    const devices = Array.isArray(r.devices) ? r.devices.map(device) : [undefined];
    if (!str(r.namespace) || !str(r.name) || devices.some((d) => d === undefined)) {
      log.warn(`checkpoint ${file}: claim ${JSON.stringify(uid.slice(0, 64))} is malformed; dropped`);
      continue;
    }
    claims.set(uid, { namespace: r.namespace, name: r.name, devices: devices as RecordedDevice[] });
  }
  return { claims, pools: o.pools };
}

/** Write the checkpoint whole (mode 0600). */
export async function saveCheckpoint(file: string, claims: ReadonlyMap<string, ClaimRecord>, pools: unknown): Promise<void> {
  // Object.fromEntries defines own properties, so a claim UID such as "__proto__" is written as a key like any other.
  await writeJsonAtomic(file, { claims: Object.fromEntries(claims), pools }, 0o600);
}

/** The agent's one checkpoint file: every save writes the holdings' claims and the learned shapes, one at a time. */
export class CheckpointFile {
  readonly path: string;
  readonly #holdings: Holdings;
  readonly #shapes: PoolShapes;
  #queue: Promise<void> = Promise.resolve();

  constructor(file: string, holdings: Holdings, shapes: PoolShapes) {
    this.path = file;
    this.#holdings = holdings;
    this.#shapes = shapes;
  }

  /** Write what is held and learned now (after any earlier save). */
  save(): Promise<void> {
    const run = (): Promise<void> => saveCheckpoint(this.path, this.#holdings.claims, this.#shapes.saved());
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => undefined);
    return p;
  }
}
