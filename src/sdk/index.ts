/**
 * Concepts: the device contract, the one module a vendor driver imports. A driver is a parent (`pciParent`: name,
 * types, `create`, an optional pool) whose `create` returns a `PciDevice` declared in one place (`PciDeviceSpec`:
 * identity, BARs, config extras, interrupts, reset, migration). umdev derives config space, region info and IRQ
 * info from the declaration, serves the device over vfio-user, in-process or in an unprivileged device host, and
 * refuses a driver whose `create` returns anything else. See docs/vendor-guide.md.
 */
export { buildInstance, identityOf, inProcess, pciParent, type DeviceIdentity, type PciAttrGroupSpec, type PciAttrSpec, type PciFileSpec, type PciParent, type PciParentSpec, type Placement } from './pci-parent.js';
export { Pool, type PoolSpec } from './pool.js';
export { BackingFile, type FileInfo } from './backing-file.js';
export { InFlight, type Request } from './in-flight.js';
export { Scratch } from './scratch.js';
export { registerFile } from './register-file.js';
export { PciDevice } from '../vfio/pci-device.js';
export type { BarAccess, BarDecl, BarMemory, ConfigDecl, IrqDecl, OpenInfo, PciDeviceSpec } from '../vfio/pci-spec.js';
export { pcieCapability, pmCapability, vendorCapability, type CapabilitySpec, type PciConfigSpace, type PciIdentity, type VendorRange } from '../vfio/pci-config.js';
export { snapshotMigration, type DeviceMigration, type MigrationSink, type MigrationSource, type SnapshotState } from '../vfio/device-migration.js';
export type { DmaAccess, DmaSegment, SparseArea } from '../vfio/device.js';
export { PCI_CFG, PCI_COMMAND, PCI_STATUS, VFIO_PCI_IRQ } from '../vfio/constants.js';
export { UmdevError, err, type Errno } from '../errors.js';
export type { DeviceAttrGroupSpec, DeviceAttrSpec, MdevDevice, MdevType, ParentSpec, TypeSpec } from '../core/types.js';
export { ByteRing, type UartOutput } from '../vfio/uart-tap.js';
