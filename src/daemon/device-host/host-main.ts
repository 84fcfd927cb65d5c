/**
 * Concepts: a device host, the process that holds one device's instance for the device's whole life. umdevd (root)
 * starts it ahead of need (a warm host, `warm-pool.ts`) with the channel (`channel.ts`) as its fd 3 and nothing else
 * of its own. The host closes any other fd it finds, answers `BOOT` once it has loaded the driver catalog, and waits;
 * it holds no device and reads nothing but umdevd's calls. On `INIT` (the device's first need) it confines itself
 * for good (`native.confine`: the device's own uid and gid, no_new_privs, not dumpable, killed with umdevd,
 * seccomp), and only then builds the device's model and answers calls: client sessions (each client's socket arrives as an fd),
 * attributes, online, reset, release requests, screens and migration. It never opens a path, a socket or a process
 * after that; it exits when umdevd closes the channel (the device is removed) or dies.
 */
import '../process-guard.js';
import process from 'node:process';
import { readdirSync, readlinkSync } from 'node:fs';
import { constants } from 'node:os';
import { type UmdevError, err, errnoNumber, toUmdevError } from '../../errors.js';
import { native } from '../../native/index.js';
import { buildInstance } from '../../sdk/pci-parent.js';
import { activityOf } from '../../vfio/device-activity.js';
import { uartTapOf } from '../../vfio/uart-tap.js';
import { modelFrame } from '../live/model-frame.js';
import { VFIO_DEVICE_STATE as S } from '../../vfio/constants.js';
import type { MigrationPort } from '../../vfio/migration-port.js';
import type { ActiveSession } from '../../vfio-user/instance.js';
import type { LocalInstance } from '../../vfio-user/local-instance.js';
import type { Logger } from '../../vfio-user/log.js';
import type { DriverCatalog } from '../config.js';
import { Channel, type Frame } from './channel.js';
import { warmUp } from './warm-up.js';
import { Call, type HostInit, HostEvent, type LogLevel, checkPlatform } from './protocol.js';

const CHANNEL_FD = 3;
/** The root sends migration data in pieces of at most 1 MiB, and nothing bigger. */
const MAX_FRAME = 2 << 20;
const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const COUNTERS_MS = 1000;

/** Fds this process did not open and must not keep: any socket or path but stdio and `keep` (the channel). */
function closeStrayFds(keep: number): string[] {
  const closed: string[] = [];
  for (const name of readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (fd <= 2 || fd === keep) continue;
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // The directory's own fd, gone by now.
    }
    // Node's own fds are anonymous (epoll, eventfd) or pipes; a socket or a path came from outside (the launcher's
    // /dev/null for an ignored stdio slot is harmless, and closed without a word).
    if (target.startsWith('socket:') || target.startsWith('/')) {
      native.close(fd);
      if (target !== '/dev/null') closed.push(`${fd} (${target})`);
    }
  }
  return closed;
}

const stray = closeStrayFds(CHANNEL_FD);
let channel = new Channel(CHANNEL_FD, native, { maxFrame: MAX_FRAME });
/** A zygote forks hosts and never holds a device; a host it forked leaves with `native.exitNow` (see fork.cc). */
let zygote = false;
let forked = false;
/** The zygote's channel in a host it forked: closed there, and nothing of it is this host's. */
const retired = new WeakSet<Channel>();
let level = 3;
/** The device's log lines go to umdevd, which prints them with the device's name. */
const log: Logger = (l, message) => {
  if (LEVELS.indexOf(l) >= level && !channel.closed) channel.send(HostEvent.LOG, 0, { json: { level: l, message } });
};

let instance: LocalInstance | undefined;
let init: HostInit | undefined;
/** Loaded by BOOT, before any device or client: a confined host can open no file. */
let booted: { readonly catalog: string; readonly drivers: DriverCatalog } | undefined;
let session: ActiveSession | undefined;
let port: MigrationPort | undefined;
/** Migration calls run one at a time, in order. */
let migrations: Promise<unknown> = Promise.resolve();

function reply(f: Frame, json: unknown = {}, data?: Uint8Array): void {
  if (!channel.closed) channel.send(f.kind, f.seq, { reply: true, json, ...(data === undefined ? {} : { data }) });
}

