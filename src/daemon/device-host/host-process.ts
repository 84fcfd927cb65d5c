/**
 * Concepts: the root's side of one device host process: it spawns the host (an empty environment, no stdio but a
 * stderr pipe, the channel as fd 3, a uid of its own), makes calls and checks every reply (`protocol.ts`), prints the
 * host's log lines under the device's name, and watches it. The host is judged by its own answers only:
 *
 * - a frame that is malformed, oversized (bigger than the call it answers asked for), unsolicited or of the wrong
 *   shape, or any fd from the host, and the host is killed, with the reason logged;
 * - a call or a ping unanswered for `stuckMs` of the root's own awake time, and the host is killed as stuck. A root
 *   that was itself stalled (its watchdog tick came late) restarts the clock instead of blaming the host.
 *
 * Nothing a host sends can make the root exit, block, or hold more than one answer's worth of bytes per call.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { UmdevError, err, toUmdevError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { type LimitedLog, limitLog } from '../../log-limit.js';
import type { Native } from '../../native/index.js';
import { safeClose } from '../../vfio-user/transport.js';
import { type DeviceCounters, parseDeviceCounters } from '../../vfio/device-activity.js';
import { Channel, MAX_JSON } from './channel.js';
import { type OsProcess, forkedProcess, spawnedProcess } from './os-process.js';
import { Call, type CallKind, HostEvent, type HostInit, type Reply, checkError, checkExited, checkLog, checkReply, printable } from './protocol.js';

/** V8 flags of every host: a small young generation (as umdevd's own) and one V8 helper thread keep a host's private memory small. */
const HOST_NODE_ARGS = ['--max-semi-space-size=1', '--v8-pool-size=1', '--disallow-code-generation-from-strings'];
/** A zygote's hosts are forked from it: V8 must never hand work to a helper thread, which a forked child lacks. */
const ZYGOTE_NODE_ARGS = ['--single-threaded'];

const HOST_MAIN = fileURLToPath(new URL('./host-main.js', import.meta.url));
/** Frame overhead beyond its data: header, JSON length, JSON. */
const FRAME_OVERHEAD = 16 + 4 + MAX_JSON;
/** Most calls waiting on one host at once (a client cannot make the root queue more). */
const MAX_PENDING = 256;
/** How long a host may take to exit once its channel is closed, before it is killed. */
const EXIT_GRACE_MS = 2000;
/** How long a host may take to start (load Node and the drivers, on a busy machine) before it is given up. */
const STARTUP_MS = 30_000;
/**
 * COUNTERS events a host may send between two watchdog ticks: it sends one a second, so a tick of several seconds
 * (a long `stuckMs`) allows twice its seconds; never fewer than this.
 */
const MAX_REPORTS_PER_TICK = 20;
/** Longest stderr line kept from a host; and lines per interval (the rest are counted). */
const MAX_STDERR_LINE = 512;

/** Where a host's lines go: the device's once it holds one, the daemon's `device-host` log before. */
export interface HostLogs {
  /** The device's `vfio-user[<uuid>]` log, where the host's own lines go. */
  readonly deviceLog: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
  /** The daemon's `device-host[<uuid>]` log, for what the root says about the host. */
  readonly log: Logger;
}

/** How a host is started, before it is given a device. */
export interface HostBootOptions extends HostLogs {
  /** Module URL exporting the `DRIVERS` catalog the host loads while it boots. */
  readonly catalog: string;
  readonly memoryMiB: number;
  readonly stuckMs: number;
  /** The host's nice value, set as soon as it is spawned (undefined: umdevd's own). */
  readonly nice?: number;
  readonly io: Native;
  /** Boot a zygote (`zygote.ts`): a host that forks hosts and never holds a device. */
  readonly zygote?: boolean;
}

/** A host started for one device at once (`start`): booted with the catalog its INIT names. */
export interface HostProcessOptions extends Omit<HostBootOptions, 'catalog'> {
  readonly init: HostInit;
}

interface Pending {
  readonly kind: CallKind;
  readonly maxData: number;
  /** When it was sent (root awake time, `performance.now()`). */
  sentAt: number;
  readonly resolve: (r: Reply) => void;
  readonly reject: (e: UmdevError) => void;
}

