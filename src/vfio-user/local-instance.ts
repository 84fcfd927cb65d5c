/**
 * Concepts: a device's instance in this process: the vendor's `PciDevice` and its vendor hooks (attributes, start,
 * stop), serving its clients one session at a time. umdevd uses it directly only when device hosts are off; a device
 * host wraps the one instance it holds in it and answers the root's calls with it.
 *
 * Screens are made one at a time: concurrent requests share the frame being made.
 */
import { err } from '../errors.js';
import { VFIO_DEVICE_FLAGS } from '../vfio/constants.js';
import { screenPng } from '../display/screen.js';
import { type MigrationPort, localPort } from '../vfio/migration-port.js';
import { type PciDevice, vfioOf } from '../vfio/pci-device.js';
import { native } from '../native/index.js';
import { BackingFile } from '../vfio/backing-file.js';
import { type ActiveSession, DeviceInstance, type FileSource, type ServeContext } from './instance.js';
import { type Session, startSession } from './session.js';

/** One vendor attribute of the instance, as its driver declared it. */
export interface AttributeHooks {
  show?(): string | Promise<string>;
  store?(value: string): void | Promise<void>;
}

/** What the vendor's driver adds to the device model. */
export interface InstanceHooks {
  /** The vendor attribute `name` (in `group`, undefined: the device's own directory), if the driver has it. */
  attribute?(group: string | undefined, name: string): AttributeHooks | undefined;
  start?(): void | Promise<void>;
  stop?(): void | Promise<void>;
  /** The file `name` for the model (EINVAL for a name the driver does not declare; EBUSY to refuse it now). */
  file?(name: string, file: BackingFile): void | Promise<void>;
}

/** The instance of one device in this process. Owned by the device's record (its vendor state). */
export class LocalInstance extends DeviceInstance {
  readonly model: PciDevice;
  readonly #hooks: InstanceHooks;
  #session: Session | undefined;
  #screen: Promise<Buffer> | undefined;
  #disposed = false;
  /** The model's files, by name; each closed when replaced or when the device goes. */
  readonly #files = new Map<string, BackingFile>();

  constructor(model: PciDevice, hooks: InstanceHooks = {}) {
    super();
    this.model = model;
    this.#hooks = hooks;
  }

  serve(fd: number, c: ServeContext): ActiveSession {
    if (this.#disposed) throw err('ENODEV', 'the device is gone');
    if (this.#session !== undefined && !this.#session.connection.closed) throw err('EBUSY', 'the device already has a client');
    const s = startSession({ fd, device: vfioOf(this.model), io: c.io, log: c.log, limited: c.limited, maxDmaMaps: c.maxDmaMaps, dmaBudget: c.dmaBudget, busyPollNs: c.busyPollNs, ...(c.twin === undefined ? {} : { twin: c.twin }) });
    this.#session = s;
    return {
      get closed() {
        return s.connection.closed;
      },
      probe: async () => {
        s.connection.transport.poll();
        return !s.connection.closed;
      },
      negotiatedMigration: async () => s.connection.migrationNegotiated,
      close: (reason) => s.connection.close(reason),
      done: s.done,
    };
  }

  /** The session now, if a client is connected (for counters and tests). */
  get session(): Session | undefined {
    return this.#session;
  }

  #attribute(group: string | undefined, name: string): AttributeHooks {
    const a = this.#hooks.attribute?.(group, name);
    if (a === undefined) throw err('ENOENT', `no attribute ${group === undefined ? name : `${group}/${name}`}`);
    return a;
  }

  async showAttribute(group: string | undefined, name: string): Promise<string> {
    const a = this.#attribute(group, name);
    if (a.show === undefined) throw err('EACCES', `${name} cannot be read`);
    return a.show();
  }

  async storeAttribute(group: string | undefined, name: string, value: string): Promise<void> {
    const a = this.#attribute(group, name);
    if (a.store === undefined) throw err('EACCES', `${name} cannot be written`);
    await a.store(value);
  }

  async start(): Promise<void> {
    await this.#hooks.start?.();
  }

  async stop(): Promise<void> {
    await this.#hooks.stop?.();
  }

  /** ENOTTY for a device whose model declares no reset, as VFIO_DEVICE_RESET. */
  async reset(): Promise<void> {
    const fn = vfioOf(this.model);
    if (!(fn.deviceFlags & VFIO_DEVICE_FLAGS.RESET)) throw err('ENOTTY', 'the device has no reset');
    await fn.reset();
  }

  requestRelease(count: number): void {
    vfioOf(this.model).requestRelease(count);
  }

  screen(): Promise<Buffer> {
    this.#screen ??= screenPng(this.model.display).finally(() => {
      this.#screen = undefined;
    });
    return this.#screen;
  }

  async openMigration(owner: string): Promise<MigrationPort> {
    return localPort(vfioOf(this.model), owner);
  }

  async attachFile(name: string, source: FileSource): Promise<void> {
    const o = source();
    const file = new BackingFile(o.fd, { size: o.size, kind: o.kind, readOnly: o.readOnly, label: o.label }, (fd) => native.close(fd));
    try {
      if (this.#disposed) throw err('ENODEV', 'the device is gone');
      const hook = this.#hooks.file;
      if (hook === undefined) throw err('EINVAL', `the device takes no file ${name}`);
      await hook(name, file);
    } catch (e) {
      file.close();
      throw e;
    }
    const old = this.#files.get(name);
    this.#files.set(name, file);
    if (old !== file) old?.close();
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const s = this.#session;
    if (s !== undefined) {
      s.connection.close(err('ENODEV', 'device removed'));
      await s.done;
    }
    vfioOf(this.model).dispose();
    for (const f of this.#files.values()) f.close();
    this.#files.clear();
  }
}
