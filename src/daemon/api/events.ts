/**
 * `GET /events`: the core's events as NDJSON, one JSON object per line, written (and so flushed) as each happens.
 * The stream ends when the client goes away or the daemon shuts down. A client that stops reading is cut off once
 * `limits.maxQueuedEventBytes` are queued for it, and at most `limits.maxSubscribers` streams are open at once
 * (`EUSERS` beyond), so neither stuck nor numerous readers can grow the daemon's memory without bound.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { err, httpStatus } from '../../errors.js';
import type { CoreEvent } from '../../core/index.js';
import type { ApiContext, StreamRoute } from './router.js';

function streamEvents(ctx: ApiContext, req: IncomingMessage, res: ServerResponse): void {
  const log = ctx.log.child('api');
  if (ctx.streams.size >= ctx.limits.maxSubscribers) {
    const e = err('EUSERS', `${ctx.streams.size} event streams are open already`);
    const text = `${JSON.stringify({ error: { errno: e.errno, message: e.message } })}\n`;
    res.writeHead(httpStatus(e.errno), { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
    return;
  }
  ctx.streams.add(res);
  res.writeHead(200, {
    'content-type': 'application/x-ndjson',
    'cache-control': 'no-cache',
    // No buffering proxies in the way: each line is meant to arrive as it is written.
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
  const onEvent = (e: CoreEvent): void => {
    if (res.writableLength > ctx.limits.maxQueuedEventBytes) {
      log.warn('event stream client is not reading; closing its stream');
      res.destroy();
      return;
    }
    res.write(`${JSON.stringify(e)}\n`);
  };
  const finish = (): void => {
    ctx.streams.delete(res);
    unsubscribe();
    ctx.closing.removeEventListener('abort', finish);
    if (!res.writableEnded) res.end();
  };
  const unsubscribe = ctx.core.subscribe(onEvent);
  ctx.closing.addEventListener('abort', finish);
  req.on('close', finish);
  res.on('close', finish);
  res.on('error', finish);
}

export const eventRoutes: readonly StreamRoute[] = [{ method: 'GET', pattern: '/events', stream: streamEvents }];
