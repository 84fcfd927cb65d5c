/**
 * Concepts: what a `PciDevice` derives from its declaration (`PciDeviceSpec`): the config space, the region table,
 * the interrupt controller, the migration driver and the memfds of memory-backed BARs. `buildParts` checks the
 * declaration (a bad one throws `EINVAL` naming the problem) and builds them, once per device: when the device is
 * constructed, or, for a device declared on first use (`PciDevice.declaration`), when something first asks it.
 *
 * Region `i` is BAR `i` (a 64-bit BAR's upper slot is an empty region), then ROM, config space and VGA, as
 * vfio-pci numbers them.
 */
import { err } from '../errors.js';
import { PCI_CAP_ID, VFIO_DEVICE_FLAGS, VFIO_IRQ_INFO, VFIO_PCI_IRQ, VFIO_PCI_REGION, VFIO_REGION_INFO_FLAG } from './constants.js';
import type { WatchReadable } from './device.js';
import { MigrationDriver } from './device-migration.js';
import { type IrqIndexSpec, IrqController } from './irqs.js';
import { MemfdBacking } from './memfd-region.js';
import { MsixTable, msixBar, msixLayout } from './msix.js';
import { type BarSpec, type CapabilitySpec, PciConfigSpace, msiCapability, msixCapability } from './pci-config.js';
import type { BarDecl, PciDeviceSpec } from './pci-spec.js';
import { type RegionMmap, type RegionSpec, RegionTable } from './regions.js';

const RW = VFIO_REGION_INFO_FLAG.READ | VFIO_REGION_INFO_FLAG.WRITE;
const EVENTFD_NORESIZE = VFIO_IRQ_INFO.EVENTFD | VFIO_IRQ_INFO.NORESIZE;

/** A device's derived parts. Owned by the `PciDevice` that built them. */
export interface PciParts {
  readonly spec: PciDeviceSpec;
  readonly deviceFlags: number;
  readonly config: PciConfigSpace;
  readonly regions: RegionTable;
  readonly irqs: IrqController;
  readonly migration: MigrationDriver | undefined;
  /** Memfds of memory-backed BARs that exist now, by BAR. */
  readonly memory: Map<number, MemfdBacking>;
  /** Memory-backed BARs whose memfd lives for one client session (`BarMemory.perSession`). */
  readonly sessionMemory: readonly SessionMemory[];
  /** The MSI-X table copy, with its masking, when the device has MSI-X. */
  readonly msix: MsixTable | undefined;
}

interface SessionMemory {
  readonly bar: number;
  readonly size: number;
}

/** What the parts need of the device that owns them. */
export interface PartsHost {
  /** Delivery failures of the interrupt controller. */
  log(level: 'warn', message: string): void;
  /** Watches a client's unmask eventfd while a client has the device open. */
  readonly watch: WatchReadable;
  /** False once the device is disposed of: memory-backed BARs then get no memfd, as after `dispose`. */
  readonly withMemory: boolean;
  /** Told after each interrupt that reached the client's eventfd. */
  readonly delivered?: () => void;
}

/** Check `spec` and build what it implies; EINVAL for a bad declaration, with nothing left open. */
export function buildParts(spec: PciDeviceSpec, host: PartsHost): PciParts {
  const bars = [...(spec.bars ?? [])];
  if (bars.length > 6) throw err('EINVAL', `${bars.length} BARs declared; a PCI function has 6`);
  const caps: CapabilitySpec[] = [...(spec.config?.capabilities ?? [])];
  const irqs = spec.irqs ?? {};
  if (irqs.msi && irqs.msi.capability !== false) caps.push(msiCapability(irqs.msi));
  let msix: MsixTable | undefined;
  if (irqs.msix) {
    const { bar } = irqs.msix;
    if (!Number.isInteger(bar) || bar < 0 || bar > 5) throw err('EINVAL', `MSI-X BAR ${bar} not in 0..5`);
    if (bars[bar] !== undefined || (bar > 0 && bars[bar - 1]?.kind === 'mem64')) throw err('EINVAL', `MSI-X BAR ${bar} is already declared`);
    const layout = msixLayout(irqs.msix.vectors);
    msix = new MsixTable(layout);
    bars[bar] = msixBar(msix);
    caps.push(msixCapability({ tableSize: layout.vectors, tableBar: bar, tableOffset: layout.tableOffset, pbaBar: bar, pbaOffset: layout.pbaOffset }));
  }
  const c = spec.config ?? {};
  const config = new PciConfigSpace({
    identity: spec.identity,
    size: c.size,
    bars: bars.map(barSpec),
    command: c.command,
    status: c.status,
    interruptPin: c.interruptPin ?? (irqs.intx ? 1 : 0),
    capabilities: caps,
    vendorRanges: c.vendorRanges,
  });
  for (const b of c.bytes ?? []) {
    if (b.offset < config.capabilitiesEnd || b.offset + b.data.length > config.size) {
      throw err('EINVAL', `config bytes at 0x${b.offset.toString(16)}+${b.data.length} overlap the header or capabilities, or leave the space`);
    }
    b.data.forEach((v, i) => config.setByte(b.offset + i, v));
  }
  const irqController = new IrqController({
    numIrqs: VFIO_PCI_IRQ.NUM_IRQS,
    indexes: irqIndexes(spec),
    onError: (m) => host.log('warn', m),
    watch: host.watch,
    ...(host.delivered === undefined ? {} : { delivered: host.delivered }),
  });
  if (msix !== undefined) {
    const table = msix;
    const control = config.capabilityOffset(PCI_CAP_ID.MSIX)! + 2;
    table.functionMasked = () => (config.word(control) & 0x4000) !== 0;
    table.onRelease = (v) => irqController.trigger(VFIO_PCI_IRQ.MSIX, v);
  }
  const memory = new Map<number, MemfdBacking>();
  const sessionMemory: SessionMemory[] = [];
  const mem = { memory, sessionMemory };
  try {
    const specs: RegionSpec[] = [];
    bars.forEach((bar, index) => {
      if (bar !== undefined) specs.push(barRegion(spec, mem, index, bar, host.withMemory));
    });
    const write = c.write;
    specs.push({
      index: VFIO_PCI_REGION.CONFIG,
      size: config.size,
      flags: RW,
      read: (off, len) => config.read(off, len),
      write: (off, data) => {
        if (write) write(off, data, config);
        else config.write(off, data);
        // A function unmask (MSI-X control) lets held vectors go.
        msix?.release();
      },
    });
    return {
      spec,
      deviceFlags: VFIO_DEVICE_FLAGS.PCI | (spec.reset ? VFIO_DEVICE_FLAGS.RESET : 0),
      config,
      regions: new RegionTable(VFIO_PCI_REGION.NUM_REGIONS, specs),
      irqs: irqController,
      migration: spec.migration ? new MigrationDriver(spec.migration) : undefined,
      memory,
      sessionMemory,
      msix,
    };
  } catch (e) {
    irqController.close();
    for (const m of memory.values()) m.close();
    throw e;
  }
}

