/**
 * Kernel modules for the guest's initramfs, taken from the guest kernel's own `/lib/modules/<version>` in the VM root:
 * a module and everything `modules.dep` says it needs, in load order (dependencies first), decompressed on the host
 * (Debian ships them as `.ko.xz`) with the root's static busybox `xzcat`, so the guest's `insmod` gets plain ELF.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ExtraFile } from './initramfs.js';

/** Where the modules go in the initramfs, and the file listing their names in load order. */
export const GUEST_MODULE_DIR = 'modules';
export const GUEST_MODULE_ORDER = `${GUEST_MODULE_DIR}/order`;

/** The kernel version of a `/boot/vmlinuz-<version>` path. */
export function kernelVersion(kernel: string): string {
  return path.basename(kernel).replace(/^vmlinuz-/, '');
}

/** `modules.dep` as module path → its dependencies' paths (relative to the version's directory). */
function readDeps(dir: string): Map<string, string[]> {
  const file = path.join(dir, 'modules.dep');
  if (!existsSync(file)) throw new Error(`${file} is missing: rebuild the VM root with ./setup --vm (linux-image-amd64 ships it)`);
  const deps = new Map<string, string[]>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    deps.set(line.slice(0, colon), line.slice(colon + 1).trim().split(/\s+/).filter((d) => d !== ''));
  }
  return deps;
}

/** The short name of a module path (`kernel/drivers/gpu/drm/tiny/bochs.ko.xz` → `bochs`). */
function moduleName(p: string): string {
  return path.basename(p).replace(/\.ko(\.xz|\.zst|\.gz)?$/, '');
}

/**
 * `names` and their dependencies from the root's guest kernel, dependencies first: the initramfs files
 * (`modules/<name>.ko` and `modules/order`) and the load order.
 */
export function guestModules(root: string, kernel: string, names: readonly string[]): { files: ExtraFile[]; order: string[] } {
  const dir = path.join(root, 'lib/modules', kernelVersion(kernel));
  const deps = readDeps(dir);
  const byName = new Map([...deps.keys()].map((p) => [moduleName(p), p]));
  const order: string[] = [];
  const visit = (p: string): void => {
    if (order.includes(p)) return;
    for (const d of deps.get(p) ?? []) visit(d);
    order.push(p);
  };
  for (const n of names) {
    const p = byName.get(n);
    if (p === undefined) throw new Error(`the guest kernel in ${dir} has no module ${n}`);
    visit(p);
  }
  const busybox = path.join(root, 'bin/busybox');
  const files = order.map((p) => {
    const src = path.join(dir, p);
    const data = p.endsWith('.xz') ? execFileSync(busybox, ['xzcat', src], { maxBuffer: 256 * 1024 * 1024 }) : readFileSync(src);
    return { name: `${GUEST_MODULE_DIR}/${moduleName(p)}.ko`, data };
  });
  const loadOrder = order.map(moduleName);
  files.push({ name: GUEST_MODULE_ORDER, data: Buffer.from(`${loadOrder.join('\n')}\n`) });
  return { files, order: loadOrder };
}
