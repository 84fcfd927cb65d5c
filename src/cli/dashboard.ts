/**
 * Concepts: `umdevctl dashboard` starts the web dashboard (src/dashboard/) for the umdevd this CLI talks to and
 * prints a login URL carrying a one-time token (stdout, one line; `--json` prints `{"url","origin"}`), then serves
 * until interrupted. It acts with this user's credentials: run it as a user outside root and the API group and the
 * dashboard is read-only. It listens on 127.0.0.1 (any free port) unless `--listen` says otherwise.
 */
import { spawn } from 'node:child_process';
import { describeEndpoint } from './api-client.js';
import { eventsEndpoint } from './events.js';
import { fail } from '../mdevctl/failure.js';
import type { CliContext } from './io.js';

export interface DashboardCommandOptions {
  readonly api?: string;
  readonly stateDir?: string;
  /** `HOST:PORT` (`[::1]:PORT` for IPv6); default 127.0.0.1:0. */
  readonly listen?: string;
  readonly open: boolean;
  /** `NAME=SOCKET|URL`, peers the page may migrate devices to. */
  readonly peers: readonly string[];
  readonly signal?: AbortSignal;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** `HOST:PORT` as a host and a port; EINVAL when it is not one. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (m === null || port > 65535) throw fail('EINVAL', `--listen ${JSON.stringify(text)}: expected HOST:PORT, e.g. 127.0.0.1:8080`);
  return { host: m[1] ?? m[2]!, port };
}

function parsePeer(text: string, token: string | undefined): { name: string; endpoint: string; token?: string } {
  const eq = text.indexOf('=');
  const name = text.slice(0, eq);
  if (eq <= 0 || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name) || eq === text.length - 1) throw fail('EINVAL', `--peer ${JSON.stringify(text)}: expected NAME=SOCKET or NAME=URL`);
  return { name, endpoint: text.slice(eq + 1), ...(token === undefined || token === '' ? {} : { token }) };
}

export async function dashboardCommand(ctx: CliContext, o: DashboardCommandOptions): Promise<void> {
  const env = o.env ?? {};
  const api = await eventsEndpoint({ ...o, env });
  const { host, port } = parseListen(o.listen ?? '127.0.0.1:0');
  const peers = o.peers.map((p) => parsePeer(p, env.UMDEV_DEST_TOKEN));
  const { DashboardServer, isLoopback } = await import('../dashboard/server.js');
  const server = await DashboardServer.start({ api, host, port, peers, log: (line) => ctx.stderr.write(`umdevctl dashboard: ${line}\n`) });
  try {
    const url = server.loginUrl();
    if (ctx.json) ctx.stdout.write(`${JSON.stringify({ url, origin: server.origin })}\n`);
    else ctx.stdout.write(`${url}\n`);
    ctx.stderr.write(`umdevctl dashboard: serving ${describeEndpoint(api)} at ${server.origin}; the URL above logs one browser in, once. Ctrl-C stops it.\n`);
    if (!isLoopback(host)) ctx.stderr.write(`umdevctl dashboard: listening on ${host}, reachable from other machines; anyone with the URL acts with your rights until it is used.\n`);
    if (o.open) openBrowser(ctx, url);
    await new Promise<void>((resolve) => {
      if (o.signal === undefined) return;
      if (o.signal.aborted) resolve();
      o.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    await server.close();
  }
}

/** `xdg-open URL`, detached; a machine without it is told where to go instead. */
function openBrowser(ctx: CliContext, url: string): void {
  const child = spawn('xdg-open', [url], { stdio: 'ignore', detached: true });
  child.on('error', () => ctx.stderr.write('umdevctl dashboard: cannot run xdg-open (Debian package xdg-utils); open the URL yourself\n'));
  child.unref();
}
