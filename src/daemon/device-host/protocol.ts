/**
 * Concepts: what umdevd (root) and a device host say to each other over their channel (`channel.ts`). A host is
 * booted (BOOT: Node, umdev and the driver catalog loaded; a warm host, holding nothing, still umdevd's user) and
 * later handed one device (INIT: it takes the device's ids and confines itself before anything else). The root
 * calls; the host answers each call with a reply of the same kind and sequence number (or an error reply with an
 * errno), and on its own sends only the events below. Everything per-instance of the device goes this way:
 * sessions (a client's socket, passed as an fd), vendor attributes, online/offline, reset, release requests, the
 * screen and migration.
 *
 * The root trusts no byte of it. `checkReply` and `checkEvent` are the schema of everything a host may send: a reply
 * must answer a call still waiting, with the shape that call expects and no more bytes than it asked for; an event
 * must be one of the few the host may send unasked. Anything else is the host misbehaving, and costs it its life.
 */
import { type Errno, err, errnoName } from '../../errors.js';
import type { IrqConfig } from '../../vfio/irqs.js';
import type { PlatformState } from '../../vfio/pci-device.js';

/** Calls, root → host. */
export const Call = {
  INIT: 1,
  SERVE: 2,
  PROBE: 3,
  END_SESSION: 4,
  ATTR_SHOW: 5,
  ATTR_STORE: 6,
  START: 7,
  STOP: 8,
  RESET: 9,
  REQUEST_RELEASE: 10,
  SCREEN: 11,
  MIG_OPEN: 12,
  MIG_STATE: 13,
  MIG_READ: 14,
  MIG_WRITE: 15,
  MIG_PLATFORM: 16,
  MIG_STOP_COPY: 17,
  MIG_LOAD_PLATFORM: 18,
  MIG_RESET: 19,
  MIG_RELEASE: 20,
  PING: 21,
  /** The screen as a tagged frame (nothing encoded when the tag still matches). */
  FRAME: 22,
  /** What the device's UART sent after a position. */
  UART: 23,
  /** The first call: load the driver catalog and wait, holding nothing, for INIT (a warm host). */
  BOOT: 24,
  /** To a zygote only: fork a warm host whose channel and stderr are the two fds sent (before any INIT). */
  FORK: 25,
} as const;
export type CallKind = (typeof Call)[keyof typeof Call];

/** Events, host → root, unasked. */
export const HostEvent = {
  /** One log line of the device (level and text; the root adds the device's prefix). */
  LOG: 100,
  /** The client's session is over: the device is closed again. Only while a session runs. */
  SESSION_END: 101,
  /** The device's counters (`DeviceCounters`), when they changed, at most a few times a second. */
  COUNTERS: 102,
  /** From a zygote only: one of its children ended (pid, exit status or signal). */
  EXITED: 103,
} as const;

/** What `INIT` tells a new host: which device it holds, and how to serve it. */
export interface HostInit {
  readonly uuid: string;
  /** The device's sysfs name (`uuid`, or `uuid-instance` in the seed v6 layout). */
  readonly name: string;
  /** Module URL exporting the `DRIVERS` catalog the host builds the device from. */
  readonly catalog: string;
  readonly driver: string;
  readonly options: Readonly<Record<string, unknown>>;
  /** The type's sysfs name within the parent (`2` for `mtty-2`). */
  readonly type: string;
  /** Drop to these ids (-1: keep the current ones: a daemon that is not root). */
  readonly uid: number;
  readonly gid: number;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  readonly maxDmaMaps: number | undefined;
  /** Busy-poll window ceiling for the client's socket, ns (0: never). */
  readonly busyPollNs: number;
}

/** The longest attribute value a host may return: a sysfs page. */
export const MAX_ATTR = 4096;
/** The longest log line a host may send; longer is cut. */
export const MAX_LOG = 2048;
/** The longest error message a host may send with an errno; longer is cut. */
const MAX_MESSAGE = 1024;
/** Most bytes of platform config space accepted (PCIe extended config space is 4 KiB). */
const MAX_CONFIG_BASE64 = Math.ceil(4096 / 3) * 4;

/** A reply, checked: its JSON part and binary data. */
export interface Reply {
  readonly json: Readonly<Record<string, unknown>>;
  readonly data: Buffer;
}

function record(v: unknown, what: string): Readonly<Record<string, unknown>> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw err('EPROTO', `${what} is not an object`);
  return v as Record<string, unknown>;
}

/** Only `allowed` keys, so a host cannot make the root carry data it never asked for. */
function only(o: Readonly<Record<string, unknown>>, what: string, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw err('EPROTO', `${what} has an unexpected field ${JSON.stringify(k.slice(0, 40))}`);
}

function uint(v: unknown, what: string, max = 0xffffffff): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw err('EPROTO', `${what} is not an integer in 0..${max}`);
  return v;
}

