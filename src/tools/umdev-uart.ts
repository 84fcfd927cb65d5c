#!/usr/bin/env node
/**
 * `umdev-uart [--state-dir DIR] UUID|SOCKET [TEXT]`: connect to an mtty device's vfio-user socket (a UUID's is
 * found in umdevd's state dir by the one rule), check that it is an mtty, put its first UART in loopback, send TEXT
 * (default "hello") and print what came back. Exit 0 when it came back intact.
 */
import { parseArgs } from 'node:util';
import { toUmdevError } from '../errors.js';
import { deviceSocket } from './device-arg.js';
import { uartLoopback } from './uart-loopback.js';

const hex = (n: number): string => n.toString(16).padStart(4, '0');

const USAGE = `usage: umdev-uart [--state-dir DIR] UUID|SOCKET [TEXT]
  Loops TEXT (default "hello") through UART 0 of an mtty device: the device's UUID (its socket is found in
  umdevd's state dir: --state-dir, UMDEV_STATE, ./umdev-state if a umdevd holds it, else /var/lib/umdev), or
  its vfio-user socket (DIR/run/<uuid>.sock).
`;

async function main(argv: readonly string[]): Promise<number> {
  // Asked-for help is output and success; a wrong command line is an error (stderr, status 2).
  if (argv[0] === '-h' || argv[0] === '--help') {
    process.stdout.write(USAGE);
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: { 'state-dir': { type: 'string' } }, allowPositionals: true });
  } catch (e) {
    process.stderr.write(`umdev-uart: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (parsed.positionals.length < 1 || parsed.positionals.length > 2) {
    process.stderr.write(USAGE);
    return 2;
  }
  const [device, text = 'hello'] = parsed.positionals as [string, string?];
  let socket = device;
  try {
    const s = await deviceSocket(device, parsed.values['state-dir'], process.env);
    socket = s.shown;
    const r = await uartLoopback(s.path, Buffer.from(text, 'utf8'));
    process.stdout.write(
      `connected to ${socket}: PCI ${hex(r.vendorId)}:${hex(r.deviceId)}, ${r.regions} regions, ${r.irqs} irqs\n` +
        'UART 0 in loopback (8N1, FIFO on, MCR LOOP)\n' +
        `sent:     ${JSON.stringify(r.sent.toString('utf8'))}\n` +
        `received: ${JSON.stringify(r.received.toString('utf8'))}\n`,
    );
    return r.received.equals(r.sent) ? 0 : 1;
  } catch (e) {
    const u = toUmdevError(e);
    // Errors from native calls already end in their errno name; add it only where the message lacks it.
    const why = u.message.includes(u.errno) ? u.message : `${u.message} (${u.errno})`;
    process.stderr.write(`umdev-uart: ${socket}: ${why}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
