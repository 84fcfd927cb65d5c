/**
 * Concepts: lifecycles (mainline `mdev_core.c`): register and unregister a parent, create and remove a device.
 *
 * Create reserves first, then does the slow work: the UUID and the pool slot are taken synchronously, before the
 * first await, so two concurrent creates can never both pass the duplicate or the pool check. The steps are
 * reserve → vendor create → IOMMU group attach → bus probe → active + `add`. The steps reached are tracked as a
 * stage number (an undo list without a closure per create, since this is the hot path); a failure undoes them in
 * reverse and rethrows the original error, and an undo that fails is reported as a `warning`.
 *
 * Removal is the reverse: state `removing` (invisible to lookups and `open`) → bus driver remove → open handles
 * (waited for, or revoked when forced) → vendor stop if online → IOMMU detach → vendor remove → dropped, pool slot
 * returned → `remove`. Removal cannot fail once started; vendor and driver failures there are `warning`s.
 *
 * Vendor hooks may be synchronous; a hook's result is awaited only when it is a thenable, so a synchronous vendor
 * costs no extra microtask turns.
 */
import { settleBus, type Bus } from './bus.js';
import { err, type UmdevError } from '../errors.js';
import type { EventHub } from './events.js';
import { allClosed, requestAll, revokeAll } from './handles.js';
import type { GroupIds } from './iommu-groups.js';
import type { OnlineControl } from './online.js';
import { validateParentSpec } from './parent-spec.js';
import { DeviceRecord, ParentRecord } from './records.js';
import type { Registry } from './registry.js';
import type { CreateOptions, MdevDevice, Parent, ParentOps, ParentSpec, RemoveOptions } from './types.js';
import { parseUuid } from './uuid.js';
import { isThenable, waitWithWarnings } from './waiting.js';

// Create stages, in order; rollback undoes every stage reached.
const RESERVED = 0;
const VENDOR_CREATED = 1;
const GROUP_ATTACHED = 2;
const PROBING = 3;
const PROBED = 4;

const MAX_INSTANCE = 0xffffffff;

/** Parent and device lifecycles of one `Core`. */
export class Lifecycle {
  readonly #registry: Registry;
  readonly #groups: GroupIds;
  readonly #bus: Bus;
  readonly #online: OnlineControl;
  readonly #events: EventHub;
  readonly #waitWarningMs: number;
  readonly #releaseTimeoutMs: number;

  constructor(
    registry: Registry,
    groups: GroupIds,
    bus: Bus,
    online: OnlineControl,
    events: EventHub,
    waitWarningMs: number,
    releaseTimeoutMs: number,
  ) {
    this.#registry = registry;
    this.#groups = groups;
    this.#bus = bus;
    this.#online = online;
    this.#events = events;
    this.#waitWarningMs = waitWarningMs;
    this.#releaseTimeoutMs = releaseTimeoutMs;
  }

