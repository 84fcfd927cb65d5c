/**
 * Concepts: preparing and unpreparing ResourceClaims on this node. Preparing reads the claim from the API server
 * (the kubelet sends only namespace, name and uid), takes the allocation results for this driver and pool, checks
 * that each device is one the driver offers and nobody else holds, holds them all in the shared record (before the
 * first `await`, so a device plugin Allocate racing for one of them loses), creates the devices of slots, writes
 * the claim's CDI spec, saves the checkpoint, and waits until the devices are withdrawn from the device plugin.
 * Repeating a prepare answers from the record (re-creating a slot's device if umdevd lost it); unpreparing removes
 * what the prepare created, the spec and the record, and an unknown claim is already unprepared. A prepare that
 * fails undoes its own steps in reverse, so a claim is either fully prepared or not at all. Claims are handled one
 * at a time; claim UIDs are `Map` keys.
 */
import { mkdir } from 'node:fs/promises';
import { err } from '../../errors.js';
import { describeError, type Logger } from '../../log.js';
import type { K8sConfig } from '../config.js';
import type { CheckpointFile } from '../inventory/checkpoint.js';
import type { ClaimRecord, RecordedDevice } from '../inventory/holdings.js';
import type { Inventory } from '../inventory/inventory.js';
import { kubeFailure, type KubeClient } from '../kube/client.js';
import type { Claim, PreparedDevice } from '../kubelet-api/messages.js';
import { dropDevice, ensureDevice } from '../umdev/ops.js';
import { cdiId, cdiSpec, cdiSpecPath, removeCdiSpec, type CdiDevice } from './cdi.js';
import { writeJsonAtomic } from '../files.js';

/** A claim allocates at most this many devices here (the API allows 32 requests of at most 128 devices each). */
const MAX_RESULTS = 4096;

/** The allocation result shape read from a ResourceClaim (resource.k8s.io/v1 `status.allocation.devices.results`). */
interface AllocationResult {
  readonly request?: unknown;
  readonly driver?: unknown;
  readonly pool?: unknown;
  readonly device?: unknown;
}

