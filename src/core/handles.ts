/**
 * Concepts: open references to a device. `Core.open` takes one; its holder releases it (idempotent). A non-forced
 * removal waits until the last one is released, asking the holders to let go (`onRequest`); a forced removal revokes
 * them: each handle's `onRevoke` listeners are told, then the handle is released on the holder's behalf.
 */
import type { EventHub } from './events.js';
import type { DeviceRecord } from './records.js';
import type { DeviceHandle, MdevDevice } from './types.js';
import { Waiters } from './waiting.js';

/** One open reference. Taken by `Core.open`; released by its holder or revoked by a forced removal. */
export class DeviceHandleImpl implements DeviceHandle {
  readonly #record: DeviceRecord;
  #released = false;
  #listeners: ((reason: string) => void)[] | undefined;
  #requests: ((count: number) => void)[] | undefined;

  constructor(record: DeviceRecord) {
    this.#record = record;
    record.openCount++;
    record.parent.openHandles++;
    (record.handles ??= new Set()).add(this);
  }

  get device(): MdevDevice {
    return this.#record;
  }

  get released(): boolean {
    return this.#released;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#listeners = undefined;
    this.#requests = undefined;
    const rec = this.#record;
    rec.handles?.delete(this);
    rec.parent.openHandles--;
    if (--rec.openCount === 0) rec.closed?.wake();
  }

  onRevoke(listener: (reason: string) => void): () => void {
    if (this.#released) return () => {};
    (this.#listeners ??= []).push(listener);
    return () => {
      const list = this.#listeners;
      const i = list === undefined ? -1 : list.indexOf(listener);
      if (i >= 0) list!.splice(i, 1);
    };
  }

  onRequest(listener: (count: number) => void): () => void {
    if (this.#released) return () => {};
    (this.#requests ??= []).push(listener);
    return () => {
      const list = this.#requests;
      const i = list === undefined ? -1 : list.indexOf(listener);
      if (i >= 0) list!.splice(i, 1);
    };
  }

  /** Ask the holder to release (a removal is waiting). A throwing listener is reported, not fatal. */
  request(count: number, events: EventHub): void {
    for (const l of [...(this.#requests ?? [])]) {
      try {
        l(count);
      } catch (e) {
        events.warn(this.#record.parent.name, this.#record.uuid, `release request listener failed: ${String(e)}`);
      }
    }
  }

  /** Tell the holder the device is going away, then release. A throwing listener is reported, not fatal. */
  revoke(reason: string, events: EventHub): void {
    if (this.#released) return;
    for (const l of this.#listeners ?? []) {
      try {
        l(reason);
      } catch (e) {
        events.warn(this.#record.parent.name, this.#record.uuid, `revoke listener failed: ${String(e)}`);
      }
    }
    this.release();
  }
}

/** Revoke every open handle of a device (forced removal). */
export function revokeAll(rec: DeviceRecord, reason: string, events: EventHub): void {
  if (rec.handles === undefined) return;
  for (const h of Array.from(rec.handles)) h.revoke(reason, events);
}

/** Ask every holder of a device to release it (a plain removal waits); `count` is how many times before. */
export function requestAll(rec: DeviceRecord, count: number, events: EventHub): void {
  if (rec.handles === undefined) return;
  for (const h of Array.from(rec.handles)) h.request(count, events);
}

/** Resolves once the device has no open handle. */
export async function allClosed(rec: DeviceRecord): Promise<void> {
  while (rec.openCount > 0) await (rec.closed ??= new Waiters()).wait();
}
