/**
 * Run by flush.test.ts under strace: an mvblk device whose disk is `flush.img`, a guest that writes three times and
 * flushes twice, then exits. Prints `ok` when all went well.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BLK_S } from '../../../src/drivers/mvblk/virtio.js';
import { startBlk } from './harness.js';

const afters: (() => unknown)[] = [];
const h = await startBlk({ after: (fn) => afters.push(fn) });
const { uuid } = await h.create('small');
writeFileSync(join(h.images, 'flush.img'), Buffer.alloc(1 << 20));
const mdev = h.core.device(uuid)!;
const backing = mdev.parent.deviceAttributes.flatMap((g) => (g.name === undefined ? g.attrs : [])).find((a) => a.name === 'backing')!;
await backing.store!(mdev, mdev.driverData, 'flush.img');
const g = await h.guest(uuid);
const statuses = [
  await g.write(0n, Buffer.alloc(4096, 1)),
  await g.write(8n, Buffer.alloc(4096, 2)),
  await g.flush(),
  await g.write(16n, Buffer.alloc(4096, 3)),
  await g.flush(),
];
for (const fn of afters.reverse()) await fn();
process.stdout.write(statuses.every((s) => s === BLK_S.OK) ? 'ok\n' : `statuses ${statuses.join(',')}\n`);