  registerParent<D>(spec: ParentSpec<D>): Parent {
    validateParentSpec(spec as ParentSpec<unknown>);
    if (this.#registry.parents.has(spec.name)) throw err('EEXIST', `parent ${spec.name} is already registered`);
    const parent = new ParentRecord(spec as ParentSpec<unknown>);
    this.#registry.parents.set(parent.name, parent);
    this.#events.emit('registered', parent.name);
    return parent;
  }

  /**
   * Creates fail with `ENODEV` from the moment this is called (synchronously). Then every device is removed without
   * the vendor's veto, creates in flight are rolled back, and it waits, warning periodically, until the last open
   * handle is released and nothing is half-removed. A second call while one runs joins it.
   */
  unregisterParent(name: string): Promise<void> {
    const parent = this.#registry.parents.get(name);
    if (parent === undefined) return Promise.reject(err('ENODEV', `no parent ${name}`));
    if (parent.unregistration !== undefined) return parent.unregistration;
    parent.unregistering = true;
    parent.unregistration = this.#unregister(parent);
    return parent.unregistration;
  }

  async #unregister(parent: ParentRecord): Promise<void> {
    await waitWithWarnings(this.#drain(parent), this.#waitWarningMs, () =>
      this.#events.warn(
        parent.name,
        undefined,
        `parent ${parent.name}: ${parent.deviceCount} device(s), ${parent.openHandles} open handle(s); unregister blocked until all are released`,
      ),
    );
    this.#registry.parents.delete(parent.name);
    this.#events.emit('unregistered', parent.name);
  }

  /** Remove every device of an unregistering parent and wait until nothing of it is in flight. */
  async #drain(parent: ParentRecord): Promise<void> {
    for (;;) {
      for (const rec of this.#registry.activeDevices(parent)) this.#removeInBackground(rec);
      // Every device left is creating (its create rolls back on seeing `unregistering`) or removing; both count in
      // `pending`, so when it reaches zero the parent is empty.
      if (parent.pending === 0) return;
      await parent.idle.wait();
    }
  }

  #removeInBackground(rec: DeviceRecord): void {
    const parent = rec.parent;
    // Pairs with the settle() at the end of #removeDevice.
    parent.pending++;
    this.#removeDevice(rec, false, false, 'unregister').catch((e: unknown) =>
      this.#events.warn(parent.name, rec.uuid, `event listener failed during unregister: ${String(e)}`),
    );
  }

  /** See the module comment. Resolves with the new active device; rejects with the first failing step's error. */
  async create(parentName: string, typeId: string, uuidText: string, options?: CreateOptions): Promise<MdevDevice> {
    const uuid = parseUuid(uuidText);
    const registry = this.#registry;
    const parent = registry.parents.get(parentName);
    if (parent === undefined) throw err('ENODEV', `no parent ${parentName}`);
    if (parent.unregistering) throw gone(parent);
    const type = parent.typesById.get(typeId);
    // The kernel cannot get here (the create file lives in the type's directory); a bad argument is EINVAL.
    if (type === undefined) throw err('EINVAL', `parent ${parentName} has no type ${typeId}`);
    let instance: number | undefined;
    let params: string | undefined;
    const origin = options?.origin;
    if (options !== undefined) {
      instance = options.instance;
      params = options.params;
      if (instance !== undefined && !(Number.isInteger(instance) && instance >= 0 && instance <= MAX_INSTANCE)) {
        throw err('EINVAL', `bad instance ${String(instance)}`);
      }
      if (params !== undefined && typeof params !== 'string') throw err('EINVAL', 'params must be a string');
    }
    if (registry.byUuid.get(uuid) !== undefined) throw err('EEXIST', `device ${uuid} already exists`);
    if (parent.pooled) {
      if (parent.available <= 0) throw err('EUSERS', `parent ${parent.name} has no instances left`);
      // Pairs with `available++` in #release (rollback or end of removal).
      parent.available--;
    }
    const rec = new DeviceRecord(uuid, instance === undefined ? uuid : `${uuid}-${instance}`, parent, type, instance, params);
    registry.reserve(rec);
    parent.pending++;
    let stage = RESERVED;
    try {
      const data = parent.ops.create(rec, params);
      rec.driverData = isThenable(data) ? await data : data;
      stage = VENDOR_CREATED;
      if (parent.unregistering) throw gone(parent);

      // Pairs with the free in #removeDevice or #rollback.
      registry.group(rec, this.#groups.alloc());
      stage = GROUP_ATTACHED;

      const driver = this.#bus.firstMatch(rec);
      if (driver !== undefined) {
        this.#bus.attach(rec, driver);
        stage = PROBING;
        const probed = driver.driver.probe(rec);
        if (isThenable(probed)) {
          rec.busBusy = probed;
          try {
            await probed;
          } finally {
            rec.busBusy = undefined;
          }
        }
        stage = PROBED;
        if (parent.unregistering) throw gone(parent);
      }
      registry.activate(rec);
    } catch (e) {
      await this.#rollback(rec, stage);
      throw e;
    } finally {
      parent.settle();
    }
    // After the state is complete, so a listener that throws cannot leave a half-created device.
    this.#events.emit('add', parent.name, uuid, type.id, undefined, origin);
    return rec;
  }

  async #rollback(rec: DeviceRecord, stage: number): Promise<void> {
    const parent = rec.parent;
    if (stage >= PROBED) {
      const r = this.#bus.unbind(rec);
      if (r !== undefined) await r;
    } else if (stage === PROBING) {
      this.#bus.detach(rec);
    }
    if (stage >= GROUP_ATTACHED) this.#detachGroup(rec);
    if (stage >= VENDOR_CREATED) {
      try {
        const r = parent.ops.remove(rec, rec.driverData);
        if (isThenable(r)) await r;
      } catch (e) {
        this.#events.warn(parent.name, rec.uuid, `vendor remove during create rollback failed: ${String(e)}`);
      }
    }
    this.#release(rec);
  }

  /**
   * `ENODEV` unknown, `EAGAIN` not active (creating, removing, or a removal asking the vendor), vendor veto.
   * Not `async`: a removal without a veto goes straight to #removeDevice, one promise per call on the hot path.
   */
  remove(uuid: string, options?: RemoveOptions): Promise<void> {
    const rec = this.#registry.anyDevice(uuid);
    if (rec === undefined) return Promise.reject(err('ENODEV', `no device ${uuid}`));
    if (rec.state !== 'active' || rec.removeRequested) {
      return Promise.reject(err('EAGAIN', `device ${rec.uuid} is ${rec.state === 'active' ? 'being removed' : rec.state}`));
    }
    const force = options !== undefined && options.force === true;
    const origin = options?.origin;
    const parent = rec.parent;
    const veto = parent.ops.requestRemove;
    // Pairs with the settle() at the end of #removeDevice or in #removeAfterVeto.
    parent.pending++;
    if (!force && veto !== undefined) return this.#removeAfterVeto(rec, veto, origin);
    if (!force) return this.#removeWhenReleased(rec, origin);
    return this.#removeDevice(rec, true, true, origin);
  }

  /**
   * A non-forced removal, as the kernel's `vfio_unregister_group_dev`: the device is invisible at once, but its bus
   * driver keeps serving the user (a running VMM) until every handle is released. Past `releaseTimeoutMs` the device
   * comes back as it was and the removal fails with `EBUSY`; a forced removal revokes instead.
   */
  async #removeWhenReleased(rec: DeviceRecord, origin: RemoveOptions['origin']): Promise<void> {
    if (rec.openCount > 0) {
      this.#registry.deactivate(rec);
      // As vfio_unregister_group_dev: ask at once, then again with a rising count every wait interval.
      let asked = 0;
      requestAll(rec, asked++, this.#events);
      const released = await waitWithTimeout(
        waitWithWarnings(allClosed(rec), this.#waitWarningMs, () => {
          this.#events.warn(rec.parent.name, rec.uuid, `device ${rec.uuid} has ${rec.openCount} open handle(s); remove blocked until all are released`);
          requestAll(rec, asked++, this.#events);
        }),
        this.#releaseTimeoutMs,
      );
      // An unregistration that started meanwhile needs the device gone: it goes on to unbind, which ends the user.
      if (!released && !rec.parent.unregistering) {
        this.#registry.activate(rec);
        rec.parent.settle();
        throw err('EBUSY', `device ${rec.uuid} is still in use (${rec.openCount} open handle(s)) after ${this.#releaseTimeoutMs} ms`);
      }
    }
    return this.#removeDevice(rec, false, true, origin);
  }

  async #removeAfterVeto(rec: DeviceRecord, veto: NonNullable<ParentOps<unknown>['requestRemove']>, origin: string | undefined): Promise<void> {
    const parent = rec.parent;
    rec.removeRequested = true;
    try {
      const r = veto.call(parent.ops, rec, rec.driverData);
      if (isThenable(r)) await r;
    } catch (e) {
      parent.settle();
      throw e;
    } finally {
      rec.removeRequested = false;
    }
    // An unregistration that started meanwhile has taken over this device's removal.
    if (rec.state !== 'active') {
      parent.settle();
      return;
    }
    return this.#removeWhenReleased(rec, origin);
  }

  /** The removal steps (see the module comment). Settles one `pending` of the parent when done; never rejects. */
  async #removeDevice(rec: DeviceRecord, revoke: boolean, warnWhileWaiting: boolean, origin: string | undefined): Promise<void> {
    const parent = rec.parent;
    try {
      if (rec.state === 'active') this.#registry.deactivate(rec);
      if (rec.busBusy !== undefined) await settleBus(rec);
      if (rec.bound !== undefined) {
        const r = this.#bus.unbind(rec);
        if (r !== undefined) await r;
      }
      if (rec.openCount > 0) {
        if (revoke) revokeAll(rec, `device ${rec.uuid} was removed`, this.#events);
        else if (warnWhileWaiting) {
          await waitWithWarnings(allClosed(rec), this.#waitWarningMs, () =>
            this.#events.warn(parent.name, rec.uuid, `device ${rec.uuid} has ${rec.openCount} open handle(s); remove blocked until all are released`),
          );
        } else await allClosed(rec);
      }
      // A start may still be in flight on the online queue, so `online` is only final once the queue is idle.
      if (parent.hasOnline && (rec.online || this.#online.busy(parent))) await this.#online.stopForRemoval(rec);
      this.#detachGroup(rec);
      try {
        const r = parent.ops.remove(rec, rec.driverData);
        if (isThenable(r)) await r;
      } catch (e) {
        this.#events.warn(parent.name, rec.uuid, `vendor remove failed: ${String(e)}`);
      }
      this.#release(rec);
    } finally {
      parent.settle();
    }
    this.#events.emit('remove', parent.name, rec.uuid, rec.type.id, undefined, origin, revoke);
  }

  #detachGroup(rec: DeviceRecord): void {
    const group = rec.iommuGroup;
    if (group === undefined) return;
    this.#registry.ungroup(rec);
    this.#groups.free(group);
  }

  /** The last step of a rollback or removal: the UUID, the mapped ranges and the pool slot go back. */
  #release(rec: DeviceRecord): void {
    this.#registry.unreserve(rec);
    rec.ranges = undefined;
    if (rec.parent.pooled) rec.parent.available++;
  }
}

/** True when `done` settles within `ms`; false on the timeout (then `done` is left to finish on its own). */
async function waitWithTimeout(done: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([done.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

function gone(parent: ParentRecord): UmdevError {
  return err('ENODEV', `parent ${parent.name} is being unregistered`);
}
