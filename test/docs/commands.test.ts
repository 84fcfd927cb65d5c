/**
 * Every command the documentation tells a person to run, run as written: the `sh` blocks of README.md and docs/**,
 * file by file, in order, in one bash per file (`set -eo pipefail`), from a scratch directory holding the checkout's
 * files (symlinks, so `./bin/…`, `./setup` and `contrib/…` resolve) and a fresh `umdev-state`. A file gets a umdevd
 * with the sample drivers unless it starts its own in `./umdev-state`. Background blocks (daemons, `umdev-fb`) run
 * in their own process group until the file is done, then get SIGINT (SIGKILL if they linger); mounts left in the
 * scratch directory are unmounted and make the test fail. `vm` blocks are run by the VM tier (vm/user-path.test.ts).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { exec } from '../process.js';
import { type Block, CHECKOUT, blocksOf, docFiles } from './blocks.js';

const FILE_TIMEOUT_MS = 300_000;

/** Top-level entries not linked into the scratch directory: state dirs a developer's own daemons use. */
const SKIP = new Set(['.git', 'umdev-state', 'umdev-b']);

async function scratch(): Promise<string> {
  const dir = await mkdtemp('/tmp/umdev-doc-');
  for (const name of await readdir(CHECKOUT)) {
    if (!SKIP.has(name) && !name.startsWith('umdev-')) await symlink(path.join(CHECKOUT, name), path.join(dir, name));
  }
  return dir;
}

const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

/** The bash script that runs one file's blocks. `logs` receives the background blocks' output and pids. */
export function script(blocks: readonly Block[], logs: string, ownDaemon: boolean): string {
  const out = [
    'set -eo pipefail',
    `__logs=${q(logs)}`,
    '__pids=()',
    // Background jobs lead their own process group (set -m), so a signal reaches every process they started.
    '__stop() { for p in "${__pids[@]}"; do kill -INT -- "-$p" 2>/dev/null || true; done; for p in "${__pids[@]}"; do for _ in $(seq 100); do kill -0 -- "-$p" 2>/dev/null || break; sleep 0.1; done; kill -KILL -- "-$p" 2>/dev/null || true; done; }',
    'trap __stop EXIT',
    '__wait() { for _ in $(seq 600); do grep -qF -- "$2" "$1" && return 0; kill -0 "$3" 2>/dev/null || { echo "::: the background block ended before printing \\"$2\\":"; cat "$1"; return 1; }; sleep 0.1; done; echo "::: no \\"$2\\" after 60 s:"; cat "$1"; return 1; }',
  ];
  const background = (n: number, code: string, until: string): void => {
    out.push('set -m', `(\n${code}\n) >"$__logs/bg${n}.log" 2>&1 &`, '__pids+=($!)', 'echo $! >>"$__logs/pids"', 'set +m', `__wait "$__logs/bg${n}.log" ${q(until)} $!`);
  };
  if (!ownDaemon) {
    out.push('echo "::: the test starts umdevd with contrib/umdevd-samples.json"');
    background(0, './bin/umdevd --config contrib/umdevd-samples.json', 'umdevd ready');
  }
  blocks.forEach((b, i) => {
    const n = i + 1;
    out.push(`echo ${q(`::: block ${n}, ${b.file}:${b.line} (${b.mode.kind})`)}`);
    switch (b.mode.kind) {
      case 'run':
        out.push(b.code);
        break;
      case 'background':
        background(n, b.code, b.mode.until);
        break;
      case 'fails':
        out.push(
          `if __out=$( {\n${b.code}\n} 2>&1 ); then echo "::: it succeeded, but the documentation says it fails:"; echo "$__out"; exit 1; fi`,
          'echo "$__out"',
          `case "$__out" in *${q(b.mode.expect)}*) ;; *) echo ${q(`::: its output lacks "${b.mode.expect}"`)}; exit 1 ;; esac`,
        );
        break;
      default:
        throw new Error(`${b.file}:${b.line}: ${b.mode.kind} blocks are not run here`);
    }
  });
  out.push('echo "::: all blocks ran"');
  return `${out.join('\n')}\n`;
}

