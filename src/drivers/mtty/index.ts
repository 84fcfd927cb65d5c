/**
 * Concepts: the mtty vendor driver (samples/vfio-mdev/mtty.c) as a umdev parent. Parent `mtty` at
 * `virtual/mtty/mtty`, types `mtty-1` ("Single port serial") and `mtty-2` ("Dual port serial") drawing on one pool
 * of ports (24 by default) owned by the parent instance, so several parents (and tests) never share one.
 * `available_instances` is free ports / ports per type; a create that does not fit fails with ENOSPC, as the
 * sample's `mtty_init_dev`. Ports go back to the pool when the device is removed.
 */
import { err, type MdevDevice, pciParent, type PciParent, type Placement, vendorDriver } from '../../sdk/index.js';
import { MttyDevice } from './device.js';

export { MttyDevice } from './device.js';
export { UartPort, UART } from './uart.js';

/** `MAX_MTTYS`: ports in the sample's pool. */
export const MTTY_MAX_PORTS = 24;

const PORTS_BY_TYPE: Readonly<Record<string, 1 | 2>> = { '1': 1, '2': 2 };

function portsOf(type: { readonly sysfsName: string }): 1 | 2 {
  const n = PORTS_BY_TYPE[type.sysfsName];
  if (n === undefined) throw err('EINVAL', `mtty has no type ${type.sysfsName}`);
  return n;
}

/** A fresh mtty parent with its own port pool (`ports`, default 24). Register it with `Core.registerParent`. */
export function createMttyParent(options: { ports?: number } = {}, placement?: Placement): PciParent<MttyDevice> {
  const total = options.ports ?? MTTY_MAX_PORTS;
  if (!Number.isInteger(total) || total < 0) throw err('EINVAL', `mtty port pool of ${total}`);
  return pciParent<MttyDevice>(
    {
      name: 'mtty',
      devicePath: 'virtual/mtty/mtty',
      driverName: 'mtty',
      types: [
        { sysfsName: '1', prettyName: 'Single port serial' },
        { sysfsName: '2', prettyName: 'Dual port serial' },
      ],
      pool: { size: total, cost: portsOf, full: (want, left) => `mtty: ${want} port(s) wanted, ${left} free` },
      device: ({ type }) => new MttyDevice(portsOf({ sysfsName: type })),
      attributes: [{ name: 'vendor', attrs: [{ name: 'sample_mdev_dev', mode: 0o444, record: (device: MdevDevice) => `This is MDEV ${device.name}\n` }] }],
    },
    placement,
  );
}

/** mtty for umdevd: `ports`, the pool of ports its devices share (the sample's `MAX_MTTYS`). */
export const mttyDriver = vendorDriver({
  options: { ports: { kind: 'integer', min: 1, max: 4096, default: MTTY_MAX_PORTS } },
  create: (o, placement) => createMttyParent({ ports: o.ports }, placement),
});
