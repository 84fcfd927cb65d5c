#!/usr/bin/env node
/**
 * `umdev-uart SOCKET [TEXT]`: connect to an mtty device's vfio-user socket (`DIR/run/<uuid>.sock`), put its first
 * UART in loopback, send TEXT (default "hello") and print what came back. Exit 0 when it came back intact.
 */
import { toUmdevError } from '../errors.js';
import { uartLoopback } from './uart-loopback.js';

const hex = (n: number): string => n.toString(16).padStart(4, '0');

const USAGE = 'usage: umdev-uart SOCKET [TEXT]   (SOCKET is DIR/run/<uuid>.sock of an mtty device)\n';

async function main(argv: readonly string[]): Promise<number> {
  // Asked-for help is output and success; a wrong command line is an error (stderr, status 2).
  if (argv[0] === '-h' || argv[0] === '--help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (argv.length < 1 || argv.length > 2) {
    process.stderr.write(USAGE);
    return 2;
  }
  const [socket, text = 'hello'] = argv;
  try {
    const r = await uartLoopback(socket, Buffer.from(text, 'utf8'));
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
