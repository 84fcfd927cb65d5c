/**
 * An AF_UNIX datagram socket the test owns, bound by a python3 child (independent of umdev's addon): every datagram
 * it receives is one JSON string line on the child's stdout. For the systemd notify protocol and the addon's sender.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { waitFor } from './process.js';

const PROGRAM = `
import json, socket, sys
name = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\\0' + name[1:] if name.startswith('@') else name)
print(json.dumps('bound'), flush=True)
while True:
    print(json.dumps(s.recv(4096).decode()), flush=True)
`;

/** A bound receiver at `address` (a path, or `@name` for an abstract socket); killed after the test. */
export async function datagramReceiver(t: TestContext, address: string): Promise<{ messages: () => string[]; waitFor: (what: string, pred: (m: string[]) => boolean) => Promise<void> }> {
  const child = spawn('python3', ['-c', PROGRAM, address], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.on('error', () => undefined);
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const lines = (): string[] => out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as string);
  await waitFor('the datagram receiver to bind (python3, Debian package python3)', () => {
    if (child.exitCode !== null) throw new Error(`python3 receiver exited: ${err}`);
    return lines()[0] === 'bound';
  });
  const messages = (): string[] => lines().slice(1);
  return { messages, waitFor: (what, pred) => waitFor(what, () => pred(messages())) };
}
