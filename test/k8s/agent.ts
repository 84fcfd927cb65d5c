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

export async function startAgent(t: TestContext, args: readonly string[], timeoutMs = 15_000): Promise<RunningAgent> {
  const proc = spawn(process.execPath, [UMDEV_K8S, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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
