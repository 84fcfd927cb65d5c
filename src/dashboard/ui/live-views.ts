/**
 * A device's screen and console, kept live while the device is shown. The screen asks for the next frame with the
 * tag it shows; the server holds the request until the frame changes, so a still screen costs nothing and a moving
 * one flows at several frames a second. The console asks for the UART bytes after the last position it has.
 */
import { ApiError, call, frame, unavailable } from './api.js';

/** Keeps `img` showing `uuid`'s screen until `stop()`; `onState` hears when there is nothing to show and why. */
export function liveScreen(uuid: string, img: HTMLImageElement, onState: (problem: ApiError | undefined) => void): { stop(): void } {
  const abort = new AbortController();
  let url: string | undefined;
  let tag: string | undefined;
  void (async () => {
    while (!abort.signal.aborted) {
      try {
        const f = await frame(uuid, tag, abort.signal);
        if (f !== 'unchanged') {
          const next = URL.createObjectURL(f.blob);
          img.src = next;
          img.dataset.tag = f.tag;
          if (url !== undefined) URL.revokeObjectURL(url);
          url = next;
          tag = f.tag;
          onState(undefined);
        }
      } catch (e) {
        if (abort.signal.aborted) return;
        onState(e instanceof ApiError ? e : new ApiError(0, 'EIO', String(e)));
        // Nothing to show (display off, no display, not allowed): look again in a while, not in a loop.
        await new Promise((r) => setTimeout(r, e instanceof ApiError && e.errno === 'EOPNOTSUPP' ? 30_000 : 1000));
      }
    }
  })();
  return {
    stop: () => {
      abort.abort();
      if (url !== undefined) URL.revokeObjectURL(url);
    },
  };
}

const MAX_CONSOLE = 16 * 1024;

/** Appends what `uuid`'s UART sends to `pre` (the last 16 KiB are kept) until `stop()`. */
export function liveConsole(uuid: string, pre: HTMLElement, onState: (problem: ApiError | undefined) => void): { stop(): void } {
  let stopped = false;
  let pos: number | undefined;
  const dec = new TextDecoder('utf-8', { fatal: false });
  void (async () => {
    while (!stopped) {
      let wait = 250;
      try {
        const body = await call('GET', `/api/uart/${uuid}${pos === undefined ? '' : `?since=${pos}`}`);
        if (stopped) return;
        if (typeof body === 'object' && body !== null && 'unavailable' in body) throw unavailable(body);
        const r = body as { start: number; end: number; lost: number; data: string };
        onState(undefined);
        const raw = Uint8Array.from(atob(r.data), (c) => c.charCodeAt(0));
        if (raw.length > 0) {
          const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
          const text = (r.lost > 0 && pos !== undefined ? `\n[${r.lost} bytes not shown]\n` : '') + dec.decode(raw, { stream: true });
          pre.textContent = ((pre.textContent ?? '') + text).slice(-MAX_CONSOLE);
          if (atBottom) pre.scrollTop = pre.scrollHeight;
        }
        pre.dataset.end = String(r.end);
        pos = r.end;
      } catch (e) {
        if (stopped) return;
        onState(e instanceof ApiError ? e : new ApiError(0, 'EIO', String(e)));
        wait = e instanceof ApiError && e.errno === 'EOPNOTSUPP' ? 30_000 : 1000;
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  })();
  return {
    stop: () => {
      stopped = true;
    },
  };
}