/** The memory of a memory-backed BAR; ENODEV for per-session memory that does not exist now, EINVAL for others. */
export function backing(parts: Pick<PciParts, 'memory' | 'sessionMemory'>, bar: number): MemfdBacking {
  const m = parts.memory.get(bar);
  if (m) return m;
  if (parts.sessionMemory.some((s) => s.bar === bar)) throw err('ENODEV', `BAR ${bar}'s memory exists only while a client has the device open`);
  throw err('EINVAL', `BAR ${bar} is not memory-backed`);
}

/** Name of a BAR's memfd (`/proc/<pid>/fd` shows `memfd:<name>-bar<i>`). */
export function memfdName(spec: PciDeviceSpec, bar: number): string {
  return `${spec.name ?? 'umdev'}-bar${bar}`;
}

function barRegion(spec: PciDeviceSpec, mem: { memory: Map<number, MemfdBacking>; sessionMemory: SessionMemory[] }, index: number, bar: BarDecl, withMemory: boolean): RegionSpec {
  const size = BigInt(bar.size);
  if (bar.kind === 'io' || !bar.memory) {
    return { index, size, read: bar.read?.bind(bar), write: bar.write?.bind(bar), flags: RW };
  }
  const memory = bar.memory === true ? {} : bar.memory;
  if (memory.perSession) mem.sessionMemory.push({ bar: index, size: Number(size) });
  else if (withMemory) mem.memory.set(index, new MemfdBacking(memfdName(spec, index), Number(size)));
  const areas = memory.mmap;
  const present = mem.memory;
  // Outside the mmap areas a BAR without handlers is served from its memory too.
  const bytes = (): Uint8Array => backing(mem, index).bytes;
  return {
    index,
    size,
    flags: RW,
    // Asked on every use: per-session memory has an fd only while a client has the device open.
    get mmap(): RegionMmap | undefined {
      const m = present.get(index);
      return m === undefined ? undefined : { fd: m.fd, ...(areas ? { areas } : {}) };
    },
    read: bar.read?.bind(bar) ?? ((off, len) => bytes().slice(off, off + len)),
    write: bar.write?.bind(bar) ?? ((off, data) => bytes().set(data, off)),
    ...(memory.accessed === undefined ? {} : { accessed: memory.accessed.bind(memory) }),
  };
}

function barSpec(bar: BarDecl | undefined): BarSpec | undefined {
  if (bar === undefined) return undefined;
  if (bar.kind === 'io') return { kind: 'io', size: bar.size };
  if (bar.kind === 'mem32') return { kind: 'mem32', size: bar.size, prefetchable: bar.prefetchable };
  return { kind: 'mem64', size: BigInt(bar.size), prefetchable: bar.prefetchable };
}

/** The IRQ indexes the declaration implies, with vfio-pci's flags. */
function irqIndexes(spec: PciDeviceSpec): IrqIndexSpec[] {
  const i = spec.irqs ?? {};
  const out: IrqIndexSpec[] = [];
  if (i.intx) out.push({ index: VFIO_PCI_IRQ.INTX, count: 1, flags: VFIO_IRQ_INFO.EVENTFD | VFIO_IRQ_INFO.MASKABLE | VFIO_IRQ_INFO.AUTOMASKED });
  if (i.msi) {
    const v = i.msi.vectors;
    if (!Number.isInteger(v) || v < 1 || v > 32 || (v & (v - 1)) !== 0) throw err('EINVAL', `MSI vectors ${v} not a power of two in 1..32`);
  }
  if (i.msi) out.push({ index: VFIO_PCI_IRQ.MSI, count: i.msi.vectors, flags: EVENTFD_NORESIZE });
  if (i.msix) out.push({ index: VFIO_PCI_IRQ.MSIX, count: i.msix.vectors, flags: EVENTFD_NORESIZE });
  if (i.err) out.push({ index: VFIO_PCI_IRQ.ERR, count: 1, flags: EVENTFD_NORESIZE });
  if (i.req) out.push({ index: VFIO_PCI_IRQ.REQ, count: 1, flags: EVENTFD_NORESIZE });
  return out;
}
