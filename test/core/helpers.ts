/** Shared assertions and fixtures for the core tests (a support module: it defines no tests itself). */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Core } from '../../src/core/core.js';
import { isUmdevError, type Errno } from '../../src/errors.js';
import type { CoreEvent, CoreEventKind, MdevDevice, ParentOps, ParentSpec } from '../../src/core/types.js';

export { sleep, randomUUID };

/** Assert that `p` (a promise or a function) fails with a `UmdevError` carrying `errno`; returns the error. */
export async function expectErrno(p: Promise<unknown> | (() => unknown), errno: Errno, phrase?: RegExp): Promise<Error> {
  let caught: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, `expected ${errno}, but it succeeded`);
  assert.ok(isUmdevError(caught), `expected a UmdevError(${errno}), got ${String(caught)}`);
  assert.equal(caught.errno, errno, caught.message);
  if (phrase) assert.match(caught.message, phrase);
  return caught;
}

/** A vendor's per-device state in these tests. */
export interface TestState {
  readonly uuid: string;
  started: number;
}

/** A parent spec named `name` with one or two types and a recording vendor; `ops` override the defaults. */
export function spec(name: string, extra: Partial<ParentSpec<TestState>> = {}, ops: Partial<ParentOps<TestState>> = {}): ParentSpec<TestState> {
  return {
    name,
    devicePath: `virtual/test/${name}`,
    driverName: 'test',
    deviceApi: 'vfio-pci',
    maxInstances: 8,
    types: [{ sysfsName: '1', prettyName: 'Single' }, { sysfsName: '2', description: () => 'two\n' }],
    ...extra,
    ops: {
      create: (d: MdevDevice) => ({ uuid: d.uuid, started: 0 }),
      remove: () => {},
      ...ops,
    },
  };
}

/** Record every event of a core, by kind. */
export function recordEvents(core: Core): CoreEvent[] {
  const seen: CoreEvent[] = [];
  core.subscribe((e: CoreEvent) => seen.push(e));
  return seen;
}

export function kinds(events: readonly CoreEvent[], skip: CoreEventKind[] = ['warning']): string[] {
  return events.filter((e) => !skip.includes(e.kind)).map((e) => `${e.kind}:${e.uuid ?? e.parent}`);
}

/** Everything observable about a core's state, for "nothing changed" assertions. */
export function snapshot(core: Core): unknown {
  const devices = core.devices().map((d) => ({
    uuid: d.uuid,
    name: d.name,
    state: d.state,
    group: d.iommuGroup,
    driver: d.driver,
    online: d.online,
    open: d.openCount,
  }));
  const parents = core.parents().map((p) => ({
    name: p.name,
    unregistering: p.unregistering,
    available: p.types.map((t) => core.availableInstances(t)),
  }));
  return { devices, parents, nextGroup: core.nextGroup(), drivers: core.drivers().map((d) => d.name) };
}
