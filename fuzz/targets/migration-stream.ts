/**
 * The migration-stream fuzz target: a real device host (as umdevd starts one, confined under a host id when run as
 * root) holding an mtty-2, fed incoming migration streams over its channel as a destination daemon feeds it what a
 * remote source sent: random bytes, a valid mtty-2 stream mutated, truncated or grown, and valid streams of other
 * types (mtty-1, mcount). Each input opens the device's migration, puts it in RESUMING, writes the stream in random
 * pieces, and asks for RUNNING (the vendor parser's verdict); a refusal is the expected answer to a bad stream, and
 * the device is then reset back to RUNNING. The probe reads the device's config space through a fresh session and
 * checks the device still migrates a valid stream. A crash is the host dying; a hang, a call it never answers.
 */
import { createMcountParent } from '../../src/drivers/mcount/index.js';
import { createMttyParent } from '../../src/drivers/mtty/index.js';
import { DRIVERS_MODULE } from '../../src/daemon/drivers.js';
import { HostProcess } from '../../src/daemon/device-host/host-process.js';
import { Call } from '../../src/daemon/device-host/protocol.js';
import { DEFAULT_HOST_IDS, HostIds } from '../../src/daemon/device-host/uids.js';
import { createLogger } from '../../src/log.js';
import { native } from '../../src/native/index.js';
import { buildInstance } from '../../src/sdk/pci-parent.js';
import { VFIO_DEVICE_STATE as S } from '../../src/vfio/constants.js';
import { saveDevice } from '../../src/vfio/migration-port.js';
import { vfioOf } from '../../src/vfio/pci-device.js';
import type { FuzzTarget, Launched } from '../engine.js';
import type { Rng } from '../rng.js';

/** A valid stream of a resting device of `type` (built here, as a source would have it). */
async function validStream(parent: { declaration: Parameters<typeof buildInstance>[0] }, type: string): Promise<Buffer> {
  const i = buildInstance(parent.declaration, { type, uuid: '00000000-0000-4000-8000-000000000000', name: 'fuzz' });
  return Buffer.from((await saveDevice(vfioOf(i.model), 'fuzz')).stream, 'base64');
}

class Session implements Launched {
  readonly pid: number;
  readonly exited: Launched['exited'];
  readonly #host: HostProcess;
  readonly #valid: Buffer;
  readonly #foreign: readonly Buffer[];
  readonly #errors: string[] = [];

  constructor(host: HostProcess, valid: Buffer, foreign: readonly Buffer[], stderr: () => string) {
    this.#host = host;
    this.pid = host.pid;
    this.#valid = valid;
    this.#foreign = foreign;
    this.exited = host.exited.then(() => ({ code: null, signal: null, stderr: stderr() }));
  }

  #stream(rng: Rng): Buffer {
    const roll = rng.int(100);
    if (roll < 20) return Buffer.from(rng.bytes(rng.int(4096)));
    if (roll < 35) return this.#foreign[rng.int(this.#foreign.length)]!;
    const s = Buffer.from(this.#valid);
    if (roll < 50) return s.subarray(0, rng.int(s.length));
    if (roll < 60) return Buffer.concat([s, Buffer.from(rng.bytes(1 + rng.int(512)))]);
    // Mutations: flipped bytes (magic, version, port count, sizes included).
    for (let n = 1 + rng.int(8); n > 0; n--) s[rng.int(s.length)] = rng.int(256);
    return s;
  }

  async input(rng: Rng): Promise<void> {
    const h = this.#host;
    await h.call(Call.MIG_OPEN, { owner: 'fuzz' });
    try {
      await h.call(Call.MIG_STATE, { target: S.RESUMING });
      const stream = this.#stream(rng);
      let loaded = true;
      try {
        for (let at = 0; at < stream.length; ) {
          const n = 1 + rng.int(Math.max(1, stream.length - at));
          await h.call(Call.MIG_WRITE, {}, { data: stream.subarray(at, at + n) });
          at += n;
        }
        await h.call(Call.MIG_STATE, { target: S.RUNNING });
      } catch (e) {
        loaded = false;
        if ((e as { errno?: string }).errno === 'ECONNRESET') throw e;
      }
      if (!loaded) await h.call(Call.MIG_RESET);
    } finally {
      if (h.alive) await h.call(Call.MIG_RELEASE);
    }
  }

  async endBatch(): Promise<void> {}

  async probe(): Promise<void> {
    // A session starts and ends (the client hangs up at once): the host still serves.
    const [a, b] = native.socketpair();
    const ended = new Promise<void>((resolve) => this.#host.onSessionEnd(resolve));
    try {
      await this.#host.call(Call.SERVE, { who: 'fuzz probe' }, { fds: [b] });
    } finally {
      native.close(b);
    }
    native.close(a);
    await ended;
    // The device still takes a good stream.
    await this.#host.call(Call.MIG_OPEN, { owner: 'probe' });
    await this.#host.call(Call.MIG_STATE, { target: S.RESUMING });
    await this.#host.call(Call.MIG_WRITE, {}, { data: this.#valid });
    await this.#host.call(Call.MIG_STATE, { target: S.RUNNING });
    await this.#host.call(Call.MIG_RELEASE);
  }

  takeErrors(): string[] {
    return this.#errors.splice(0);
  }

  async stop(): Promise<void> {
    await this.#host.shutdown();
  }
}

export const target: FuzzTarget = {
  name: 'migration-stream',
  async launch(): Promise<Launched> {
    const valid = await validStream(createMttyParent(), '2');
    const foreign = [await validStream(createMttyParent(), '1'), await validStream(createMcountParent(), '1')];
    let stderr = '';
    const log = createLogger({ level: 'warn', sink: { write: (l: string) => (stderr += l) } });
    const ids = process.getuid?.() === 0 ? new HostIds(DEFAULT_HOST_IDS) : undefined;
    const id = ids?.take() ?? -1;
    const host = await HostProcess.start({
      init: { uuid: '00000000-0000-4000-8000-00000000f022', name: 'fuzz', catalog: DRIVERS_MODULE, driver: 'mtty', options: {}, type: '2', uid: id, gid: id, logLevel: 'warn', maxDmaMaps: undefined, busyPollNs: 0 },
      memoryMiB: 256,
      stuckMs: 10_000,
      io: native,
      deviceLog: () => undefined,
      log,
    });
    void host.exited.then(() => (id >= 0 ? ids?.give(id) : undefined));
    return new Session(host, valid, foreign, () => stderr);
  },
};