/** One running device host. Made by `HostProcess.start`; ends with `shutdown` or `kill`, or on its own. */
export class HostProcess {
  readonly pid: number;
  /** The uid it runs as (umdevd's until it is handed a device, then the device's). */
  uid: number;
  /** The device's counters as the host last reported them (checked), if it has. */
  counters: DeviceCounters | undefined;
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<void>;
  readonly #proc: OsProcess;
  readonly #channel: Channel;
  readonly #o: HostBootOptions;
  /** The loggers: the daemon's until the host is handed a device (`hold`), the device's after. */
  #logs: HostLogs;
  /** Set by `hold`: the host holds a device. */
  #held = false;
  readonly #pending = new Map<number, Pending>();
  #seq = 0;
  #killed: string | undefined;
  /** Set by `shutdown`: the channel closes on purpose, and the host is expected to exit. */
  #stopping = false;
  #onSessionEnd: (() => void) | undefined;
  /** Set on a zygote: told of each of its children that ended (pid and how). */
  #onChildEnded: ((pid: number, code: number | null, signal: string | null) => void) | undefined;
  /** True while a session runs: only then may the host say one ended. */
  #sessionOpen = false;
  readonly #watchdog: NodeJS.Timeout;
  #nextTick: number;
  readonly #limited: LimitedLog;
  readonly #deviceLines: LimitedLog;
  /** COUNTERS events since the last watchdog tick, and how many a tick allows. */
  #reports = 0;
  readonly #maxReports: number;

