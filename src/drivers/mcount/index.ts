/**
 * Concepts: mcount, the smallest useful vendor driver, written for the vendor guide (docs/vendor-guide.md). One
 * parent `mcount` with one type, `mcount-1`, up to 8 devices. Each device is a PCI function with BAR0, 16 bytes of
 * registers (an id, a counter, a doorbell that bumps the counter and raises an interrupt, a scratch register), and
 * BAR2, one page of memory the VMM may map. INTx and one MSI vector; a reset clears the registers; the registers
 * migrate as an 8-byte snapshot.
 */
import { err, PciDevice, pciParent, type PciParent, type Placement, snapshotMigration, vendorDriver } from '../../sdk/index.js';

/** BAR0 register offsets. */
export const MCOUNT_REG = { ID: 0x0, COUNT: 0x4, DOORBELL: 0x8, SCRATCH: 0xc } as const;
/** What ID reads: "UMDV" in little-endian bytes. */
export const MCOUNT_ID = 0x56444d55;

/** One mcount device: its registers are its whole state. */
export class McountDevice extends PciDevice {
  count = 0;
  scratch = 0;

  constructor() {
    super({
      name: 'mcount',
      identity: { vendorId: 0x1b36, deviceId: 0x0101, classCode: 0xff0000, revision: 1 },
      bars: [
        { kind: 'mem32', size: 16, read: (offset, length) => this.#read(offset, length), write: (offset, data) => this.#write(offset, data) },
        undefined,
        { kind: 'mem32', size: 4096, memory: true },
      ],
      irqs: { intx: true, msi: { vectors: 1 } },
      reset: () => {
        this.count = 0;
        this.scratch = 0;
      },
      migration: snapshotMigration({
        size: 8,
        save: () => {
          const b = Buffer.alloc(8);
          b.writeUInt32LE(this.count, 0);
          b.writeUInt32LE(this.scratch, 4);
          return b;
        },
        restore: (b) => {
          this.count = Buffer.from(b).readUInt32LE(0);
          this.scratch = Buffer.from(b).readUInt32LE(4);
        },
      }),
    });
  }

  /** A write to `vendor/scratch`: a number (decimal, or `0x` hex) that fits 32 bits; EINVAL otherwise. */
  setScratch(value: string): void {
    const text = value.trim();
    const n = /^0x[0-9a-f]{1,8}$/i.test(text) ? Number.parseInt(text.slice(2), 16) : /^[0-9]{1,10}$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw err('EINVAL', `mcount: scratch must be a 32-bit number, not ${JSON.stringify(text.slice(0, 32))}`);
    this.scratch = n;
  }

  /** Registers are dwords; any other access is refused, as a device that decodes only dwords would. */
  #read(offset: number, length: number): Uint8Array {
    if (length !== 4 || offset % 4 !== 0) throw err('EINVAL', `mcount: ${length}-byte read at 0x${offset.toString(16)}`);
    const values = [MCOUNT_ID, this.count, 0, this.scratch];
    const out = Buffer.alloc(4);
    out.writeUInt32LE(values[offset / 4]! >>> 0);
    return out;
  }

  #write(offset: number, data: Buffer): void {
    if (data.length !== 4 || offset % 4 !== 0) throw err('EINVAL', `mcount: ${data.length}-byte write at 0x${offset.toString(16)}`);
    if (offset === MCOUNT_REG.DOORBELL) {
      this.count = (this.count + 1) >>> 0;
      this.interrupt();
    } else if (offset === MCOUNT_REG.SCRATCH) {
      this.scratch = data.readUInt32LE(0);
    }
  }
}

/** A fresh mcount parent. Register it with `Core.registerParent`. */
export function createMcountParent(placement?: Placement): PciParent<McountDevice> {
  return pciParent<McountDevice>(
    {
      name: 'mcount',
      devicePath: 'virtual/mcount/mcount',
      driverName: 'mcount',
      maxInstances: 8,
      types: [{ sysfsName: '1', prettyName: 'Doorbell counter' }],
      device: () => new McountDevice(),
      attributes: [
        {
          name: 'vendor',
          attrs: [
            // Read from the live device: what the doorbell has counted, whether or not a client is attached.
            { name: 'count', mode: 0o444, show: (dev) => `${dev.count}\n` },
            // The SCRATCH register, as `0x` hex: what a client reads at BAR0 0xc, and what a write here puts there.
            { name: 'scratch', mode: 0o644, show: (dev) => `0x${dev.scratch.toString(16).padStart(8, '0')}\n`, store: (dev, value) => dev.setScratch(value) },
          ],
        },
      ],
    },
    placement,
  );
}

/** mcount for umdevd: no options. */
export const mcountDriver = vendorDriver({ options: {}, create: (_o, placement) => createMcountParent(placement) });
