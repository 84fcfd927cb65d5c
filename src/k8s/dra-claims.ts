/**
 * Concepts: preparing and unpreparing ResourceClaims on this node. Preparing reads the claim from the API server
 * (the kubelet sends only namespace, name and uid), takes the allocation results for this driver and pool, creates
 * the devices of free slots, writes the claim's CDI spec and records the claim in a checkpoint file. Repeating a
 * prepare answers from the checkpoint (re-creating a slot's device if umdevd lost it); unpreparing removes what the
 * prepare created, the spec and the record, and an unknown claim is already unprepared. A prepare that fails undoes
 * its own steps in reverse, so a claim is either fully prepared or not at all. Claims are handled one at a time.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { err } from '../errors.js';
import type { DeviceView } from '../daemon/api/views.js';
import { describeError, type Logger } from '../log.js';
import { cdiId, cdiSpec, cdiSpecPath, removeCdiSpec, writeJsonAtomic, type CdiDevice } from './cdi.js';
import type { K8sConfig } from './config.js';
import type { OfferedDevice, SlotIndex } from './inventory.js';
import { kubeFailure, type KubeClient } from './kube-client.js';
import type { Claim, PreparedDevice } from './messages.js';
import { offeredForDra } from './resource-slice.js';
import { dropDevice, ensureDevice } from './umdev-ops.js';
import type { UmdevWatch } from './umdev-watch.js';

/** One prepared device as recorded. */
interface RecordedDevice {
  readonly request: string;
  readonly deviceName: string;
  readonly parent: string;
  readonly type: string;
  readonly uuid: string;
  /** This driver created it (a slot), so unprepare removes it. */
  readonly created: boolean;
}

interface Checkpoint {
  claims: Record<string, { readonly namespace: string; readonly name: string; readonly devices: readonly RecordedDevice[] }>;
}

/** The allocation result shape read from a ResourceClaim (resource.k8s.io/v1 `status.allocation.devices.results`). */
interface AllocationResult {
  readonly request?: string;
  readonly driver?: string;
  readonly pool?: string;
  readonly device?: string;
}

export class ClaimPreparer {
  readonly #cfg: K8sConfig;
  readonly #watch: UmdevWatch;
  readonly #slots: SlotIndex;
  readonly #kube: KubeClient | undefined;
  readonly #log: Logger;
  readonly #file: string;
  #state: Checkpoint = { claims: {} };
  #queue: Promise<unknown> = Promise.resolve();

  constructor(cfg: K8sConfig, watch: UmdevWatch, slots: SlotIndex, kube: KubeClient | undefined, log: Logger, pluginDir: string) {
    this.#cfg = cfg;
    this.#watch = watch;
    this.#slots = slots;
    this.#kube = kube;
    this.#log = log.child('dra');
    this.#file = path.join(pluginDir, 'checkpoint.json');
  }