  private constructor(proc: OsProcess, channel: Channel, o: HostBootOptions) {
    this.#proc = proc;
    this.pid = proc.pid;
    this.uid = process.getuid?.() ?? 0;
    this.#channel = channel;
    this.#o = o;
    this.#logs = o;
    this.#limited = limitLog((level, m) => this.#logs.log[level](m), { burst: 50, intervalMs: 1000 });
    // A host may log, not flood: past a rate its lines are counted instead.
    this.#deviceLines = limitLog((level, m) => this.#logs.deviceLog(level, m), { burst: 200, intervalMs: 1000 });
    this.exited = new Promise((resolve) => {
      void proc.ended.then(({ code, signal }) => {
        this.#gone(err('ECONNRESET', 'the device host ended'));
        const why = this.#killed ?? (signal !== null ? `ended with signal ${signal}` : code === 0 ? undefined : code === null ? 'ended' : `ended with exit status ${code}`);
        const log = this.#logs.log;
        if (why !== undefined && !(this.#stopping && this.#killed === undefined)) log.error(`device host pid ${this.pid} ${why}`);
        else log.debug(`device host pid ${this.pid} exited${why === undefined ? '' : ` (${why})`}`);
        resolve();
      });
    });
    channel.onFrame((f) => {
      if (f.fds.length > 0) {
        for (const fd of f.fds) safeClose(o.io, fd);
        return this.kill('sent file descriptors');
      }
      if (!f.reply) return this.#event(f.kind, f.json);
      const p = this.#pending.get(f.seq);
      if (p === undefined || p.kind !== f.kind) return this.kill(`sent an answer to call ${f.kind} #${f.seq}, which it was not asked`);
      this.#pending.delete(f.seq);
      if (f.errno !== undefined) {
        let e: { errno: UmdevError['errno']; message: string };
        try {
          e = checkError(f.errno, f.json);
        } catch (x) {
          p.reject(toUmdevError(x));
          return this.kill(`sent a bad error reply: ${toUmdevError(x).message}`);
        }
        return p.reject(new UmdevError(e.errno, e.message));
      }
      try {
        const r = checkReply({ kind: p.kind, maxData: p.maxData }, f.json, f.data);
        // Before any later frame is read: the host may say the session ended in the very next one.
        if (p.kind === Call.SERVE) this.#sessionOpen = true;
        p.resolve(r);
      } catch (x) {
        p.reject(toUmdevError(x));
        this.kill(`sent a bad reply: ${toUmdevError(x).message}`);
      }
      return undefined;
    });
    channel.onMalformed((why) => this.kill(`sent a malformed message (${why})`));
    channel.onClose(() => {
      this.#gone(err('ECONNRESET', 'the device host channel closed'));
      // A host whose channel is gone serves nobody: make sure it is gone too (unless it was told to go, and goes).
      if (!this.#stopping) proc.kill();
    });
    const interval = Math.max(10, o.stuckMs / 4);
    this.#maxReports = Math.max(MAX_REPORTS_PER_TICK, 2 * Math.ceil(interval / 1000));
    this.#nextTick = performance.now() + interval;
    this.#watchdog = setInterval(() => this.#tick(interval), interval);
    this.#watchdog.unref();
  }

  /** Spawn a host for `o.init` and wait for it to hold the device (`boot`, then `hold`). */
  static async start(o: HostProcessOptions): Promise<HostProcess> {
    const host = await HostProcess.boot({ ...o, catalog: o.init.catalog });
    await host.hold(o.init, o);
    return host;
  }

  /**
   * Spawn a host and wait until it has loaded Node, umdev and the driver catalog (its BOOT answered). It then holds
   * no device, runs as umdevd's user, unconfined, and reads nothing but umdevd's calls: a warm host, waiting for
   * `hold`. Its nice value is set before it has run much of anything, so a boot never competes with umdevd as an
   * equal.
   */
  static async boot(o: HostBootOptions): Promise<HostProcess> {
    const [mine, theirs] = o.io.socketpair();
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [`--max-old-space-size=${o.memoryMiB}`, ...HOST_NODE_ARGS, ...(o.zygote === true ? ZYGOTE_NODE_ARGS : []), HOST_MAIN], {
        // Nothing of the daemon's: no stdin or stdout, its own stderr pipe, and no environment (no NODE_OPTIONS).
        stdio: ['ignore', 'ignore', 'pipe', theirs],
        env: {},
      });
    } catch (e) {
      safeClose(o.io, mine);
      throw toUmdevError(e);
    } finally {
      safeClose(o.io, theirs);
    }
    child.on('error', (e) => o.log.error(`device host failed: ${e.message}`));
    return HostProcess.#open(spawnedProcess(child), mine, o);
  }

  /**
   * A host forked by `zygote` (a booted host that forks on request): it shares the zygote's memory copy-on-write and
   * is as booted as the zygote. Its channel and stderr are socket pairs made here; the zygote is told its ends.
   */
  static async fork(zygote: HostProcess, o: HostBootOptions): Promise<HostProcess> {
    const [mine, theirs] = o.io.socketpair();
    let errMine: number;
    let errTheirs: number;
    try {
      [errMine, errTheirs] = o.io.socketpair();
    } catch (e) {
      safeClose(o.io, mine);
      safeClose(o.io, theirs);
      throw toUmdevError(e);
    }
    let pid: number;
    try {
      pid = (await zygote.call(Call.FORK, {}, { fds: [theirs, errTheirs] })).json.pid as number;
    } catch (e) {
      safeClose(o.io, mine);
      safeClose(o.io, errMine);
      throw e;
    } finally {
      safeClose(o.io, theirs);
      safeClose(o.io, errTheirs);
    }
    let pidfd: number;
    try {
      pidfd = o.io.pidfdOpen(pid);
    } catch (e) {
      // Ended already (the zygote reports it): nothing to talk to.
      safeClose(o.io, mine);
      safeClose(o.io, errMine);
      throw toUmdevError(e);
    }
    const status = zygote.#childEnding(pid);
    return HostProcess.#open(forkedProcess(pid, pidfd, errMine, o.io, status), mine, o);
  }

  /** Each ended child of this zygote, as its report came: resolved by `#event`. */
  readonly #endings = new Map<number, (e: { code: number | null; signal: string | null }) => void>();

  #childEnding(pid: number): Promise<{ code: number | null; signal: string | null }> {
    return new Promise((resolve) => this.#endings.set(pid, resolve));
  }

  /** Make this host a zygote: it may report its children's ends (EXITED), and nothing else more. */
  asZygote(): void {
    this.#onChildEnded = (pid, code, signal) => {
      const r = this.#endings.get(pid);
      this.#endings.delete(pid);
      r?.({ code, signal });
    };
  }

