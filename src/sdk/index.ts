/**
 * Concepts: the device contract, the one module a vendor driver imports. A driver is a parent (`pciParent`: name,
 * types, how to build one device's model, an optional pool, attributes) whose devices are `PciDevice`s declared in
 * one place (`PciDeviceSpec`: identity, BARs, config extras, interrupts, reset, migration, display), and a catalog
 * entry (`vendorDriver`) that declares the options umdevd's config may give it. umdev derives config space, region
 * info and IRQ info from the declaration, serves the device over vfio-user, in-process or in an unprivileged device
 * host, and refuses a driver whose `device` returns anything else. See docs/vendor-guide.md.
 */
// The parent, its pool, and the driver as umdevd loads it.
export { inProcess, pciParent, type DeviceIdentity, type PciAttrGroupSpec, type PciAttrSpec, type PciFileSpec, type PciParent, type PciParentSpec, type Placement } from './pci-parent.js';
export { Pool, type PoolSpec } from './pool.js';
export { vendorDriver, type DriverContext, type DriverSpec, type IntegerOption, type OptionSpec, type OptionValues, type OptionsSchema, type StringOption, type VendorDriver } from './driver.js';
// The device: its declaration, and what it offers its own code at run time.
export { PciDevice } from '../vfio/pci-device.js';
export type { BarAccess, BarDecl, BarMemory, ConfigDecl, IrqDecl, OpenInfo, PciDeviceSpec } from '../vfio/pci-spec.js';
export type { DmaAccess, DmaSegment, SparseArea } from '../vfio/device.js';
// Requests in flight, files the root opens for the device, buffers reused across requests.
export { InFlight, type Request } from './in-flight.js';
export { BackingFile, type FileInfo } from '../vfio/backing-file.js';
export { Scratch } from './scratch.js';
// Helpers for BARs, config space and accesses.
export { registerFile } from './register-file.js';
export { alignedChunks } from '../vfio/chunks.js';
export { pcieCapability, pmCapability, vendorCapability, type CapabilitySpec, type PciConfigSpace, type PciIdentity, type VendorRange } from '../vfio/pci-config.js';
export { PCI_CFG, PCI_COMMAND, PCI_STATUS, VFIO_DEVICE_STATE, VFIO_PCI_IRQ, VFIO_PCI_REGION, VFIO_REGION_INFO_FLAG } from '../vfio/constants.js';
// Migration.
export { snapshotMigration, type DeviceMigration, type MigrationSink, type MigrationSource, type SnapshotState } from '../vfio/device-migration.js';
// A display, and console output.
export type { DisplayPlane, DisplaySource, PixelFormat } from '../display/plane.js';
export { ByteRing, type UartOutput } from '../vfio/uart-tap.js';
// Errors, and the core's types a driver sees.
export { UmdevError, err, type Errno } from '../errors.js';
export type { DeviceAttrGroupSpec, DeviceAttrSpec, MdevDevice, MdevType, ParentSpec, TypeSpec } from '../core/index.js';
