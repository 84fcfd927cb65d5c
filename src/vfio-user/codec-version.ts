/**
 * Pure encode/decode of VERSION and its capabilities JSON (spec "Version"): `u16 major, u16 minor`, then an optional
 * NUL-terminated UTF-8 JSON object. Re-exported by `codec.ts`.
 */
import { err } from '../errors.js';
import { Size } from './constants.js';

function need(body: Buffer, min: number): void {
  if (body.length < min) throw err('EINVAL', `VERSION: payload is ${body.length} bytes, needs ${min}`);
}

export interface Version {
  readonly major: number;
  readonly minor: number;
  /** The parsed JSON object, or undefined when the message carried none. */
  readonly json: Record<string, unknown> | undefined;
}

export function decodeVersion(body: Buffer): Version {
  need(body, Size.VERSION);
  const major = body.readUInt16LE(0);
  const minor = body.readUInt16LE(2);
  if (body.length === Size.VERSION) return { major, minor, json: undefined };
  if (body[body.length - 1] !== 0) throw err('EINVAL', 'VERSION: JSON is not NUL-terminated');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8', Size.VERSION, body.length - 1));
  } catch (e) {
    throw err('EINVAL', 'VERSION: JSON does not parse', e);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw err('EINVAL', 'VERSION: JSON is not an object');
  }
  return { major, minor, json: parsed as Record<string, unknown> };
}

export function encodeVersion(v: Version): Buffer {
  const json = v.json === undefined ? '' : JSON.stringify(v.json);
  const body = Buffer.alloc(Size.VERSION + (json ? Buffer.byteLength(json) + 1 : 0));
  body.writeUInt16LE(v.major, 0);
  body.writeUInt16LE(v.minor, 2);
  if (json) body.write(json, Size.VERSION, 'utf8');
  return body;
}

/** Negotiated capabilities of one side, with the spec's defaults filled in. */
export interface Capabilities {
  readonly maxMsgFds: number;
  readonly maxDataXferSize: number;
  readonly maxDmaMaps: number;
  readonly pgsizes: number;
  readonly writeMultiple: boolean;
  /** `twin_socket.supported`: the peer takes server→client commands on a socket of their own. */
  readonly twinSocket: boolean;
}

function capInt(caps: Record<string, unknown>, key: string, min: number, max: number, dflt: number): number {
  const v = caps[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw err('EINVAL', `VERSION: capability ${key} is ${JSON.stringify(v)}, wants an integer in [${min}, ${max}]`);
  }
  return v;
}

/**
 * Reads `{"capabilities": {...}}` with defaults; unknown keys are ignored, as the spec asks. A known key of the wrong
 * type is EINVAL (libvfio-user `tran_parse_version_json`).
 */
export function parseCapabilities(json: Record<string, unknown> | undefined, maxFdsLimit: number): Capabilities {
  const raw = json?.capabilities;
  if (raw !== undefined && (typeof raw !== 'object' || raw === null || Array.isArray(raw))) {
    throw err('EINVAL', 'VERSION: capabilities is not an object');
  }
  const caps = (raw ?? {}) as Record<string, unknown>;
  const wm = caps.write_multiple;
  if (wm !== undefined && typeof wm !== 'boolean') throw err('EINVAL', 'VERSION: write_multiple is not a boolean');
  const twin = caps.twin_socket;
  if (twin !== undefined && (typeof twin !== 'object' || twin === null || Array.isArray(twin))) throw err('EINVAL', 'VERSION: twin_socket is not an object');
  const twinSupported = (twin as Record<string, unknown> | undefined)?.supported;
  if (twinSupported !== undefined && typeof twinSupported !== 'boolean') throw err('EINVAL', 'VERSION: twin_socket.supported is not a boolean');
  return {
    maxMsgFds: capInt(caps, 'max_msg_fds', 0, maxFdsLimit, 1),
    maxDataXferSize: capInt(caps, 'max_data_xfer_size', 1, 0xffffffff, 1 << 20),
    maxDmaMaps: capInt(caps, 'max_dma_maps', 1, 0xffffffff, 65535),
    pgsizes: capInt(caps, 'pgsizes', 1, Number.MAX_SAFE_INTEGER, 4096),
    writeMultiple: wm === true,
    twinSocket: twinSupported === true,
  };
}
