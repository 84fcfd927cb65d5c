/**
 * Concepts: live screens for the pages, with one upstream poller per watched device however many pages watch it.
 * A page asks for a device's frame with the tag it shows (`If-None-Match`); a newer frame is answered at once, an
 * equal one is held until the frame changes or `holdMs` passes (then 304), so a still screen sends nothing. While
 * any page waits, the poller asks umdevd every `intervalMs` with the tag it has, which umdevd answers with a 304
 * after hashing (no encoding) when nothing changed: frames flow at up to 1000/intervalMs per second while the
 * screen changes, and none while it does not. A poller with no waiter for `holdMs` stops.
 */
import type { ServerResponse } from 'node:http';
import { apiCall, type ApiEndpoint } from '../cli/api-client.js';
import { upstreamError } from './upstream.js';

interface Waiter {
  readonly res: ServerResponse;
  readonly tag: string | undefined;
  readonly timer: NodeJS.Timeout;
}

interface Poller {
  tag: string | undefined;
  png: Buffer | undefined;
  readonly waiters: Set<Waiter>;
  timer: NodeJS.Timeout | undefined;
  idleSince: number;
}

export interface ScreensOptions {
  readonly api: ApiEndpoint;
  /** Default 150 ms: about 6.7 frames/s while a screen changes. */
  readonly intervalMs?: number;
  /** Default 2 s. */
  readonly holdMs?: number;
  /** Devices watched at once (default 64); more are answered 503. */
  readonly maxDevices?: number;
}

/** Owned by the dashboard server; `close()` answers every waiter and stops every poller. */
export class ScreenPollers {
  readonly #api: ApiEndpoint;
  readonly #intervalMs: number;
  readonly #holdMs: number;
  readonly #maxDevices: number;
  readonly #pollers = new Map<string, Poller>();
  /** Upstream frame requests made (for tests and benches). */
  upstreamRequests = 0;

  constructor(o: ScreensOptions) {
    this.#api = o.api;
    this.#intervalMs = o.intervalMs ?? 150;
    this.#holdMs = o.holdMs ?? 2000;
    this.#maxDevices = o.maxDevices ?? 64;
  }

  /** Answer one page's request for `uuid`'s frame (`tag`: the one it shows). */
  serve(uuid: string, tag: string | undefined, res: ServerResponse): void {
    let p = this.#pollers.get(uuid);
    if (p === undefined) {
      if (this.#pollers.size >= this.#maxDevices) {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('too many screens watched\n');
        return;
      }
      p = { tag: undefined, png: undefined, waiters: new Set(), timer: undefined, idleSince: Date.now() };
      this.#pollers.set(uuid, p);
    }
    if (p.png !== undefined && p.tag !== tag) {
      sendFrame(res, p.tag as string, p.png);
      return;
    }
    const poller = p;
    const w: Waiter = {
      res,
      tag,
      timer: setTimeout(() => {
        poller.waiters.delete(w);
        notModified(res, tag);
      }, this.#holdMs),
    };
    p.waiters.add(w);
    res.on('close', () => {
      clearTimeout(w.timer);
      poller.waiters.delete(w);
    });
    if (p.timer === undefined) this.#tick(uuid, p, 0);
  }

  #tick(uuid: string, p: Poller, delay: number): void {
    p.timer = setTimeout(() => {
      void this.#poll(uuid, p).finally(() => {
        if (this.#pollers.get(uuid) !== p) return;
        if (p.waiters.size > 0) p.idleSince = Date.now();
        if (Date.now() - p.idleSince > this.#holdMs) {
          // Nobody watched for a while: stop, and forget the frame (a device's screen is not kept without viewers).
          p.timer = undefined;
          this.#pollers.delete(uuid);
          return;
        }
        this.#tick(uuid, p, this.#intervalMs);
      });
    }, delay);
  }

  async #poll(uuid: string, p: Poller): Promise<void> {
    this.upstreamRequests++;
    let r;
    try {
      r = await apiCall(this.#api, 'GET', `/devices/${encodeURIComponent(uuid)}/screen.png`, { headers: p.tag === undefined ? {} : { 'if-none-match': `"${p.tag}"` } });
    } catch (e) {
      this.#fail(p, 502, 'EIO', `umdevd is unreachable: ${(e as Error).message}`);
      return;
    }
    if (r.status === 304) return;
    if (r.status !== 200) {
      const e = upstreamError(r);
      this.#fail(p, r.status, e.errno, e.message);
      return;
    }
    const etag = /^"([^"]*)"$/.exec(String(r.headers.etag ?? ''))?.[1] ?? '';
    p.tag = etag;
    p.png = r.body;
    for (const w of [...p.waiters]) {
      if (w.tag === etag) continue;
      clearTimeout(w.timer);
      p.waiters.delete(w);
      sendFrame(w.res, etag, r.body);
    }
  }

  /**
   * The device shows nothing (display off, no display, no such device, not allowed): every waiter hears why, the
   * frame is dropped. A screen that is not there is an answer, not a failed request: 200 with `{unavailable}`.
   */
  #fail(p: Poller, status: number, errno: string, message: string): void {
    p.tag = undefined;
    p.png = undefined;
    const body = JSON.stringify({ unavailable: { status, errno, message } });
    for (const w of [...p.waiters]) {
      clearTimeout(w.timer);
      p.waiters.delete(w);
      if (!w.res.headersSent) w.res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body);
    }
  }

  close(): void {
    for (const p of this.#pollers.values()) {
      if (p.timer !== undefined) clearTimeout(p.timer);
      for (const w of p.waiters) {
        clearTimeout(w.timer);
        notModified(w.res, w.tag);
      }
    }
    this.#pollers.clear();
  }
}

function sendFrame(res: ServerResponse, tag: string, png: Buffer): void {
  if (res.headersSent) return;
  res.writeHead(200, { 'content-type': 'image/png', etag: `"${tag}"`, 'cache-control': 'no-store', 'content-length': png.length }).end(png);
}

function notModified(res: ServerResponse, tag: string | undefined): void {
  if (res.headersSent) return;
  res.writeHead(304, { ...(tag === undefined ? {} : { etag: `"${tag}"` }), 'cache-control': 'no-store' }).end();
}
