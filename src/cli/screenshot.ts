/**
 * Concepts: `umdevctl screenshot UUID FILE`: a device's screen as a PNG file, from umdevd's
 * `GET /devices/<uuid>/screen.png`. The daemon decides everything (which instance holds the video memory, whether
 * the display shows anything); its errno comes back as any other failure's (EBUSY when the display is off). The
 * file is written only once the whole image has arrived.
 */
import { writeFile } from 'node:fs/promises';
import { apiCall, describeEndpoint, type RawReply } from '../api-client/http.js';
import { replyError } from '../api-client/daemon-api.js';
import { eventsEndpoint } from './events.js';
import { context, fail } from '../mdevctl/failure.js';
import type { CliContext } from '../mdevctl/io.js';

export interface ScreenshotOptions {
  readonly uuid: string;
  readonly file: string;
  readonly api?: string;
  readonly stateDir?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export async function screenshotCommand(ctx: CliContext, opts: ScreenshotOptions): Promise<void> {
  const ep = await eventsEndpoint({ api: opts.api, stateDir: opts.stateDir, env: opts.env });
  const path = `/devices/${opts.uuid}/screen.png`;
  let res: RawReply;
  try {
    res = await apiCall(ep, 'GET', path, { headers: { accept: 'image/png' } });
  } catch (e) {
    throw context(e, `Unable to connect to ${describeEndpoint(ep)}`);
  }
  if (res.status !== 200) throw replyError(res, ep, 'GET', path);
  const png = res.body;
  if (png.length < 24 || !png.subarray(0, 8).equals(PNG_SIGNATURE)) throw fail('EIO', `GET ${path} at ${describeEndpoint(ep)} did not answer with a PNG`);
  try {
    await writeFile(opts.file, png);
  } catch (e) {
    throw context(e, `Unable to write ${opts.file}`);
  }
  // IHDR is the first chunk: width and height at bytes 16 and 20.
  if (ctx.json) ctx.stdout.write(`${JSON.stringify({ uuid: opts.uuid, file: opts.file, width: png.readUInt32BE(16), height: png.readUInt32BE(20), bytes: png.length })}\n`);
}
