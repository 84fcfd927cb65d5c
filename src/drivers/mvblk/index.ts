/**
 * Concepts: mvblk, a virtio-blk vendor driver: a parent that hands out disks, each a modern virtio-blk PCI device
 * that a guest's own `virtio_blk` driver binds. It is named as the kernel's samples are (mtty, mdpy, mbochs: "m" for
 * mediated, then what is emulated), with "vblk" being virtio-blk as Linux's driver calls its device.
 *
 * The parent `mvblk` (`virtual/mvblk/mvblk`) stands for a storage controller with `queues` hardware queues to share
 * (16 by default): types `mvblk-small`, `mvblk-medium` and `mvblk-large` take 1, 2 and 4 of them, one virtqueue and
 * MSI-X vector each, so `available_instances` counts what the queues left allow. A device's disk is the file its
 * `backing` attribute names, under the parent's `images` directory (`mdevctl modify --addattr=backing
 * --value=PATH`); without one it is `<images>/<uuid>.img`, a sparse image of the type's size (1, 8 or 64 GiB).
 * `vendor/queues` and `vendor/capacity` (in 512-byte sectors) read back what the device is.
 */
import path from 'node:path';
import { type MdevDevice, type PciParent, type Placement, err, pciParent, vendorDriver } from '../../sdk/index.js';
import { MvblkDevice } from './device.js';
import { MVBLK_DEFAULT_QUEUES, MVBLK_TYPES, mvblkType } from './spec.js';

export { MvblkDevice } from './device.js';
export { MVBLK_DEFAULT_QUEUES, MVBLK_TYPES } from './spec.js';

export interface MvblkOptions {
  /** Hardware queues the parent shares out. */
  readonly queues?: number;
  /** The directory backing files are named from and default images made in (absolute); none: devices get no disk. */
  readonly images?: string;
}

function gib(bytes: number): string {
  return `${bytes / 1024 ** 3} GiB`;
}

/** A fresh mvblk parent. Register it with `Core.registerParent`. */
export function createMvblkParent(options: MvblkOptions = {}, placement?: Placement): PciParent<MvblkDevice> {
  const total = options.queues ?? MVBLK_DEFAULT_QUEUES;
  if (!Number.isInteger(total) || total < 0) throw err('EINVAL', `mvblk with ${total} queues`);
  return pciParent<MvblkDevice>(
    {
      name: 'mvblk',
      devicePath: 'virtual/mvblk/mvblk',
      driverName: 'mvblk',
      types: MVBLK_TYPES.map((t) => ({
        sysfsName: t.sysfsName,
        prettyName: t.prettyName,
        description: () => `virtio-blk, ${t.queues} queue${t.queues === 1 ? '' : 's'}, default disk ${gib(t.defaultBytes)}`,
      })),
      pool: { size: total, cost: (type) => mvblkType(type).queues, full: (want, left) => `mvblk: ${want} queues wanted, ${left} left` },
      device: ({ type, uuid }) => new MvblkDevice(mvblkType(type), uuid),
      files: [{ name: 'backing', dir: options.images, defaultSize: (type) => mvblkType(type).defaultBytes, attach: (model, file) => model.setBacking(file) }],
      attributes: [
        {
          name: 'vendor',
          attrs: [
            { name: 'queues', mode: 0o444, record: (device: MdevDevice) => `${mvblkType(device.type).queues}\n` },
            { name: 'capacity', mode: 0o444, show: (model) => `${model.capacity}\n` },
          ],
        },
      ],
    },
    placement,
  );
}

/**
 * mvblk for umdevd: `queues` to share out (each device takes its type's), `images` where backing files may be named
 * from and default images are made (relative to the state dir; default `<state>/images`).
 */
export const mvblkDriver = vendorDriver({
  options: {
    queues: { kind: 'integer', min: 1, max: 4096, default: MVBLK_DEFAULT_QUEUES },
    images: { kind: 'string', nonEmpty: true, default: 'images' },
  },
  create: (o, placement, context) => {
    // A device host builds the declaration without a context: it opens no file, so it needs no directory.
    const dir = path.isAbsolute(o.images) ? o.images : context === undefined ? undefined : path.resolve(context.stateDir, o.images);
    return createMvblkParent({ queues: o.queues, ...(dir === undefined ? {} : { images: dir }) }, placement);
  },
});
