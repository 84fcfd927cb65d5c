/**
 * The system under test as a child process, shared by every target: spawn it, keep the tail of its stderr (what a
 * crash report shows), and wait for the line that says it serves. A child that exits first rejects with that tail.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Launched } from './engine.js';

/** A child that has said it serves. Owned by the target that spawned it, which ends it. */
export interface Served {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Launched['exited'];
  /** The stdout line that matched `ready`. */
  readonly line: string;
  /** Everything it wrote on stderr since the last call (bounded), for targets that read its log. */
  takeStderr(): string;
}

/** Spawn `args` with node and resolve once a stdout line satisfies `ready`. */
export async function spawnServed(args: readonly string[], ready: (line: string) => boolean): Promise<Served> {
  const child = spawn(process.execPath, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  let fresh = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    tail = (tail + d).slice(-8192);
    fresh = (fresh + d).slice(-65536);
  });
  const exited: Launched['exited'] = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, stderr: tail }));
  });
  const lines = createInterface({ input: child.stdout });
  const line = await Promise.race([
    new Promise<string>((resolve) => lines.on('line', (l) => ready(l) && resolve(l))),
    exited.then((e) => {
      throw new Error(`fuzz server exited before serving (code ${e.code}): ${e.stderr}`);
    }),
  ]);
  lines.close();
  // Keep draining stdout so a chatty child never blocks on a full pipe.
  child.stdout.resume();
  const takeStderr = (): string => {
    const s = fresh;
    fresh = '';
    return s;
  };
  return { child, pid: child.pid!, exited, line, takeStderr };
}
