/**
 * What the VM tests share about a guest run: the `UMDEV <fact>` lines its /init prints on the console, and waiting
 * for a file (a device's socket) to appear.
 */
import { existsSync } from 'node:fs';

/** The guest's `UMDEV …` lines, each split into words (firmware escapes may precede the first on its line). */
export function facts(console: string): string[][] {
  return console
    .split(/\r?\n/)
    .filter((l) => l.includes('UMDEV '))
    .map((l) => l.slice(l.indexOf('UMDEV ')).trim().split(/\s+/).slice(1));
}

/** Resolves once `file` exists; throws after `timeoutMs`. */
export async function waitFor(file: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`${file} did not appear within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
