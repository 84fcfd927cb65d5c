/**
 * Concepts: reading a request body within a size limit, as JSON (every JSON route) or as bytes handed on in chunks
 * (the migration data route, whose body is a device stream). A client that hangs up mid-body made a bad request
 * (`ECONNRESET`), not a daemon bug.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { err, httpStatus, isUmdevError, toUmdevError } from '../../errors.js';

/** Read the whole body (at most `max` bytes) and parse it as JSON; no body means undefined. */
export async function readJson(req: IncomingMessage, max: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) {
    req.resume();
    throw err('E2BIG', `request body is larger than ${max} bytes`);
  }
  const chunks: Buffer[] = [];
  const size = await readChunks(req, max, (chunk) => {
    chunks.push(chunk);
    return Promise.resolve();
  });
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw err('EINVAL', `request body is not valid JSON: ${(e as Error).message}`);
  }
}

/** Hand the body to `take` chunk by chunk (awaited in order); E2BIG past `max` bytes. Resolves with the byte count. */
export async function readChunks(req: IncomingMessage, max: number, take: (chunk: Buffer) => Promise<void>): Promise<number> {
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) {
        req.resume();
        throw err('E2BIG', `request body is larger than ${max} bytes`);
      }
      await take(chunk);
    }
  } catch (e) {
    if (isUmdevError(e)) throw e;
    throw err('ECONNRESET', `the client went away before its body arrived: ${(e as Error).message}`, e);
  }
  return size;
}

/** Answer a route that writes its own response: JSON `body`, or the API's error shape for a thrown error. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendFailure(res: ServerResponse, e: unknown): void {
  const u = toUmdevError(e);
  sendJson(res, httpStatus(u.errno), { error: { errno: u.errno, message: u.message } });
}
