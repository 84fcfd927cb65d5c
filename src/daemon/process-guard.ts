/**
 * Concepts: what umdevd and every device host do before anything else runs (imported first, so it runs first):
 *
 * - SIGUSR1 would open Node's inspector, a debugger anyone on the machine could connect to and run code with: a
 *   listener of its own keeps it shut (Node then leaves the signal to it).
 * - Fds the process was started with (beyond stdin, stdout and stderr) are made close-on-exec, so no device host
 *   or callout this process starts inherits what its own launcher left open.
 */
import { readdirSync } from 'node:fs';
import process from 'node:process';
import { native } from '../native/index.js';

process.on('SIGUSR1', () => undefined);

for (const name of readdirSync('/proc/self/fd')) {
  const fd = Number(name);
  if (fd <= 2) continue;
  try {
    native.setCloseOnExec(fd);
  } catch {
    // The directory's own fd, closed by now.
  }
}
