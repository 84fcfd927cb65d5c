/**
 * Concepts: umdevd logs device creates and removes from the core's events, not from each caller, so a device made by
 * `mdevctl` writing `create` in the sysfs tree is logged exactly like one made through the API, and once. The
 * event's `origin` (`api`, `sysfs`, `autostart`, `unregister`) names the line's component; an event without one is
 * `core`'s. The core's `warning`s (a removal blocked by open handles, a vendor hook that failed) are logged too.
 */
import type { Core, CoreEvent } from '../core/index.js';
import type { Logger } from '../log.js';

/** Log `add`, `remove` and `warning` events of `core`. Returns the unsubscribe function (call it once). */
export function logDeviceEvents(core: Core, log: Logger): () => void {
  const onEvent = (e: CoreEvent): void => {
    const line = log.child(e.origin ?? 'core', e.uuid);
    if (e.kind === 'add') line.info(`created ${e.type ?? '?'} on ${e.parent}`);
    else if (e.kind === 'remove') line.info(e.forced === true ? 'removed (forced)' : 'removed');
    else if (e.kind === 'warning') line.warn(e.message ?? 'warning');
  };
  return core.subscribe(onEvent);
}
