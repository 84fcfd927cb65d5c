/**
 * Runs umdevctl in-process and the real mdevctl (Debian 1.2.0) in a private mount namespace over the same kind of
 * fake tree, and compares outputs with golden files (`test/cli/data/<command>/<case>.<ext>`; `UMDEV_REGEN=1`
 * rewrites them, locally only).
 */
import { spawn } from 'node:child_process';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { BufferWriter } from '../../src/mdevctl/io.js';
import { run } from '../../src/cli/main.js';
import type { FakeTree } from './fake-tree.js';

/** What one CLI invocation produced. */
export interface Outcome {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

/** Log timestamps differ between runs; everything else must match byte for byte. */
export function normalise(s: string, tree?: FakeTree): string {
  let out = s.replace(/^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ /gm, '[TIMESTAMP ');
  if (tree !== undefined) out = out.split(tree.etc).join('/etc/mdevctl.d').split(tree.sys).join('/sys');
  return out;
}

/** umdevctl over `tree` (in-process, through `run`, exactly as the bin does). */
export async function umdevctl(tree: FakeTree, args: readonly string[], env: Record<string, string> = {}): Promise<Outcome> {
  const stdout = new BufferWriter();
  const stderr = new BufferWriter();
  const code = await run([...tree.flags, ...args], { stdout, stderr, env });
  return { stdout: stdout.text, stderr: stderr.text, code };
}

let checked: Promise<void> | undefined;

/** Fails (never skips) when the real mdevctl or unshare is missing, naming the Debian package. */
export function requireMdevctl(): Promise<void> {
  checked ??= (async () => {
    for (const [bin, pkg] of [['/usr/bin/mdevctl', 'mdevctl'], ['/usr/bin/unshare', 'util-linux'], ['/usr/bin/mount', 'mount']] as const) {
      try {
        await access(bin);
      } catch {
        throw new Error(`${bin} is missing: install the Debian package '${pkg}' (apt-get install ${pkg}, or ./setup)`);
      }
    }
    try {
      await access('/etc/mdevctl.d');
    } catch {
      throw new Error('/etc/mdevctl.d is missing: reinstall the Debian package mdevctl');
    }
  })();
  return checked;
}

/**
 * The real mdevctl with `tree/sys` bound over `/sys` and `tree/etc` over `/etc/mdevctl.d`, in a new mount namespace
 * with private propagation, so nothing reaches the host's mounts.
 */
export async function mdevctl(tree: FakeTree, args: readonly string[], env: Record<string, string> = {}): Promise<Outcome> {
  await requireMdevctl();
  const script = 'mount --rbind "$0/sys" /sys && mount --bind "$0/etc" /etc/mdevctl.d && exec /usr/bin/mdevctl "$@"';
  return spawnCollect('/usr/bin/unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, tree.dir, ...args], { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env });
}

/** Runs a process to completion, collecting its output. */
export function spawnCollect(cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), code: code ?? (signal === null ? -1 : 128) }));
  });
}

const DATA = join(dirname(fileURLToPath(import.meta.url)), '../../../test/cli/data');

/** Compares `actual` with `data/<command>/<name>`; `UMDEV_REGEN=1` rewrites the file instead (never in CI). */
export async function golden(command: string, name: string, actual: string): Promise<void> {
  const file = join(DATA, command, name);
  if (process.env.UMDEV_REGEN === '1') {
    if (process.env.CI !== undefined) throw new Error('UMDEV_REGEN must not be set in CI');
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, actual);
    return;
  }
  let expected: string;
  try {
    expected = await readFile(file, 'utf8');
  } catch {
    throw new Error(`golden file ${file} is missing (run the tests once with UMDEV_REGEN=1 and review the result)`);
  }
  assert.equal(actual, expected, `output differs from ${file}`);
}

/** The golden record of an outcome: stdout, then stderr and the exit code when they say something. */
export function transcript(o: Outcome, tree?: FakeTree): string {
  let s = normalise(o.stdout, tree);
  if (o.stderr !== '') s += `--- stderr\n${normalise(o.stderr, tree)}`;
  if (o.code !== 0) s += `--- exit ${o.code}\n`;
  return s;
}
