/** Start the built `umdev-k8s` as a process, wait for `umdev-k8s ready`, and stop it by pid (registered with `t.after`). */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

export const UMDEV_K8S = fileURLToPath(new URL('../../src/k8s/main.js', import.meta.url));

export interface RunningAgent {
  readonly proc: ChildProcess;
  readonly stderr: () => string;
}

export interface AgentOptions {
  readonly timeoutMs?: number;
  /** Start it under this umask (through `sh -c 'umask …; exec node …'`: the pid is still the agent's). */
  readonly umask?: string;
}

export async function startAgent(t: TestContext, args: readonly string[], opts: AgentOptions = {}): Promise<RunningAgent> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const proc =
    opts.umask === undefined
      ? spawn(process.execPath, [UMDEV_K8S, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('sh', ['-c', `umask ${opts.umask} && exec "$0" "$@"`, process.execPath, UMDEV_K8S, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  proc.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = once(proc, 'exit');
  t.after(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`umdev-k8s not ready in ${timeoutMs} ms:\n${err}`)), timeoutMs);
    proc.stdout.on('data', () => {
      if (out.includes('umdev-k8s ready\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`umdev-k8s exited ${code} before ready:\n${err}`));
    });
  });
  return { proc, stderr: () => err };
}