function fail(f: Frame, e: unknown): void {
  const u = toUmdevError(e);
  if (!channel.closed) channel.send(f.kind, f.seq, { reply: true, errno: errnoNumber(u.errno), json: { message: u.message } });
}

function field<T>(f: Frame, name: string, check: (v: unknown) => v is T): T {
  const v = (f.json as Record<string, unknown>)[name];
  if (!check(v)) throw err('EINVAL', `call ${f.kind}: bad ${name}`);
  return v;
}
const isString = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isGroup = (v: unknown): v is string | undefined => v === undefined || typeof v === 'string';

function migration(): MigrationPort {
  if (port === undefined) throw err('EINVAL', 'no migration is open');
  return port;
}

async function boot(f: Frame): Promise<void> {
  const catalog = field(f, 'catalog', isString);
  // A forked host was booted by its zygote: it has the catalog already.
  if (booted !== undefined && booted.catalog === catalog) return;
  if (booted !== undefined) throw err('EINVAL', `BOOT with ${catalog} in a host booted with ${booted.catalog}`);
  const { DRIVERS } = (await import(catalog)) as { DRIVERS: DriverCatalog };
  await warmUp(native);
  booted = { catalog, drivers: DRIVERS };
}

async function setUp(f: Frame): Promise<void> {
  const i = f.json as HostInit;
  if (zygote) throw err('EINVAL', 'a zygote holds no device');
  if (booted === undefined || booted.catalog !== i.catalog) throw err('EINVAL', `INIT for catalog ${String(i.catalog)} in a host booted with ${booted?.catalog ?? 'none'}`);
  const entry = booted.drivers[i.driver];
  if (entry === undefined) throw err('EINVAL', `no driver named ${i.driver}`);
  const declaration = entry.create(i.options).declaration;
  level = Math.max(0, LEVELS.indexOf(i.logLevel));
  // From here on the process is the tenant's: nothing the device's code does can reach beyond it.
  native.confine(i.uid, i.gid, process.ppid);
  instance = buildInstance(declaration, { type: i.type, uuid: i.uuid, name: i.name });
  init = i;
  reportCounters(instance);
  for (const s of stray) log('warn', `device host closed fd ${s} it should not have had`);
}

async function call(f: Frame, inst: LocalInstance, i: HostInit): Promise<void> {
  const o = f.json as Record<string, unknown>;
  switch (f.kind) {
    case Call.PING:
      return reply(f);
    case Call.SERVE: {
      const fd = f.fds.shift();
      if (fd === undefined) throw err('EBADF', 'SERVE without a client socket');
      if (session !== undefined && !session.closed) {
        native.close(fd);
        throw err('EBUSY', 'the device already has a client');
      }
      const s = inst.serve(fd, { who: field(f, 'who', isString), io: native, log, maxDmaMaps: i.maxDmaMaps, busyPollNs: i.busyPollNs });
      session = s;
      void s.done.then(() => {
        if (session === s) session = undefined;
        if (!channel.closed) channel.send(HostEvent.SESSION_END, 0);
      });
      return reply(f);
    }
    case Call.PROBE: {
      const attached = session === undefined ? false : await session.probe();
      return reply(f, { attached, migration: attached && session !== undefined && (await session.negotiatedMigration()) });
    }
    case Call.END_SESSION:
      session?.close(err('ENODEV', field(f, 'reason', isString)));
      return reply(f);
    case Call.ATTR_SHOW:
      return reply(f, { value: await inst.showAttribute(field(f, 'group', isGroup), field(f, 'name', isString)) });
    case Call.ATTR_STORE:
      await inst.storeAttribute(field(f, 'group', isGroup), field(f, 'name', isString), field(f, 'value', isString));
      return reply(f);
    case Call.START:
      await inst.start();
      return reply(f);
    case Call.STOP:
      await inst.stop();
      return reply(f);
    case Call.RESET:
      await inst.reset();
      return reply(f);
    case Call.REQUEST_RELEASE:
      log('info', `removal waits for the client to release the device (request ${field(f, 'count', isNumber)})`);
      inst.requestRelease(field(f, 'count', isNumber));
      return reply(f);
    case Call.SCREEN:
      return reply(f, {}, await inst.screen());
    case Call.FRAME: {
      const tag = (f.json as { ifNoneMatch?: unknown }).ifNoneMatch;
      const frame = await modelFrame(inst.model, typeof tag === 'string' ? { ifNoneMatch: tag } : {});
      return 'unchanged' in frame ? reply(f, { etag: frame.etag, unchanged: true }) : reply(f, { etag: frame.etag }, frame.png);
    }
    case Call.UART: {
      const tap = uartTapOf(inst.model);
      if (tap === undefined) throw err('EOPNOTSUPP', 'the device has no UART output to show');
      const out = tap.read(field(f, 'since', isNumber));
      return reply(f, { start: out.start, end: out.end, lost: out.lost }, out.data);
    }
    default:
      return migrationCall(f, inst, o);
  }
}