/** Mounts still under `dir` (a daemon that did not unmount): unmounted here, and returned for the assertion. */
async function leftoverMounts(dir: string): Promise<string[]> {
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(`${dir}/`));
  for (const m of mounts.reverse()) await exec('umount', ['-l', m]);
  return mounts;
}

async function need(cmd: string, pkg: string): Promise<void> {
  const r = await exec('sh', ['-c', `command -v ${cmd}`]);
  assert.equal(r.code, 0, `${cmd} is missing: install the Debian package ${pkg} (./setup does)`);
}

const files = docFiles();
const all = files.map((f) => ({ file: f, blocks: blocksOf(f) }));

test('every fenced block names its language; commands are sh blocks; no-run blocks say why', () => {
  let commands = 0;
  let ran = 0;
  for (const { blocks } of all) {
    for (const b of blocks) {
      assert.ok(!['bash', 'shell', 'console', 'zsh'].includes(b.lang), `${b.file}:${b.line}: commands go in sh blocks (so this test runs them)`);
      if (b.lang !== 'sh') continue;
      commands++;
      if (b.mode.kind !== 'no-run' && b.mode.kind !== 'vm') ran++;
    }
  }
  const skipped = all.flatMap(({ blocks }) => blocks.filter((b) => b.mode.kind === 'no-run'));
  // A few, each for a stated reason: the documentation is tested, not excused.
  assert.ok(skipped.length <= 5, `no-run blocks: ${skipped.map((b) => `${b.file}:${b.line}`).join(', ')}`);
  assert.ok(ran >= 25, `${ran} command blocks run`);
  process.stderr.write(`doc commands: ${commands} sh blocks in ${files.length} files; ${ran} run here, ${skipped.length} marked no-run, ${commands - ran - skipped.length} run by the VM tier\n`);
});

for (const { file, blocks } of all) {
  const runnable = blocks.filter((b) => b.lang === 'sh' && (b.mode.kind === 'run' || b.mode.kind === 'background' || b.mode.kind === 'fails'));
  if (runnable.length === 0) continue;
  test(`${file}: its ${runnable.length} command blocks run as written`, { timeout: FILE_TIMEOUT_MS + 30_000 }, async (t) => {
    assert.equal(process.getuid?.(), 0, 'the documentation\'s commands run as root (FUSE mounts, mount namespaces): run npm test as root');
    await need('curl', 'curl');
    await need('jq', 'jq');
    const dir = await scratch();
    const logs = path.join(dir, '.doc-test');
    await exec('mkdir', [logs]);
    // README's first block starts the daemon in ./umdev-state itself.
    const ownDaemon = runnable.some((b) => b.mode.kind === 'background' && /(^|\s)\.\/bin\/umdevd\b/.test(b.code) && !b.code.includes('--state-dir'));
    await writeFile(path.join(logs, 'script.sh'), script(runnable, logs, ownDaemon));
    const bash = spawn('bash', [path.join(logs, 'script.sh')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    bash.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
    bash.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
    const timer = setTimeout(() => {
      output += `\n::: ${file} took more than ${FILE_TIMEOUT_MS / 1000} s: killed\n`;
      process.kill(-bash.pid!, 'SIGKILL');
    }, FILE_TIMEOUT_MS);
    t.after(async () => {
      clearTimeout(timer);
      // Background groups the script could not stop (it was killed): end them by the pids it recorded.
      const pids = (await readFile(path.join(logs, 'pids'), 'utf8').catch(() => '')).split('\n').filter((p) => p !== '');
      for (const p of pids) {
        try {
          process.kill(-Number(p), 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      await leftoverMounts(dir);
      await rm(dir, { recursive: true, force: true });
    });
    const [code] = (await once(bash, 'exit')) as [number | null];
    clearTimeout(timer);
    const tail = output.split('\n').slice(-60).join('\n');
    assert.equal(code, 0, `${file}: a documented command failed (the last "::: block" line names it):\n${tail}`);
    assert.match(output, /::: all blocks ran/);
    // Give the daemons' unmounts a moment (SIGINT was sent by the script's trap), then insist they happened.
    for (let i = 0; i < 50 && (await readFile('/proc/self/mountinfo', 'utf8')).includes(`${dir}/`); i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await leftoverMounts(dir), [], 'every daemon the documentation started unmounted its tree when stopped');
  });
}
