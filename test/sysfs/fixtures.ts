/**
 * Test vendors for the sysfs tree: `mttyLike` imitates the mtty sample (a 24-port pool, ENOSPC when out of ports,
 * vendor/sample_mdev_dev), `toy` uses the core's own instance pool (EUSERS), has descriptions, start/stop, reset and
 * a writable vendor attribute. Plus helpers to walk and snapshot a whole tree.
 */
import { Core } from '../../src/core/core.js';
import { err, isUmdevError } from '../../src/errors.js';
import type { BusDriver, MdevDevice, ParentSpec } from '../../src/core/types.js';
import type { AttrDir, AttrNode, AttrTree } from '../../src/fuse/attr-tree.js';

/** Per-device state of the mtty-like vendor. */
export interface MttyState {
  readonly ports: number;
}

/** An mtty-like parent: types mtty-1 (1 port) and mtty-2 (2 ports) sharing `totalPorts`. */
export function mttyLike(totalPorts = 24, name = 'mtty', devicePath = 'virtual/mtty/mtty'): ParentSpec<MttyState> & { used(): number } {
  let used = 0;
  const portsOf = (t: { sysfsName: string }): number => Number(t.sysfsName);
  return {
    name,
    devicePath,
    driverName: 'mtty',
    deviceApi: 'vfio-pci',
    types: [
      { sysfsName: '1', prettyName: 'Single port serial' },
      { sysfsName: '2', prettyName: 'Dual port serial' },
    ],
    ops: {
      create(device) {
        const ports = portsOf(device.type);
        if (used + ports > totalPorts) throw err('ENOSPC', 'out of ports');
        used += ports;
        return { ports };
      },
      remove(_device, state) {
        used -= state.ports;
      },
      getAvailable(type) {
        return Math.floor((totalPorts - used) / portsOf(type));
      },
    },
    deviceAttributes: [
      {
        name: 'vendor',
        attrs: [{ name: 'sample_mdev_dev', mode: 0o444, show: (d) => `This is MDEV ${d.uuid}\n` }],
      },
    ],
    used: () => used,
  };
}

/** Per-device state of the toy vendor. */
export interface ToyState {
  knob: number;
  resets: number;
  running: boolean;
}

/** Hooks a test can set to observe the tree while the core is inside a vendor call. */
export interface ToyHooks {
  onCreate?: (device: MdevDevice) => void | Promise<void>;
  onRemove?: (device: MdevDevice) => void | Promise<void>;
  stopError?: Error;
}

/** A toy parent below a PCI-like path, with a core-managed pool of `max` instances. */
export function toy(hooks: ToyHooks = {}, max = 2): ParentSpec<ToyState> {
  return {
    name: '0000:00:02.0',
    devicePath: 'pci0000:00/0000:00:02.0',
    driverName: 'toy',
    deviceApi: 'vfio-ccw',
    maxInstances: max,
    types: [
      { sysfsName: 'a', prettyName: 'Toy A', description: () => 'first line\nsecond line\n' },
      { sysfsName: 'b', description: () => 'no newline' },
    ],
    ops: {
      async create(device) {
        await hooks.onCreate?.(device);
        return { knob: 7, resets: 0, running: false };
      },
      async remove(device) {
        await hooks.onRemove?.(device);
      },
      start(_device, state) {
        state.running = true;
      },
      stop(_device, state) {
        if (hooks.stopError) throw hooks.stopError;
        state.running = false;
      },
      reset(_device, state) {
        state.resets++;
      },
      supportedConfigs: () => 'toy-a: first\ntoy-b: second',
    },
    deviceAttributes: [
      {
        attrs: [
          {
            name: 'knob',
            mode: 0o644,
            show: (_d, s) => `${s.knob}\n`,
            store: (_d, s, v) => {
              const n = Number(v.trim());
              if (!/^\s*[0-9]+\s*$/.test(v) || n > 100) throw err('EINVAL', 'knob: 0..100');
              s.knob = n;
            },
          },
        ],
      },
      { name: 'vendor', attrs: [{ name: 'resets', mode: 0o444, show: (_d, s) => `${s.resets}\n` }] },
    ],
  };
}

/** A bus driver that binds every device (gives devices a `driver` link and an IOMMU group). */
export function busDriver(name = 'vfio_mdev'): BusDriver & { bound: Set<string> } {
  const bound = new Set<string>();
  return {
    name,
    bound,
    match: () => true,
    probe: (d) => {
      bound.add(d.uuid);
    },
    remove: (d) => {
      bound.delete(d.uuid);
    },
  };
}