/** Migration calls, on the queue: each waits for the one before. */
function migrationCall(f: Frame, inst: LocalInstance, o: Record<string, unknown>): Promise<void> {
  const run = async (): Promise<void> => {
    switch (f.kind) {
      case Call.MIG_OPEN:
        if (port !== undefined) throw err('EBUSY', 'a migration is already open');
        port = await inst.openMigration(field(f, 'owner', isString));
        return reply(f, { flags: port.flags });
      case Call.MIG_STATE:
        await migration().setState(field(f, 'target', isNumber));
        return reply(f);
      case Call.MIG_READ:
        return reply(f, {}, await migration().read(Math.min(field(f, 'max', isNumber), 1 << 20)));
      case Call.MIG_WRITE:
        // The incoming stream is parsed here, by the vendor's code, in this confined process only.
        await migration().write(f.data);
        return reply(f);
      case Call.MIG_PLATFORM:
        return reply(f, { platform: await migration().platform() });
      case Call.MIG_STOP_COPY: {
        // The stream follows in MIG_READs: frames stay small whatever the device holds.
        await migration().setState(S.STOP_COPY);
        return reply(f, { platform: await migration().platform() });
      }
      case Call.MIG_LOAD_PLATFORM:
        await migration().loadPlatform(checkPlatform(o.platform, 'platform'));
        return reply(f);
      case Call.MIG_RESET:
        await migration().reset();
        return reply(f);
      case Call.MIG_RELEASE:
        port?.release();
        port = undefined;
        return reply(f);
      default:
        throw err('ENOSYS', `unknown call ${f.kind}`);
    }
  };
  const next = migrations.then(run, run);
  migrations = next.catch(() => undefined);
  return next;
}

const SIGNALS = new Map(Object.entries(constants.signals).map(([name, n]) => [n as number, name]));

/**
 * FORK (a zygote, never a host holding a device): fork a warm host whose channel and stderr are the frame's two fds.
 * The zygote reaps its children and reports each end to umdevd; the child drops everything of the zygote's.
 */
function fork(f: Frame): void {
  if (init !== undefined || booted === undefined) throw err('EINVAL', 'only a booted host that holds no device forks');
  const fd = f.fds.shift();
  const errFd = f.fds.shift();
  if (fd === undefined || errFd === undefined) throw err('EBADF', 'FORK without a channel and a stderr');
  if (!zygote) {
    zygote = true;
    // umdevd's end is the zygote's end, and so its hosts' (each dies with its parent).
    native.dieWithParent(process.ppid);
  }
  // From the loop's check phase, never inside an I/O callback: the child makes the loop its own (uv_loop_fork) while
  // no poll round of the zygote's is under way, whose events would otherwise reach the child's new watchers.
  setImmediate(() => forkNow(f, fd, errFd));
}

/** A zygote's watch on each child it forked: a pidfd, readable once the child has ended. */
const children = new Map<ReturnType<typeof native.watch>, number>();

/**
 * Reap `pid` when it ends and tell umdevd how. A pidfd watch, not SIGCHLD: a libuv signal handler in a process that
 * forks leaves its children's loops spinning.
 */
function watchChild(pid: number): void {
  let pidfd: number;
  try {
    pidfd = native.pidfdOpen(pid);
  } catch {
    // Ended already: reaped with the next one (its end then goes unreported; umdevd has its own pidfd).
    return;
  }
  const w = native.watch(pidfd, { readable: true }, () => {
    w.stop();
    children.delete(w);
    native.close(pidfd);
    const ended = native.reapChildren();
    for (let i = 0; i + 2 < ended.length; i += 3) {
      const signal = ended[i + 2]! > 0 ? (SIGNALS.get(ended[i + 2]!) ?? null) : null;
      if (!channel.closed) channel.send(HostEvent.EXITED, 0, { json: { pid: ended[i], code: ended[i + 1]! < 0 ? null : ended[i + 1], signal } });
    }
  });
  w.unref();
  children.set(w, pidfd);
}

