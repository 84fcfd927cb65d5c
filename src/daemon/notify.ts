/**
 * Concepts: systemd's notify protocol (sd_notify(3)). Under `Type=notify` systemd passes `NOTIFY_SOCKET`, an
 * AF_UNIX datagram socket (a path, or `@name` for an abstract one), and waits for `READY=1` before it counts the
 * service as started; `STOPPING=1` says a shutdown has begun; with `WatchdogSec=` it passes `WATCHDOG_USEC` and
 * expects `WATCHDOG=1` at least that often (sd_watchdog_enabled(3) advises every half interval). Sending is
 * best-effort: a failure is logged and never stops the daemon, as with libsystemd.
 */
import { native } from '../native/index.js';
import { describeError, type Logger } from '../log.js';

/** Sends one datagram; the addon's `sendDatagram` in umdevd, a recorder in tests. */
export type DatagramSender = (path: string, data: Uint8Array) => number;

/** Talks to systemd for one daemon process; owned by `main`, which calls `close()` at exit. */
export class SystemdNotifier {
  readonly #socket: string;
  readonly #watchdogMs: number | undefined;
  readonly #send: DatagramSender;
  readonly #log: Logger;
  #timer: ReturnType<typeof setInterval> | undefined;
  #warned = false;

  private constructor(socket: string, watchdogMs: number | undefined, send: DatagramSender, log: Logger) {
    this.#socket = socket;
    this.#watchdogMs = watchdogMs;
    this.#send = send;
    this.#log = log;
  }

  /**
   * From the environment systemd sets, or undefined when not run under `Type=notify`. `WATCHDOG_PID`, when set,
   * must be this process (otherwise the watchdog is meant for another one).
   */
  static fromEnv(env: NodeJS.ProcessEnv, log: Logger, send: DatagramSender = (p, d) => native.sendDatagram(p, d)): SystemdNotifier | undefined {
    const socket = env.NOTIFY_SOCKET;
    if (socket === undefined || socket === '') return undefined;
    if (!socket.startsWith('/') && !socket.startsWith('@')) {
      log.warn(`NOTIFY_SOCKET=${socket} is neither a path nor an abstract name; not notifying systemd`);
      return undefined;
    }
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
    const watchdogMs = Number.isInteger(usec) && usec > 0 && forUs ? usec / 1000 : undefined;
    return new SystemdNotifier(socket, watchdogMs, send, log.child('systemd'));
  }

  /** The mount, the sockets and the API are up: `READY=1`, then the watchdog starts if systemd asked for one. */
  ready(status: string): void {
    this.#notify(`READY=1\nSTATUS=${status}\nMAINPID=${process.pid}`);
    if (this.#watchdogMs !== undefined && this.#timer === undefined) {
      this.#timer = setInterval(() => this.#notify('WATCHDOG=1'), Math.max(1, Math.floor(this.#watchdogMs / 2)));
      // The watchdog must never be what keeps a stopping daemon alive.
      this.#timer.unref();
    }
  }

  /** A shutdown has begun: `STOPPING=1`, and no more watchdog pings. */
  stopping(): void {
    this.close();
    this.#notify('STOPPING=1\nSTATUS=shutting down');
  }

  /** Stops the watchdog timer; idempotent. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #notify(message: string): void {
    try {
      this.#send(this.#socket, Buffer.from(message));
    } catch (e) {
      // Once is enough: a watchdog ping every few seconds must not fill the log with the same line.
      if (!this.#warned) this.#log.warn(`cannot notify ${this.#socket}: ${describeError(e)}`);
      this.#warned = true;
    }
  }
}
