/**
 * `qemu-args UUID...`: what QEMU (10.1 or later, whose `vfio-user-pci` device speaks vfio-user) needs to attach
 * umdev devices. Guest RAM must be a shared memfd, because vfio-user hands guest memory to the device server as fds
 * in DMA_MAP; a private RAM backend leaves the server unable to DMA.
 *
 * The output must work both as printed (pasted into a shell) and inside `$(…)`, where the shell splits words but
 * removes no quotes. QEMU 11.1's `-device` takes the nested `socket` property only in its JSON form (the dotted
 * `socket.path=` form is "Property 'vfio-user-pci.socket.type' not found"), and JSON has quotes: pasted, the shell
 * must remove them; inside `$(…)`, it must not find any to keep. So on a terminal the arguments are shell-quoted,
 * ready to paste, and into a pipe or `$(…)` each is one bare word that word splitting alone hands over intact (as
 * `ls` quotes names only on a terminal). A socket path a shell would split or expand (blanks, globs, `$`, quotes)
 * cannot be a bare word and is refused there; `--json` gives the arguments as a JSON array instead.
 */
import { fail } from '../mdevctl/failure.js';
import type { CliContext } from '../mdevctl/io.js';
import { deviceSockets } from '../api-client/state-paths.js';

export interface QemuArgsOptions {
  readonly uuids: readonly string[];
  readonly stateDir?: string;
  /** QEMU's size syntax (`2G`, `512M`); default `1G`. */
  readonly memory?: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Characters of a word (a socket path) that survive, unquoted, word splitting and globbing unchanged. */
const SAFE_PATH = /^[A-Za-z0-9_,=./:@%+-]+$/;

/** The argument vector, in order. `bare`: refuse a socket path that would not survive as part of a bare shell word. */
export async function qemuArgs(opts: QemuArgsOptions, bare = false): Promise<string[]> {
  const memory = opts.memory ?? '1G';
  if (!/^[0-9]+[KMGT]?$/.test(memory)) throw fail('EINVAL', `--memory ${memory}: expected a size such as 1G or 512M`);
  const sockets = await deviceSockets(opts.uuids, opts.stateDir, opts.env);
  const args = ['-object', `memory-backend-memfd,id=mem,size=${memory},share=on`, '-machine', 'q35,memory-backend=mem'];
  for (const socket of sockets) {
    if (bare && !SAFE_PATH.test(socket)) {
      throw fail('EINVAL', `The socket path ${JSON.stringify(socket)} has characters a shell would split or expand, so it cannot be printed for $(umdevctl qemu-args …): use --json, or a state dir whose path has none`);
    }
    args.push('-device', JSON.stringify({ driver: 'vfio-user-pci', socket: { path: socket, type: 'unix' } }));
  }
  return args;
}

/** One shell word that a POSIX shell reads back as `a`. */
export function shellQuote(a: string): string {
  return SAFE_PATH.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`;
}

export async function qemuArgsCommand(ctx: CliContext, opts: QemuArgsOptions): Promise<void> {
  const tty = ctx.stdout.isTTY === true;
  const args = await qemuArgs(opts, !ctx.json && !tty);
  ctx.stdout.write(ctx.json ? `${JSON.stringify({ args })}\n` : `${(tty ? args.map(shellQuote) : args).join(' ')}\n`);
}
