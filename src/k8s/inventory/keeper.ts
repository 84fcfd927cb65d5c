/**
 * Concepts: held devices survive a umdevd restart. umdevd forgets the devices made through its API when it stops
 * (only defined ones come back), while a pod still holds them: so whenever umdevd answers again (and once the
 * device plugin's holds are known after an agent start), every held device whose parent and type are known and
 * that umdevd lacks is created again with its UUID; its socket path is the same, so the pod's mount is good again.
 * Until then the device plugin lists it unhealthy. A device removed while umdevd runs is not re-created: someone
 * removed it on purpose, and it stays unhealthy until it is back or its holder lets go.
 */
import { describeError, type Logger } from '../../log.js';
import { ensureDevice } from '../umdev/ops.js';
import type { UmdevView } from '../umdev/watch.js';
import type { Holdings } from './holdings.js';

/** Owned by the agent; `close()` stops it. */
export class HeldDeviceKeeper {
  readonly #watch: UmdevView;
  readonly #holdings: Holdings;
  readonly #log: Logger;
  #wasUp = false;
  #running: Promise<void> = Promise.resolve();
  readonly #unsubscribe: () => void;

  constructor(watch: UmdevView, holdings: Holdings, log: Logger) {
    this.#watch = watch;
    this.#holdings = holdings;
    this.#log = log.child('keeper');
    this.#unsubscribe = watch.onChange((s) => {
      if (s.up && !this.#wasUp) void this.check();
      this.#wasUp = s.up;
    });
  }

  /** Re-create every held device umdevd lacks; resolves when done (one check at a time). */
  check(): Promise<void> {
    this.#running = this.#running.then(() => this.#check());
    return this.#running;
  }

  async #check(): Promise<void> {
    const snap = this.#watch.snapshot;
    if (!snap.up) return;
    const present = new Set(snap.devices.map((d) => d.uuid));
    const held = [
      ...[...this.#holdings.claims.values()].flatMap((c) => c.devices),
      ...this.#holdings.devicePluginHolds().filter((h) => h.parent !== undefined && h.type !== undefined),
    ] as { uuid: string; parent: string; type: string }[];
    for (const h of held) {
      if (present.has(h.uuid)) continue;
      present.add(h.uuid);
      try {
        this.#watch.noteDevice(await ensureDevice(this.#watch.endpoint, h.parent, h.type, h.uuid));
        this.#log.info(`re-created held device ${h.uuid} (${h.parent}/${h.type})`);
      } catch (e) {
        this.#log.warn(`re-creating held device ${h.uuid} failed: ${describeError(e)}`);
      }
    }
  }

  close(): void {
    this.#unsubscribe();
  }
}
