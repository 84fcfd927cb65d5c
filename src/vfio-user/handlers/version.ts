/**
 * VERSION: the first message of every session. Major must be 0; the reply's minor is min(client's, 2) and its
 * capabilities are only what this server implements (libvfio-user `lib/tran.c` recv_version/send_version).
 * `write_multiple` only back to a client that offered it; `migration` (`pgsize`, `max_bitmap_size`) when the device
 * declares migration; `twin_socket` to a client that offered it when the session can make the socket pair: the
 * client's end travels with the reply (fd index 0), and the server's DMA_READ/DMA_WRITE go on it from then on.
 * A bad request is answered EINVAL and the connection is then closed (spec: the server closes the connection).
 */
import { err } from '../../errors.js';
import { decodeVersion, encodeVersion, parseCapabilities } from '../codec.js';
import {
  CLIENT_MAX_MSG_FDS_LIMIT,
  DEFAULT_PGSIZES,
  SERVER_MAX_DATA_XFER_SIZE,
  SERVER_MAX_MSG_FDS,
  VERSION_MAJOR,
  VERSION_MINOR,
} from '../constants.js';
import type { Handler } from '../connection.js';
import { MAX_BITMAP_BYTES } from './migration.js';

export const handleVersion: Handler = (conn, msg) => {
  if (conn.negotiated) throw err('EINVAL', 'VERSION was already negotiated');
  const v = decodeVersion(msg.body);
  if (v.major !== VERSION_MAJOR) throw err('EINVAL', `unsupported client major ${v.major} (must be ${VERSION_MAJOR})`);
  const caps = parseCapabilities(v.json, CLIENT_MAX_MSG_FDS_LIMIT);
  conn.clientCaps = caps;
  conn.negotiated = true;
  const mine: Record<string, unknown> = {
    max_msg_fds: SERVER_MAX_MSG_FDS,
    max_data_xfer_size: SERVER_MAX_DATA_XFER_SIZE,
    pgsizes: DEFAULT_PGSIZES,
    max_dma_maps: conn.dma.maxWindows,
  };
  if (caps.writeMultiple) mine.write_multiple = true;
  // Announced as libvfio-user and QEMU do (dirty pages at this size, bitmaps up to this many bytes per report).
  if (conn.device.migration) mine.migration = { pgsize: DEFAULT_PGSIZES, max_bitmap_size: MAX_BITMAP_BYTES };
  // The client's end of the twin socket needs a client that takes an fd with the reply.
  const twin = caps.twinSocket && caps.maxMsgFds > 0 ? conn.openTwin() : undefined;
  if (twin !== undefined) mine.twin_socket = { supported: true, fd_index: 0 };
  else conn.declineTwin();
  conn.log('debug', `negotiated ${VERSION_MAJOR}.${Math.min(v.minor, VERSION_MINOR)}: client max_msg_fds ${caps.maxMsgFds}, max_data_xfer_size ${caps.maxDataXferSize}${twin === undefined ? '' : ', twin socket'}`);
  return { payload: encodeVersion({ major: VERSION_MAJOR, minor: Math.min(v.minor, VERSION_MINOR), json: { capabilities: mine } }), ...(twin === undefined ? {} : { fds: [twin] }) };
};
