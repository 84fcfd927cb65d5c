/**
 * Concepts: a booted host runs one client session before it is handed a device, against a throwaway mtty device of
 * its own over a socket pair: VERSION, the device and region queries a VMM makes when it attaches, config and BAR
 * reads and writes. V8 compiles a function the first time it runs, so without this the first client of every
 * device would pay for compiling the whole session path (tens of ms of CPU); with it that cost is paid once, at boot,
 * and a zygote's hosts inherit the compiled code. It runs before INIT, as umdev's own code with its own input: no
 * tenant byte is involved, and nothing of it outlives the call (the device is disposed, both sockets closed).
 */
import type { Native } from '../../native/index.js';
import { createMttyParent } from '../../drivers/mtty/index.js';
import { buildInstance } from '../../sdk/pci-parent.js';
import { VfioUserClient } from '../../vfio-user/client.js';

/** The PCI config region (VFIO_PCI_CONFIG_REGION_INDEX). */
const CONFIG_REGION = 7;
const WARM_UUID = '00000000-0000-4000-8000-00000000c01d';

/** One session against a throwaway device; resolves once everything is closed again. Throws what fails. */
export async function warmUp(io: Native): Promise<void> {
  const parent = createMttyParent({ ports: 1 });
  const instance = buildInstance(parent.declaration, { type: '1', uuid: WARM_UUID, name: 'warm-up' });
  const [server, client] = io.socketpair();
  try {
    const session = instance.serve(server, { who: 'warm-up', io, log: () => undefined, busyPollNs: 0 });
    const c = await VfioUserClient.fromFd(client, { native: io });
    try {
      const info = await c.deviceInfo();
      for (let r = 0; r < info.numRegions; r++) {
        const region = await c.regionInfo(r);
        if (region.fd !== undefined) io.close(region.fd);
      }
      await c.irqInfo(0);
      // Enough rounds that the register path is compiled past the interpreter's first tier.
      for (let i = 0; i < 64; i++) {
        await c.read(CONFIG_REGION, 0, 4);
        await c.read(0, 5, 1);
        await c.write(0, 1, Buffer.from([0]));
      }
    } finally {
      await c.close();
    }
    await session.done;
  } finally {
    await instance.dispose();
  }
}
