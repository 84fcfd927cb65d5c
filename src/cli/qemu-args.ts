/**
 * `qemu-args UUID`: what QEMU (10.1 or later, whose `vfio-user-pci` device speaks vfio-user) needs to attach an
 * umdev device. Guest RAM must be a shared memfd, because vfio-user hands guest memory to the device server as fds
 * in DMA_MAP; a private RAM backend leaves the server unable to DMA.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fail } from '../mdevctl/failure.js';
import type { CliContext } from './io.js';
import { statePaths } from './state-paths.js';

export interface QemuArgsOptions {
  readonly uuid: string;
  readonly stateDir?: string;
  /** QEMU's size syntax (`2G`, `512M`); default `1G`. */
  readonly memory?: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** The argument vector, in order; printed shell-quoted, or as `{"args":[…]}` with `--json`. */
export async function qemuArgs(opts: QemuArgsOptions): Promise<string[]> {
  const memory = opts.memory ?? '1G';
  if (!/^[0-9]+[KMGT]?$/.test(memory)) throw fail('EINVAL', `--memory ${memory}: expected a size such as 1G or 512M`);
  const socket = join((await statePaths(opts.stateDir, opts.env)).run, `${opts.uuid}.sock`);
  const st = await stat(socket).catch(() => undefined);
  if (st === undefined || !st.isSocket()) throw fail('ENOENT', `No vfio-user socket at ${socket}: is device ${opts.uuid} started (umdevctl start, mdevctl start)?`);
  return [
    '-object', `memory-backend-memfd,id=mem,size=${memory},share=on`,
    '-machine', 'q35,memory-backend=mem',
    '-device', JSON.stringify({ driver: 'vfio-user-pci', socket: { path: socket, type: 'unix' } }),
  ];
}

function shellQuote(a: string): string {
  return /^[A-Za-z0-9_,=./:-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`;
}

export async function qemuArgsCommand(ctx: CliContext, opts: QemuArgsOptions): Promise<void> {
  const args = await qemuArgs(opts);
  ctx.stdout.write(ctx.json ? `${JSON.stringify({ args })}\n` : `${args.map(shellQuote).join(' ')}\n`);
}
