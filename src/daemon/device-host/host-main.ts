/**
 * Concepts: a device host, the process that serves one vfio-user client. umdevd (root) starts one per accepted
 * connection, with the client's socket as fd 3 and an IPC channel. The host builds its own instance of the device
 * from the vendor driver (a private core with one parent and one device), drops to an unprivileged user before it
 * reads the client's first byte, serves the session, and exits once the device is reset and closed. A crash, a heap
 * overrun or a stuck loop here ends this client's session only: the mount, the API and other devices live in other
 * processes. Device state lasts one session, as a session already ends with a reset; a device that a migration
 * brought in starts from the migrated state (`init.restore`), and umdevd can migrate the host's instance out
 * (`mig` messages, answered in order).
 */
import process from 'node:process';
import { Core } from '../../core/core.js';
import { err, toUmdevError } from '../../errors.js';
import { screenPng } from '../../display/screen.js';
import { createLogger } from '../../log.js';
import { native } from '../../native/index.js';
import { type MigrationPort, loadDevice, localPort } from '../../vfio/migration-port.js';
import { type PciDevice, requirePciDevice } from '../../vfio/pci-device.js';
import { makeLogger } from '../../vfio-user/log.js';
import { describeClient, startSession } from '../../vfio-user/session.js';
import type { DriverCatalog } from '../config.js';
import { CLIENT_FD, type HostInit, type HostMessage, type MigrationOp, type MigrationReply, type RootMessage, messageType } from './protocol.js';

function send(m: HostMessage): void {
  process.send?.(m);
}

async function serve(init: HostInit): Promise<void> {
  const base = createLogger({ level: init.log.level, json: init.log.json });
  const log = makeLogger(init.uuid, base);
  const { DRIVERS } = (await import(init.catalog)) as { DRIVERS: DriverCatalog };
  const entry = DRIVERS[init.driver];
  if (entry === undefined) throw err('EINVAL', `no driver named ${init.driver}`);
  const core = new Core({ log: base.child('core', init.uuid) });
  core.registerParent(entry.create(init.options));
  const device = await core.create(init.parent, init.typeId, init.uuid);
  const model = requirePciDevice(device.driverData, `${init.driver} device ${init.uuid}`);
  if (init.restore !== undefined) await loadDevice(model, init.restore, 'umdevd');
  dropPrivileges(init.uid, init.gid);
  const migration = migrationServer(model);

  const who = describeClient(native, CLIENT_FD);
  const session = startSession({ fd: CLIENT_FD, device: model, open: () => core.open(init.uuid), io: native, log, maxDmaMaps: init.maxDmaMaps, busyPollNs: init.busyPollNs });
  process.on('message', (m: RootMessage) => {
    if (m.type === 'ping') send({ type: 'pong', seq: m.seq });
    else if (m.type === 'stop') session.connection.close(err('ENODEV', m.reason));
    else if (m.type === 'request-release') {
      log('info', `removal waits for ${who} to release the device (request ${m.count})`);
      model.requestRelease?.(m.count);
    }
    else if (m.type === 'screen') send(screen(model, m.seq));
    else if (m.type === 'mig') migration(m);
    else if (m.type === 'reset') {
      Promise.resolve()
        .then(() => model.reset())
        .then(() => send({ type: 'reset-done' }), (e: unknown) => send({ type: 'reset-done', error: (e as Error).message }));
    }
  });
  // umdevd gone: nobody owns this device any more.
  process.on('disconnect', () => session.connection.close(err('ENODEV', 'umdevd went away')));
  send({ type: 'serving' });
  await session.ended;
  send({ type: 'client-gone' });
  await session.done;
}

/** The `screen` answer: the PNG, or the errno and reason (display off, no display) the API reports. */
function screen(model: unknown, seq: number): HostMessage {
  try {
    return { type: 'screen', seq, png: screenPng(model).toString('base64') };
  } catch (e) {
    const u = toUmdevError(e);
    return { type: 'screen', seq, errno: u.errno, message: u.message };
  }
}

/** Answers the root's migration operations on this host's instance, one at a time, in order. */
function migrationServer(model: PciDevice): (m: { seq: number } & MigrationOp) => void {
  let port: MigrationPort | undefined;
  let queue: Promise<void> = Promise.resolve();
  const open = (): MigrationPort => {
    if (port === undefined) throw err('EINVAL', 'no migration is open');
    return port;
  };
  const run = async (m: MigrationOp): Promise<Omit<MigrationReply, 'type' | 'seq'>> => {
    switch (m.op) {
      case 'open':
        if (port !== undefined) throw err('EBUSY', 'a migration is already open');
        port = localPort(model, m.owner);
        return { flags: port.flags };
      case 'state':
        await open().setState(m.target);
        return {};
      case 'read':
        return { data: Buffer.from(await open().read(m.max)).toString('base64') };
      case 'write':
        await open().write(Buffer.from(m.data, 'base64'));
        return {};
      case 'platform':
        return { platform: await open().platform() };
      case 'stop-copy': {
        const r = await open().stopAndCopy();
        return { data: Buffer.from(r.stream).toString('base64'), platform: r.platform };
      }
      case 'load-platform':
        await open().loadPlatform(m.platform);
        return {};
      case 'reset':
        await open().reset();
        return {};
      case 'release':
        port?.release();
        port = undefined;
        return {};
    }
  };
  return (m) => {
    queue = queue.then(async () => {
      try {
        send({ type: 'mig-reply', seq: m.seq, ...(await run(m)) });
      } catch (e) {
        const u = toUmdevError(e);
        send({ type: 'mig-reply', seq: m.seq, error: { errno: u.errno, message: u.message } });
      }
    });
  };
}

/** Give up root for good: supplementary groups first, then the group, then the user (after which none of it works). */
function dropPrivileges(uid: number | undefined, gid: number | undefined): void {
  if (uid === undefined || process.getuid?.() !== 0) return;
  process.setgroups?.([]);
  process.setgid?.(gid ?? uid);
  process.setuid?.(uid);
  if (process.getuid?.() !== uid || process.geteuid?.() !== uid) throw err('EPERM', `could not drop to uid ${uid}`);
}

process.once('message', (m: unknown) => {
  if (messageType(m) !== 'init') {
    process.stderr.write('device host: the first message was not init\n');
    process.exit(2);
  }
  serve(m as HostInit).then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`device host: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
});