/** Owned by the DRA plugin; shares the agent's `Inventory` (and its holds) with the device plugin. */
export class ClaimPreparer {
  readonly #cfg: K8sConfig;
  readonly #inventory: Inventory;
  readonly #checkpoint: CheckpointFile;
  readonly #kube: KubeClient | undefined;
  readonly #log: Logger;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(cfg: K8sConfig, inventory: Inventory, checkpoint: CheckpointFile, kube: KubeClient | undefined, log: Logger) {
    this.#cfg = cfg;
    this.#inventory = inventory;
    this.#checkpoint = checkpoint;
    this.#kube = kube;
    this.#log = log.child('dra');
  }

  /** Claims prepared now (uid → devices' UUIDs), for tests and logs. */
  get prepared(): ReadonlyMap<string, readonly string[]> {
    return new Map([...this.#inventory.holdings.claims].map(([uid, c]) => [uid, c.devices.map((d) => d.uuid)]));
  }

  /** Make the CDI dir (the claims were read with the checkpoint). */
  async start(): Promise<void> {
    await mkdir(this.#cfg.dra.cdiDir, { recursive: true, mode: 0o755 });
  }

  #serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.#queue.then(f, f);
    this.#queue = p.catch(() => undefined);
    return p;
  }

  /** Prepare one claim; resolves with the devices for the kubelet, or rejects with why. */
  prepare(claim: Claim): Promise<PreparedDevice[]> {
    return this.#serial(() => this.#prepare(claim));
  }

  /** Unprepare one claim (an unknown one is fine). */
  unprepare(claim: Claim): Promise<void> {
    return this.#serial(() => this.#unprepare(claim));
  }

  async #prepare(claim: Claim): Promise<PreparedDevice[]> {
    checkClaim(claim);
    const inv = this.#inventory;
    const ep = inv.watch.endpoint;
    const known = inv.holdings.claims.get(claim.uid);
    let rec: ClaimRecord;
    if (known === undefined) {
      const results = await this.#allocation(claim);
      // Checked and held with no await in between: a device plugin Allocate from now on sees these devices taken.
      rec = { namespace: claim.namespace, name: claim.name, devices: this.#resolve(claim, results) };
      inv.holdings.holdClaim(claim.uid, rec);
    } else rec = known;
    const undo: (() => Promise<void>)[] = [];
    try {
      const cdi: CdiDevice[] = [];
      for (const d of rec.devices) {
        let view = inv.watch.snapshot.devices.find((x) => x.uuid === d.uuid);
        if (view === undefined && d.created) {
          view = await ensureDevice(ep, d.parent, d.type, d.uuid);
          inv.watch.noteDevice(view);
          if (known === undefined) undo.push(() => dropDevice(ep, d.uuid).then(() => inv.watch.noteGone(d.uuid)));
        }
        if (view === undefined) throw err('ENODEV', `device ${d.uuid} is gone`);
        if (view.socket === undefined) throw err('EIO', `device ${d.uuid} has no vfio-user socket`);
        cdi.push({ name: `${claim.uid}-${d.deviceName}`, deviceName: d.deviceName, uuid: d.uuid, socket: view.socket });
      }
      await writeJsonAtomic(cdiSpecPath(this.#cfg.dra.cdiDir, this.#cfg.dra.driver, claim.uid), cdiSpec(this.#cfg.dra.driver, this.#cfg.containerSocketDir, cdi));
      if (known === undefined) {
        undo.push(() => removeCdiSpec(this.#cfg.dra.cdiDir, this.#cfg.dra.driver, claim.uid));
        await this.#save();
        this.#log.info(`prepared claim ${claim.namespace}/${claim.name} (${claim.uid}): ${rec.devices.map((d) => d.uuid).join(', ') || 'no devices'}`);
      }
      // Withdrawn from the device plugin (ListAndWatch sent) before the kubelet hears the answer.
      await inv.settle('dra');
      return rec.devices.map((d, i) => ({
        request_names: d.request === '' ? [] : [d.request],
        pool_name: this.#cfg.dra.nodeName,
        device_name: d.deviceName,
        cdi_device_ids: [cdiId(this.#cfg.dra.driver, cdi[i]!.name)],
      }));
    } catch (e) {
      if (known === undefined) inv.holdings.releaseClaim(claim.uid);
      for (const u of undo.reverse()) await u().catch((x: unknown) => this.#log.warn(`undo failed: ${describeError(x)}`));
      throw e;
    }
  }

  /** The allocation results of `claim` for this driver and pool, read from the API server. */
  async #allocation(claim: Claim): Promise<AllocationResult[]> {
    if (this.#kube === undefined) throw err('EOPNOTSUPP', 'no kubeconfig: claims cannot be read from the API server');
    const p = `/apis/resource.k8s.io/v1/namespaces/${encodeURIComponent(claim.namespace)}/resourceclaims/${encodeURIComponent(claim.name)}`;
    const r = await this.#kube.request('GET', p);
    if (r.status !== 200) throw kubeFailure(`reading ResourceClaim ${claim.namespace}/${claim.name}`, r);
    const body = r.body as { metadata?: { uid?: unknown }; status?: { allocation?: { devices?: { results?: unknown } } } } | undefined;
    if (body?.metadata?.uid !== claim.uid) throw err('ENOENT', `ResourceClaim ${claim.namespace}/${claim.name} has another uid than ${claim.uid}`);
    const all = body.status?.allocation?.devices?.results ?? [];
    if (!Array.isArray(all) || all.length > MAX_RESULTS) throw err('EINVAL', `ResourceClaim ${claim.namespace}/${claim.name}: results must be a list of at most ${MAX_RESULTS}`);
    const results = (all as AllocationResult[]).filter((x) => x.driver === this.#cfg.dra.driver && x.pool === this.#cfg.dra.nodeName);
    const inv = this.#inventory;
    // The scheduler may have seen a newer slice than this view (a device removed a moment ago).
    if (results.some((x) => typeof x.device !== 'string' || inv.draDevice(x.device) === undefined)) await inv.watch.refresh();
    return results;
  }

  /** The devices of `results`, each one the driver offers now and nobody else holds. Synchronous. */
  #resolve(claim: Claim, results: readonly AllocationResult[]): RecordedDevice[] {
    const inv = this.#inventory;
    const seen = new Set<string>();
    return results.map((x) => {
      const name = typeof x.device === 'string' ? x.device : '';
      if (seen.has(name)) throw err('EINVAL', `claim ${claim.namespace}/${claim.name}: device ${JSON.stringify(name)} allocated twice`);
      seen.add(name);
      const d = inv.draDevice(name);
      if (d === undefined) {
        const h = inv.holdings.holder(name);
        if (h?.api === 'device-plugin') throw err('EBUSY', `claim ${claim.namespace}/${claim.name}: device ${name} is held by the device plugin (${h.by})`);
        throw err('ENODEV', `claim ${claim.namespace}/${claim.name}: no device ${JSON.stringify(name.slice(0, 64))} in pool ${this.#cfg.dra.nodeName}`);
      }
      return { request: typeof x.request === 'string' ? x.request : '', deviceName: d.name, parent: d.parent, type: d.type, uuid: d.uuid, created: d.slot };
    });
  }

  async #unprepare(claim: Claim): Promise<void> {
    const inv = this.#inventory;
    const known = inv.holdings.claims.get(claim.uid);
    if (known === undefined) return;
    for (const d of known.devices) {
      if (!d.created) continue;
      await dropDevice(inv.watch.endpoint, d.uuid);
      inv.watch.noteGone(d.uuid);
    }
    await removeCdiSpec(this.#cfg.dra.cdiDir, this.#cfg.dra.driver, claim.uid);
    inv.holdings.releaseClaim(claim.uid);
    await this.#save();
    await inv.settle('dra');
    this.#log.info(`unprepared claim ${known.namespace}/${known.name} (${claim.uid})`);
  }

  async #save(): Promise<void> {
    await this.#checkpoint.save();
  }
}

/** `EINVAL` for a claim reference no API server could hold: empty or over-long names. */
function checkClaim(c: Claim): void {
  if (c.uid === '' || c.name === '' || c.namespace === '') throw err('EINVAL', 'a claim needs namespace, name and uid');
  if (c.uid.length > 128 || c.name.length > 253 || c.namespace.length > 63) throw err('EINVAL', 'claim namespace, name or uid too long');
}