  /** Watch a started process, and boot it: BOOT answered means Node, umdev and the catalog are loaded. */
  static async #open(proc: OsProcess, mine: number, o: HostBootOptions): Promise<HostProcess> {
    if (o.nice !== undefined && proc.pid > 0) {
      try {
        setPriority(proc.pid, o.nice);
      } catch (e) {
        // Gone already (its exit is reported), or a priority this user may not set: it runs at umdevd's.
        o.log.debug(`device host pid ${proc.pid}: nice ${o.nice} not set: ${(e as Error).message}`);
      }
    }
    const channel = new Channel(mine, o.io, {
      maxFrame: 64 * 1024 * 1024 + FRAME_OVERHEAD,
      // Sized before any room is made: a host can make the root hold what it asked for, and no more.
      admit: (kind, seq, reply) => host.#admit(kind, seq, reply),
      ref: false,
    });
    const host: HostProcess = new HostProcess(proc, channel, o);
    host.#readStderr();
    try {
      await host.call(Call.BOOT, { catalog: o.catalog });
    } catch (e) {
      host.kill(`did not boot: ${toUmdevError(e).message}`);
      await host.exited;
      throw e;
    }
    return host;
  }

  /**
   * Hand the host its device (INIT): it takes the device's ids, confines itself for good and builds the device's
   * model. From here on its lines are the device's. Once only; a host that fails it is killed.
   */
  async hold(init: HostInit, logs: HostLogs): Promise<void> {
    if (this.#held) throw err('EBUSY', `device host pid ${this.pid} already holds a device`);
    this.#held = true;
    this.#logs = logs;
    if (init.uid >= 0) this.uid = init.uid;
    try {
      await this.call(Call.INIT, init);
    } catch (e) {
      this.kill(`did not start: ${toUmdevError(e).message}`);
      await this.exited;
      throw e;
    }
  }

  /** True once `hold` was called: the host is a device's, never a warm one again. */
  get held(): boolean {
    return this.#held;
  }

  #admit(kind: number, seq: number, reply: boolean): number {
    if (!reply) return kind === HostEvent.LOG || kind === HostEvent.COUNTERS ? 16 + 4 + 8192 : 16 + 4 + 64;
    const p = this.#pending.get(seq);
    return p === undefined || p.kind !== kind ? 16 + 4 + 64 : p.maxData + FRAME_OVERHEAD;
  }

  #event(kind: number, json: unknown): void {
    if (kind === HostEvent.LOG) {
      let line: ReturnType<typeof checkLog>;
      try {
        line = checkLog(json);
      } catch (e) {
        return this.kill(`sent a bad log line: ${toUmdevError(e).message}`);
      }
      return this.#deviceLines('log', line.level, line.message);
    }
    if (kind === HostEvent.EXITED && this.#onChildEnded !== undefined) {
      let e: ReturnType<typeof checkExited>;
      try {
        e = checkExited(json);
      } catch (x) {
        return this.kill(`sent a bad exit report: ${toUmdevError(x).message}`);
      }
      return this.#onChildEnded(e.pid, e.code, e.signal);
    }
    if (kind === HostEvent.COUNTERS) {
      // Reports are cheap to check, but a host may not flood the root with them.
      if (++this.#reports > this.#maxReports) return this.kill('sent counters faster than the root reads them');
      try {
        this.counters = parseDeviceCounters(json);
      } catch (e) {
        return this.kill(`sent bad counters: ${toUmdevError(e).message}`);
      }
      return undefined;
    }
    if (kind === HostEvent.SESSION_END) {
      if (!this.#sessionOpen) return this.kill('said a session ended while none ran');
      this.#sessionOpen = false;
      return this.#onSessionEnd?.();
    }
    return this.kill(`sent an unknown message kind ${kind}`);
  }

  /** Told when the host says the client's session is over (the device is closed again). */
  onSessionEnd(listener: () => void): void {
    this.#onSessionEnd = listener;
  }

  get alive(): boolean {
    return this.#killed === undefined && !this.#channel.closed;
  }

  /**
   * Call the host; the reply is checked against what `kind` expects, with at most `maxData` bytes of data. Fds are
   * the caller's and must stay open until this settles (they leave with the frame, maybe later).
   */
  call(kind: CallKind, json: unknown = {}, o: { data?: Uint8Array; fds?: readonly number[]; maxData?: number } = {}): Promise<Reply> {
    if (!this.alive) return Promise.reject(err('ECONNRESET', 'the device host is gone'));
    if (this.#pending.size >= MAX_PENDING) return Promise.reject(err('EBUSY', 'the device host has too many calls waiting'));
    let seq = this.#seq;
    do seq = (seq + 1) & 0xffff;
    while (this.#pending.has(seq));
    this.#seq = seq;
    return new Promise((resolve, reject) => {
      this.#pending.set(seq, { kind, maxData: o.maxData ?? 0, sentAt: performance.now(), resolve, reject });
      try {
        this.#channel.send(kind, seq, { json, ...(o.data === undefined ? {} : { data: o.data }), ...(o.fds === undefined ? {} : { fds: o.fds }) });
      } catch (e) {
        this.#pending.delete(seq);
        reject(toUmdevError(e));
      }
    });
  }

  /** The watchdog: ping, and judge calls and pings by how long they have waited while the root was awake. */
  #tick(interval: number): void {
    const now = performance.now();
    const late = now - this.#nextTick;
    this.#reports = 0;
    this.#nextTick = now + interval;
    // Answers that came while the root was busy are taken in before anything is judged.
    this.#channel.poll();
    if (!this.alive) return;
    if (late > interval) {
      // The root itself was stalled: what waited, waited on us. Start their clocks again.
      for (const p of this.#pending.values()) p.sentAt = now;
      return;
    }
    for (const p of this.#pending.values()) {
      // Starting (Node, the catalog: BOOT; taking the device: INIT) is not a stuck loop: it has a budget of its own,
      // and nothing is pinged before.
      if (p.kind === Call.BOOT || p.kind === Call.INIT) {
        if (now - p.sentAt > STARTUP_MS) return this.kill(`did not start within ${STARTUP_MS} ms and was killed`);
        return undefined;
      }
      if (now - p.sentAt > this.#o.stuckMs) return this.kill(`stopped answering for ${this.#o.stuckMs} ms and was killed`);
    }
    let pinging = false;
    for (const p of this.#pending.values()) if (p.kind === Call.PING) pinging = true;
    if (!pinging) this.call(Call.PING).catch(() => undefined);
  }

  #readStderr(): void {
    const stderr = this.#proc.stderr;
    if (stderr === null) return;
    let partial = '';
    stderr.setEncoding('utf8');
    stderr.on('data', (chunk: string) => {
      partial += chunk;
      const lines = partial.split('\n');
      partial = (lines.pop() ?? '').slice(0, MAX_STDERR_LINE);
      for (const line of lines) if (line !== '') this.#limited('stderr', 'warn', `device host pid ${this.pid}: ${printable(line.slice(0, MAX_STDERR_LINE))}`);
    });
  }

  /** Kill the host now; `why` is logged once (`device host pid N <why>`). */
  kill(why: string): void {
    if (this.#killed === undefined) this.#killed = why;
    this.#gone(err('ECONNRESET', `the device host ${why}`));
    this.#channel.close();
    this.#proc.kill();
  }

  /** Close the channel (the host lets its device go and exits); killed if it takes longer than a grace period. */
  async shutdown(): Promise<void> {
    this.#stopping = true;
    this.#channel.close();
    const timer = setTimeout(() => this.#proc.kill(), EXIT_GRACE_MS);
    timer.unref();
    await this.exited;
    clearTimeout(timer);
  }

  /** Fail every waiting call; the session, if any, is over. */
  #gone(reason: UmdevError): void {
    clearInterval(this.#watchdog);
    for (const p of this.#pending.values()) p.reject(reason);
    this.#pending.clear();
    if (this.#sessionOpen) {
      this.#sessionOpen = false;
      this.#onSessionEnd?.();
    }
  }
}