/** Platform state as a host may report it: the shape `PciDevice.loadPlatformState` takes, bounded. */
export function checkPlatform(v: unknown, what: string): PlatformState {
  const p = record(v, what);
  only(p, what, ['config', 'irqs']);
  if (typeof p.config !== 'string' || p.config.length > MAX_CONFIG_BASE64 || !/^[A-Za-z0-9+/]*={0,2}$/.test(p.config)) throw err('EPROTO', `${what}.config is not base64 config space`);
  const i = record(p.irqs, `${what}.irqs`);
  only(i, `${what}.irqs`, ['active', 'enabled', 'intxMasked']);
  const irqs: IrqConfig = {
    active: i.active === null ? null : uint(i.active, `${what}.irqs.active`, 255),
    enabled: uint(i.enabled, `${what}.irqs.enabled`, 2048),
    intxMasked: typeof i.intxMasked === 'boolean' ? i.intxMasked : (() => { throw err('EPROTO', `${what}.irqs.intxMasked is not a boolean`); })(),
  };
  return { config: p.config, irqs };
}

/** What a call expects back (beyond an empty object), and how many data bytes it may carry. */
export interface Expect {
  readonly kind: CallKind;
  /** Most data bytes the reply may carry (0: none). */
  readonly maxData: number;
}

/**
 * Check a reply to a call of `expect.kind`; throws EPROTO naming what is wrong. Error replies are checked by
 * `checkError`.
 */
export function checkReply(expect: Expect, json: unknown, data: Buffer): Reply {
  const what = `the reply to call ${expect.kind}`;
  const o = record(json, what);
  if (data.length > expect.maxData) throw err('EPROTO', `${what} carries ${data.length} data bytes, at most ${expect.maxData} were asked for`);
  switch (expect.kind) {
    case Call.PROBE:
      only(o, what, ['attached', 'migration']);
      if (typeof o.attached !== 'boolean' || typeof o.migration !== 'boolean') throw err('EPROTO', `${what} is not {attached, migration} booleans`);
      break;
    case Call.ATTR_SHOW:
      only(o, what, ['value']);
      if (typeof o.value !== 'string' || Buffer.byteLength(o.value) > MAX_ATTR) throw err('EPROTO', `${what}.value is not a string of at most ${MAX_ATTR} bytes`);
      break;
    case Call.FORK:
      only(o, what, ['pid']);
      if (uint(o.pid, `${what}.pid`, 0x3fffffff) === 0) throw err('EPROTO', `${what}.pid is 0`);
      break;
    case Call.MIG_OPEN:
      only(o, what, ['flags']);
      uint(o.flags, `${what}.flags`);
      break;
    case Call.FRAME:
      only(o, what, ['etag', 'unchanged']);
      if (typeof o.etag !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(o.etag)) throw err('EPROTO', `${what}.etag is not a tag`);
      if (o.unchanged !== undefined && o.unchanged !== true) throw err('EPROTO', `${what}.unchanged is not true`);
      if ((o.unchanged === true) !== (data.length === 0)) throw err('EPROTO', `${what} must carry a PNG exactly when the frame changed`);
      break;
    case Call.UART:
      only(o, what, ['start', 'end', 'lost']);
      for (const k of ['start', 'end', 'lost'] as const) uint(o[k], `${what}.${k}`, Number.MAX_SAFE_INTEGER);
      if ((o.end as number) - (o.start as number) !== data.length) throw err('EPROTO', `${what} carries ${data.length} bytes for ${o.start}..${o.end}`);
      break;
    case Call.MIG_PLATFORM:
    case Call.MIG_STOP_COPY:
      only(o, what, ['platform']);
      checkPlatform(o.platform, `${what}.platform`);
      break;
    default:
      only(o, what, []);
  }
  return { json: o, data };
}

/** An error reply, checked: its errno (an unknown number is EIO) and a bounded message. */
export function checkError(errno: number, json: unknown): { errno: Errno; message: string } {
  const o = record(json, 'an error reply');
  only(o, 'an error reply', ['message']);
  const message = typeof o.message === 'string' ? o.message.slice(0, MAX_MESSAGE) : 'the device host failed';
  return { errno: errnoName(errno), message: printable(message) };
}

/** A zygote's EXITED event, checked: the child's pid, and its exit status or the signal's name. */
export function checkExited(json: unknown): { pid: number; code: number | null; signal: string | null } {
  const o = record(json, 'an exit report');
  only(o, 'an exit report', ['pid', 'code', 'signal']);
  const pid = uint(o.pid, 'an exit report.pid', 0x3fffffff);
  const code = o.code === null ? null : uint(o.code, 'an exit report.code', 255);
  if (o.signal !== null && (typeof o.signal !== 'string' || !/^SIG[A-Z0-9]{1,10}$/.test(o.signal))) throw err('EPROTO', 'an exit report with a bad signal name');
  return { pid, code, signal: o.signal };
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** A host's LOG event, checked and made printable (one line, no control characters). */
export function checkLog(json: unknown): { level: LogLevel; message: string } {
  const o = record(json, 'a log event');
  only(o, 'a log event', ['level', 'message']);
  if (typeof o.level !== 'string' || !LEVELS.includes(o.level as LogLevel)) throw err('EPROTO', 'a log event with an unknown level');
  if (typeof o.message !== 'string') throw err('EPROTO', 'a log event without a message');
  return { level: o.level as LogLevel, message: printable(o.message.slice(0, MAX_LOG)) };
}

/** Text a host wrote, safe for one log line: control characters (newlines, escapes) shown as `?`. */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?');
}
