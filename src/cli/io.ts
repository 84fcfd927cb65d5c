import type { Sysroot } from './sysroot.js';

/** Where a command writes text; `process.stdout`, or a buffer in tests. Not closed by commands. */
export interface Writer {
  write(chunk: string): unknown;
}

/** Everything a command needs from its caller: the roots, the two output streams, and whether `--json` was given. */
export interface CliContext {
  readonly root: Sysroot;
  readonly stdout: Writer;
  readonly stderr: Writer;
  /** `--json`: machine-readable output (same shape as `--dumpjson` for listings, `{"uuid":…}` for changes). */
  readonly json: boolean;
  /** The clock for log timestamps (tests pin it). */
  readonly now?: () => Date;
}

/** A `Writer` that keeps what was written, for tests and for commands that buffer output. */
export class BufferWriter implements Writer {
  #chunks: string[] = [];
  write(chunk: string): void {
    this.#chunks.push(chunk);
  }
  get text(): string {
    return this.#chunks.join('');
  }
}

/**
 * A warning line in env_logger's format as mdevctl 1.2.0 prints it (`[2026-01-01T00:00:00Z WARN  mdevctl] …`), so
 * tools that filter mdevctl's stderr treat both programs alike. With `--json` it is a `{"warning":…}` line instead.
 */
export function warn(ctx: CliContext, message: string): void {
  if (ctx.json) {
    ctx.stderr.write(`${JSON.stringify({ warning: { message } })}\n`);
    return;
  }
  const ts = (ctx.now?.() ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  ctx.stderr.write(`[${ts} WARN  mdevctl] ${message}\n`);
}