function forkNow(f: Frame, fd: number, errFd: number): void {
  // A fork the zygote had queued when it forked this host: the zygote's to do, and its fds are closed below.
  if (forked) return;
  let pid: number;
  try {
    pid = native.forkHost(errFd);
  } catch (e) {
    native.close(fd);
    native.close(errFd);
    return fail(f, e);
  }
  if (pid !== 0) {
    native.close(fd);
    native.close(errFd);
    watchChild(pid);
    return reply(f, { pid });
  }
  // The child: a warm host of its own, with its own channel, holding nothing of the zygote's.
  forked = true;
  zygote = false;
  for (const [w, pidfd] of children) {
    w.stop();
    native.close(pidfd);
  }
  children.clear();
  process.on('uncaughtException', (e) => exit(70, `device host failed: ${e.stack ?? String(e)}`));
  process.on('unhandledRejection', (e) => exit(70, `device host failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`));
  // The zygote's channel goes first (its watcher with it), so the new one can be fd 3, where every host has it.
  retired.add(channel);
  channel.close();
  native.dieWithParent(process.ppid);
  native.moveFd(fd, CHANNEL_FD);
  channel = new Channel(CHANNEL_FD, native, { maxFrame: MAX_FRAME });
  // Sockets of forks still queued in the zygote, among others.
  stray.push(...closeStrayFds(CHANNEL_FD));
  listen(channel);
}

function listen(ch: Channel): void {
  ch.onFrame((f) => {
    // Frames still queued on a zygote's channel when its child took over are the zygote's, not the child's.
    if (retired.has(ch)) return;
    const done = (p: Promise<void>): void => {
      p.catch((e: unknown) => fail(f, e)).finally(() => {
        for (const fd of f.fds) native.close(fd);
      });
    };
    if (f.reply) return;
    if (init === undefined || instance === undefined) {
      // A warm host answers pings (the watchdog's), BOOT and (a zygote) FORK; anything else waits for its device.
      if (f.kind === Call.PING) return reply(f);
      if (f.kind === Call.BOOT) return done(boot(f).then(() => reply(f)));
      if (f.kind === Call.FORK) {
        try {
          fork(f);
        } catch (e) {
          fail(f, e);
        }
        if (!retired.has(ch)) for (const fd of f.fds) native.close(fd);
        return undefined;
      }
      if (f.kind !== Call.INIT) return fail(f, err('EINVAL', 'the first call must be BOOT, then INIT'));
      return done(
        setUp(f).then(
          () => reply(f),
          (e: unknown) => {
            fail(f, e);
            exit(1, `device host could not start: ${toUmdevError(e).message}`);
          },
        ),
      );
    }
    done(call(f, instance, init));
  });
  ch.onMalformed((why) => {
    if (!retired.has(ch)) exit(2, `device host: bad frame from umdevd: ${why}`);
  });
  // umdevd closed the channel (the device is removed) or died: nobody owns this device any more.
  ch.onClose((reason?: UmdevError) => {
    // The zygote's channel, closed by a child it forked: not this host's end.
    if (retired.has(ch)) return;
    void (async () => {
      session?.close(err('ENODEV', 'the device is gone'));
      await session?.done;
      await instance?.dispose();
      leave(reason === undefined ? 0 : 1);
    })();
  });
}
listen(channel);

function leave(code: number): void {
  if (forked) native.exitNow(code);
  process.exit(code);
}

/** The device's counters go to umdevd when they changed, once a second at most (it answers from the last report). */
function reportCounters(inst: LocalInstance): void {
  let last = '';
  const timer = setInterval(() => {
    const snap = activityOf(inst.model)?.snapshot();
    if (snap === undefined || channel.closed) return;
    const text = JSON.stringify(snap);
    if (text === last) return;
    last = text;
    channel.send(HostEvent.COUNTERS, 0, { json: snap });
  }, COUNTERS_MS);
  timer.unref();
}

function exit(code: number, why: string): void {
  process.stderr.write(`${why}\n`);
  leave(code);
}