  /** Claims prepared now (uid → devices' UUIDs), for tests and logs. */
  get prepared(): ReadonlyMap<string, readonly string[]> {
    return new Map(Object.entries(this.#state.claims).map(([uid, c]) => [uid, c.devices.map((d) => d.uuid)]));
  }

  async load(): Promise<void> {
    await mkdir(path.dirname(this.#file), { recursive: true });
    await mkdir(this.#cfg.dra.cdiDir, { recursive: true });
    try {
      const parsed = JSON.parse(await readFile(this.#file, 'utf8')) as Checkpoint;
      if (typeof parsed.claims === 'object' && parsed.claims !== null) this.#state = parsed;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.#log.warn(`checkpoint ${this.#file} unreadable, starting empty: ${describeError(e)}`);
    }
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
    if (claim.uid === '' || claim.name === '' || claim.namespace === '') throw err('EINVAL', 'a claim needs namespace, name and uid');
    const ep = this.#watch.endpoint;
    const known = this.#state.claims[claim.uid];
    const devices: RecordedDevice[] = known === undefined ? await this.#allocated(claim) : [...known.devices];
    const undo: (() => Promise<void>)[] = [];
    try {
      const cdi: CdiDevice[] = [];
      for (const d of devices) {
        const view = d.created
          ? await ensureDevice(ep, d.parent, d.type, d.uuid)
          : this.#watch.snapshot.devices.find((x) => x.uuid === d.uuid) ?? (await ensureExisting(this.#watch, d.uuid));
        if (d.created && known === undefined) undo.push(() => dropDevice(ep, d.uuid));
        if (view.socket === undefined) throw err('EIO', `device ${d.uuid} has no vfio-user socket`);
        cdi.push({ name: `${claim.uid}-${d.deviceName}`, deviceName: d.deviceName, uuid: d.uuid, socket: view.socket });
      }
      const spec = cdiSpecPath(this.#cfg.dra.cdiDir, this.#cfg.dra.driver, claim.uid);
      await writeJsonAtomic(spec, cdiSpec(this.#cfg.dra.driver, this.#cfg.containerSocketDir, cdi));
      if (known === undefined) {
        undo.push(() => removeCdiSpec(this.#cfg.dra.cdiDir, this.#cfg.dra.driver, claim.uid));
        this.#state.claims[claim.uid] = { namespace: claim.namespace, name: claim.name, devices };
        await this.#save();
        this.#log.info(`prepared claim ${claim.namespace}/${claim.name} (${claim.uid}): ${devices.map((d) => d.uuid).join(', ') || 'no devices'}`);
      }
      void this.#watch.refresh();
      return devices.map((d, i) => ({
        request_names: d.request === '' ? [] : [d.request],
        pool_name: this.#cfg.dra.nodeName,
        device_name: d.deviceName,
        cdi_device_ids: [cdiId(this.#cfg.dra.driver, cdi[i]!.name)],
      }));
    } catch (e) {
      delete this.#state.claims[claim.uid];
      if (known !== undefined) this.#state.claims[claim.uid] = known;
      for (const u of undo.reverse()) await u().catch((x: unknown) => this.#log.warn(`undo failed: ${describeError(x)}`));
      throw e;
    }
  }

  /** The devices the scheduler allocated to `claim` on this node, resolved to umdev devices and slots. */
  async #allocated(claim: Claim): Promise<RecordedDevice[]> {
    if (this.#kube === undefined) throw err('EOPNOTSUPP', 'no kubeconfig: claims cannot be read from the API server');
    const p = `/apis/resource.k8s.io/v1/namespaces/${encodeURIComponent(claim.namespace)}/resourceclaims/${encodeURIComponent(claim.name)}`;
    const r = await this.#kube.request('GET', p);
    if (r.status !== 200) throw kubeFailure(`reading ResourceClaim ${claim.namespace}/${claim.name}`, r);
    const body = r.body as { metadata?: { uid?: string }; status?: { allocation?: { devices?: { results?: AllocationResult[] } } } };
    if (body.metadata?.uid !== claim.uid) throw err('ENOENT', `ResourceClaim ${claim.namespace}/${claim.name} has uid ${body.metadata?.uid}, not ${claim.uid}`);
    const results = (body.status?.allocation?.devices?.results ?? []).filter(
      (x) => x.driver === this.#cfg.dra.driver && x.pool === this.#cfg.dra.nodeName,
    );
    const offer = (): Map<string, OfferedDevice> => new Map(offeredForDra(this.#cfg, this.#watch.snapshot, this.#slots).map((d) => [d.id, d]));
    let offered = offer();
    // The scheduler may have seen a newer slice than this view (a device removed a moment ago frees a slot).
    if (results.some((x) => !offered.has(x.device ?? ''))) {
      await this.#watch.refresh();
      offered = offer();
    }
    return results.map((x) => {
      const d = offered.get(x.device ?? '');
      if (d === undefined) throw err('ENODEV', `claim ${claim.namespace}/${claim.name}: no device ${JSON.stringify(x.device)} in pool ${this.#cfg.dra.nodeName}`);
      return { request: x.request ?? '', deviceName: d.id, parent: d.parent, type: d.type, uuid: d.uuid, created: d.device === undefined };
    });
  }

  async #unprepare(claim: Claim): Promise<void> {
    const known = this.#state.claims[claim.uid];
    if (known === undefined) return;
    for (const d of known.devices) if (d.created) await dropDevice(this.#watch.endpoint, d.uuid);
    await removeCdiSpec(this.#cfg.dra.cdiDir, this.#cfg.dra.driver, claim.uid);
    delete this.#state.claims[claim.uid];
    await this.#save();
    void this.#watch.refresh();
    this.#log.info(`unprepared claim ${known.namespace}/${known.name} (${claim.uid})`);
  }

  async #save(): Promise<void> {
    await writeJsonAtomic(this.#file, this.#state, 0o600);
  }
}

/** A device this driver did not create, from a fresh view: it must still exist. */
async function ensureExisting(watch: UmdevWatch, uuid: string): Promise<DeviceView> {
  await watch.refresh();
  const d = watch.snapshot.devices.find((x) => x.uuid === uuid);
  if (d === undefined) throw err('ENODEV', `device ${uuid} is gone`);
  return d;
}
