/**
 * Concepts: what the mtty sample's PCI config space adds to what its BARs and interrupt already say
 * (`mtty_create_config_space` and `handle_pci_cfg_write` in samples/vfio-mdev/mtty.c): its identity, the initial
 * command and status, a few vendor bytes and a string, and its write rules. The sample dispatches a write on the
 * exact start offset of each naturally aligned chunk rather than masking bytes: command/status and every unlisted
 * offset are ignored, 0x3c keeps the first byte written, BAR0/BAR1 take a dword (all-ones becomes the size mask),
 * BAR2–4 read back 0.
 */
import { alignedChunks, type ConfigDecl, PCI_CFG, type PciConfigSpace, type PciIdentity } from '../../sdk/index.js';

/** `MTTY_IO_BAR_SIZE`: each port is an 8-byte I/O BAR. */
export const MTTY_IO_BAR_SIZE = 8;
/** Vendor 0x4348, device 0x3253 (also the subsystem ids). */
export const MTTY_VENDOR_ID = 0x4348;
export const MTTY_DEVICE_ID = 0x3253;

export const MTTY_IDENTITY: PciIdentity = {
  vendorId: MTTY_VENDOR_ID,
  deviceId: MTTY_DEVICE_ID,
  // 16550-compatible (0x02) serial controller (0x00), simple communication controller (0x07).
  classCode: 0x070002,
  revision: 0x10,
  subsystemVendorId: MTTY_VENDOR_ID,
  subsystemId: MTTY_DEVICE_ID,
};

const VENDOR_BYTES: readonly (readonly [number, number])[] = [
  [0x40, 0x23],
  [0x43, 0x80],
  [0x44, 0x23],
  [0x48, 0x23],
  [0x4c, 0x23],
];
const VENDOR_STRING_AT = 0x60;
const VENDOR_STRING = 'PCI Serial/UART';

/**
 * The config declaration of an mtty device with `nrPorts` ports, one per port count and shared by every such device
 * (it is plain data and a write rule that acts on the space it is given). The space is 256 bytes, a full PCI config
 * space: the sample's `MTTY_CONFIG_SPACE_SIZE` is 0xff, one short, which makes a guest's (or QEMU's) dword read at
 * 0xfc fail; the bytes past the header read as zero either way.
 */
export function mttyConfig(nrPorts: 1 | 2): ConfigDecl {
  return CONFIGS[nrPorts];
}

const VENDOR_DATA = [
  ...VENDOR_BYTES.map(([offset, v]) => ({ offset, data: Uint8Array.of(v) })),
  { offset: VENDOR_STRING_AT, data: Buffer.from(VENDOR_STRING, 'latin1') },
];

function declareConfig(nrPorts: 1 | 2): ConfigDecl {
  return {
    // Control: I/O+, Mem-, BusMaster-; Status: DEVSEL medium, no capability list.
    command: 0x0001,
    status: 0x0200,
    bytes: VENDOR_DATA,
    write: (offset, data, space) => alignedChunks(offset, data, (at, c) => writeChunk(space, nrPorts, at, c)),
  };
}

const CONFIGS = { 1: declareConfig(1), 2: declareConfig(2) } as const;

/** `bar_mask[]`: `~MTTY_IO_BAR_SIZE + 1`, i.e. 0xfffffff8, for each port's BAR. */
const BAR_MASK = (~MTTY_IO_BAR_SIZE + 1) >>> 0;

/** One chunk of a config write, dispatched on its start offset exactly as `handle_pci_cfg_write`. */
function writeChunk(space: PciConfigSpace, nrPorts: number, offset: number, chunk: Uint8Array): void {
  switch (offset) {
    case PCI_CFG.COMMAND:
    case PCI_CFG.STATUS:
    case PCI_CFG.INTERRUPT_PIN:
      break;
    case PCI_CFG.INTERRUPT_LINE:
      space.setByte(offset, chunk[0]!);
      break;
    case 0x10:
    case 0x14: {
      const bar = offset === 0x10 ? 0 : 1;
      if (nrPorts === 1 && bar === 1) {
        space.setDword(offset, 0);
        break;
      }
      // The sample reads a dword whatever the chunk size; bytes the chunk lacks are taken as zero.
      let addr = ((chunk[0] ?? 0) | ((chunk[1] ?? 0) << 8) | ((chunk[2] ?? 0) << 16) | ((chunk[3] ?? 0) << 24)) >>> 0;
      if (addr === 0xffffffff) addr = (addr & BAR_MASK) >>> 0;
      addr = (addr | (space.byte(offset) & 0x3)) >>> 0;
      space.setDword(offset, addr);
      break;
    }
    case 0x18:
    case 0x1c:
    case 0x20:
      space.setDword(offset, 0);
      break;
    default:
      // The sample logs "PCI config write … not handled" and drops the write.
      break;
  }
}