/** A core with the mtty-like and toy parents and a bus driver. */
export async function fixtureCore(hooks: ToyHooks = {}): Promise<Core> {
  const core = new Core();
  await core.registerDriver(busDriver());
  core.registerParent(mttyLike());
  core.registerParent(toy(hooks));
  return core;
}

/** `a/b/../c` relative to the directory `from`, as path components below the root; undefined if it climbs out. */
export function resolveLink(from: readonly string[], target: string): string[] | undefined {
  const out = [...from];
  for (const part of target.split('/')) {
    if (part === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else if (part !== '.' && part !== '') {
      out.push(part);
    }
  }
  return out;
}

/**
 * Every node of the tree as sorted lines (`path kind mode value|target`), reading every readable file. Throws if a
 * listed entry does not resolve, has another kind than listed, or a symlink's target does not resolve.
 */
export async function snapshot(tree: AttrTree): Promise<string[]> {
  const lines: string[] = [];
  const walk = async (path: string[], node: AttrNode): Promise<void> => {
    const p = path.join('/') || '.';
    if (node.kind === 'symlink') {
      const target = resolveLink(path.slice(0, -1), node.target);
      if (target === undefined || tree.resolve(target) === undefined) throw new Error(`dangling link ${p} -> ${node.target}`);
      lines.push(`${p} -> ${node.target}`);
      return;
    }
    if (node.kind === 'file') {
      let value = '';
      if (node.show && node.mode & 0o444) {
        try {
          value = JSON.stringify(String(await node.show()));
        } catch (e) {
          value = isUmdevError(e) ? `!${e.errno}` : `!${String(e)}`;
        }
      }
      lines.push(`${p} file ${node.mode.toString(8)} ${value}`);
      return;
    }
    lines.push(`${p} dir ${node.mode.toString(8)}`);
    const names = new Set<string>();
    for (const e of (node as AttrDir).entries()) {
      if (names.has(e.name)) throw new Error(`duplicate entry ${p}/${e.name}`);
      names.add(e.name);
      const child = tree.resolve([...path, e.name]);
      if (child === undefined) throw new Error(`listed but unresolvable: ${p}/${e.name}`);
      if (child.kind !== e.kind) throw new Error(`${p}/${e.name}: listed as ${e.kind}, is ${child.kind}`);
      await walk([...path, e.name], child);
    }
  };
  const root = tree.resolve([]);
  if (root === undefined) throw new Error('no root');
  await walk([], root);
  return lines.sort();
}

/** Writes `value` to the file at `path`; fails the test if it is not a writable file. */
export async function write(tree: AttrTree, path: string, value: string | Buffer): Promise<void> {
  const node = tree.resolve(path.split('/'));
  if (node?.kind !== 'file' || !node.store) throw new Error(`${path} is not writable`);
  await node.store(typeof value === 'string' ? Buffer.from(value) : value);
}

/** Reads the file at `path`. */
export async function read(tree: AttrTree, path: string): Promise<string> {
  const node = tree.resolve(path.split('/'));
  if (node?.kind !== 'file' || !node.show) throw new Error(`${path} is not readable`);
  return String(await node.show());
}

/** Asserts that `p` rejects with a `UmdevError` of `errno`. */
export async function expectErrno(p: Promise<unknown> | (() => Promise<unknown>), errno: string): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (isUmdevError(e) && e.errno === errno) return;
    throw new Error(`expected ${errno}, got ${isUmdevError(e) ? e.errno : String(e)}`, { cause: e });
  }
  throw new Error(`expected ${errno}, but it succeeded`);
}

/** Two UUIDs and the two parents' directories the layout tests use. */
export const U1 = '11111111-2222-4333-8444-555555555555';
export const U2 = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
export const MTTY = 'devices/virtual/mtty/mtty';
export const TOY = 'devices/pci0000:00/0000:00:02.0';

/** The entry names of a directory node. */
export const names = (n: AttrNode | undefined): string[] => (n as AttrDir).entries().map((e) => e.name);
/** The node at a slash-separated path ('' is the root). */
export const at = (tree: AttrTree, p: string): AttrNode | undefined => tree.resolve(p === '' ? [] : p.split('/'));
