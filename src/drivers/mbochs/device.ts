/**
 * Concepts: one mbochs device (samples/vfio-mdev/mbochs.c), a `PciDevice` declared by `mbochsDeviceSpec`: PCI device
 * info (plus RESET, which the sample answers without advertising it and a vfio-user server forwards only when
 * advertised), config space (256 bytes), BAR0 the video memory and BAR2 the register page. No interrupts.
 *
 * Video memory is per-session memory of the contract: a memfd created when a client opens the device and released
 * when it closes it, as the sample allocates pages on demand and frees them in `close_device`. GET_REGION_INFO hands
 * the memfd to the client with one sparse area covering BAR0, so a VMM maps it into the guest and the guest's
 * framebuffer writes never become messages; the few accesses that still arrive as REGION_READ/WRITE are served from
 * the same pages and counted. The display (`queryPlane`) reads the same pages through the device's own mapping.
 *
 * Migration (`migration.ts`) carries the DISPI registers and the video memory; a destination without a client
 * loads into video memory created for the purpose, which the next client then maps.
 *
 * Config space follows the PCI rules (`PciConfigSpace` masks) rather than the sample's, which drops every config
 * write other than BAR0 and BAR2 (the command register included).
 */
import { type DisplayPlane, err, PciDevice, VFIO_DEVICE_STATE } from '../../sdk/index.js';
import { DispiRegisters } from './dispi.js';
import { buildEdid } from './edid.js';
import { mbochsMigration } from './migration.js';
import { MmioPage } from './mmio.js';
import { FB_BAR, type MbochsType, mbochsDeviceSpec, vramBytes } from './spec.js';

/** One mbochs device's state. Created by the parent's `create`, dropped by its `remove`. */
export class MbochsDevice extends PciDevice {
  readonly type: MbochsType;
  readonly dispi: DispiRegisters;
  #trappedVramBytes = 0;

  constructor(type: MbochsType) {
    const dispi = new DispiRegisters(vramBytes(type));
    const mmio = new MmioPage(dispi, type.maxX > 0 && type.maxY > 0 ? buildEdid(type.maxX, type.maxY) : new Uint8Array(0));
    const migration = mbochsMigration({
      vramBytes: vramBytes(type),
      dispi,
      memory: () => (this.hasMemory(FB_BAR) ? this.memory(FB_BAR) : undefined),
      memoryForLoad: () => this.memoryForLoad(FB_BAR),
      inPreCopy: () => this.migrationState === VFIO_DEVICE_STATE.PRE_COPY,
    });
    super(
      mbochsDeviceSpec(type, {
        registers: { read: (off, len) => mmio.read(off, len), write: (off, data) => mmio.write(off, data) },
        // Counted: a guest should draw through its mapping, and the close says how much did not.
        vramAccessed: (length) => {
          this.#trappedVramBytes += length;
        },
        // `mbochs_reset`: the DISPI registers go back to display off; video memory and config space stay.
        reset: () => dispi.reset(),
        open: () => {
          this.#trappedVramBytes = 0;
        },
        close: () => this.log('debug', `video memory: ${this.#trappedVramBytes} bytes went through REGION_READ/WRITE, the rest through the client's mapping`),
        migration,
        display: { queryPlane: () => this.queryPlane() },
      }),
    );
    this.type = type;
    this.dispi = dispi;
  }

  /** Bytes of video memory that went through REGION_READ/WRITE instead of the client's mapping, this session. */
  get trappedVramBytes(): number {
    return this.#trappedVramBytes;
  }

  /** The primary plane the DISPI registers describe, in video memory; EBUSY with the reason when nothing is shown. */
  queryPlane(): DisplayPlane {
    const s = this.dispi.scanout();
    if ('off' in s) throw err('EBUSY', s.off);
    if (!this.hasMemory(FB_BAR)) throw err('EBUSY', 'no client has the device open: it has no video memory');
    return { format: s.format, width: s.width, height: s.height, stride: s.stride, pixels: this.memory(FB_BAR).subarray(s.offset, s.offset + s.size) };
  }
}
