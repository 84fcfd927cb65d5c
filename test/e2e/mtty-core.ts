/**
 * A Core with the mtty parent and the real vfio-user bus driver on a temp socket dir, torn down (devices removed,
 * driver and parent unregistered, dir deleted) by the test's `after`, even when the test fails.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Core } from '../../src/core/core.js';
import { createMttyParent } from '../../src/drivers/mtty/index.js';
import { createLogger } from '../../src/log.js';
import { VfioUserBusDriver } from '../../src/vfio-user/index.js';

export async function mttyCore(t: { after(fn: () => unknown): void }, prefix: string): Promise<{ core: Core; bus: VfioUserBusDriver }> {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(runDir, { recursive: true, force: true }));
  const core = new Core();
  core.registerParent(createMttyParent());
  const bus = new VfioUserBusDriver({ core, runDir, log: createLogger({ sink: { write: () => true } }) });
  await core.registerDriver(bus);
  t.after(async () => {
    for (const d of core.devices()) await core.remove(d.uuid, { force: true });
    await core.unregisterDriver(bus.name);
    await core.unregisterParent('mtty');
    await bus.close();
  });
  return { core, bus };
}
