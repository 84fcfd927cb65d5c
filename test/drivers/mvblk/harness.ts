/**
 * An mvblk parent in a real Core with the real vfio-user bus driver on a real socket, its images in a fresh
 * directory; devices are created on demand and a guest (`VirtioGuest`) attaches through a real client. Everything is
 * torn down when the test ends.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Core } from '../../../src/core/core.js';
import { type MvblkDevice, createMvblkParent } from '../../../src/drivers/mvblk/index.js';
import { createLogger } from '../../../src/log.js';
import { VfioUserBusDriver } from '../../../src/vfio-user/bus-driver.js';
import { type ClientOptions, VfioUserClient } from '../../../src/vfio-user/client.js';
import type { LocalInstance } from '../../../src/vfio-user/local-instance.js';
import { type GuestOptions, VirtioGuest } from './virtio-guest.js';

export interface BlkHarness {
  readonly core: Core;
  readonly driver: VfioUserBusDriver;
  readonly images: string;
  readonly logs: string[];
  /** Create a device of `type` (`small`, `medium`, `large`). */
  create(type?: string): Promise<{ uuid: string; model: MvblkDevice; instance: LocalInstance }>;
  connect(uuid: string, options?: ClientOptions): Promise<VfioUserClient>;
  /** Connect and attach a guest with the type's queues. */
  guest(uuid: string, o?: GuestOptions & ClientOptions): Promise<VirtioGuest>;
}

let counter = 0;

export async function startBlk(t: { after(fn: () => unknown): void }, o: { queues?: number } = {}): Promise<BlkHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'umdev-mvblk-'));
  const images = join(dir, 'images');
  const logs: string[] = [];
  const core = new Core();
  const clients: VfioUserClient[] = [];
  const guests: VirtioGuest[] = [];
  t.after(async () => {
    for (const g of guests) g.close();
    await Promise.all(clients.map((c) => c.close()));
    for (const d of core.devices()) await core.remove(d.uuid, { force: true });
    if (core.drivers().length > 0) await core.unregisterDriver('vfio-user');
    if (core.parent('mvblk')) await core.unregisterParent('mvblk');
    rmSync(dir, { recursive: true, force: true });
  });
  core.registerParent(createMvblkParent({ images, ...(o.queues === undefined ? {} : { queues: o.queues }) }));
  const driver = new VfioUserBusDriver({ core, runDir: join(dir, 'run'), log: createLogger({ level: 'debug', sink: { write: (line: string) => logs.push(line) } }) });
  await core.registerDriver(driver);
  const h: BlkHarness = {
    core,
    driver,
    images,
    logs,
    create: async (type = 'small') => {
      const uuid = `b1b1b1b1-0000-4000-8000-${(++counter).toString(16).padStart(12, '0')}`;
      const mdev = await core.create('mvblk', `mvblk-${type}`, uuid);
      const instance = mdev.driverData as LocalInstance;
      return { uuid, model: instance.model as MvblkDevice, instance };
    },
    connect: async (uuid, options) => {
      const c = await VfioUserClient.connect(driver.socketPath(uuid), options);
      clients.push(c);
      return c;
    },
    guest: async (uuid, options = {}) => {
      const c = await h.connect(uuid, options);
      const model = (core.device(uuid)!.driverData as LocalInstance).model as MvblkDevice;
      const g = await VirtioGuest.attach(c, model.type.queues, options);
      guests.push(g);
      return g;
    },
  };
  return h;
}
