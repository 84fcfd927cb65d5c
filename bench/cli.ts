/**
 * `umdevctl list` and `umdevctl types` wall time, as a person or a script sees it (`bin/umdevctl`, the command a
 * global install links), against a bare `node -e 0` on the same machine: the floor of any Node program. The
 * commands read umdevd's tree (as shipped, with four mtty devices) through its FUSE mount. The three commands take
 * turns in every round, in a rotating order, so all see the same load; the figures are medians over rounds.
 *
 *   npm run bench -- cli [rounds=30]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon, mid } from './daemon-harness.js';

const UMDEVCTL = fileURLToPath(new URL('../../bin/umdevctl', import.meta.url));

/** Wall time of one run in ms; the command must exit 0. */
function timed(cmd: string, args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code === 0) resolve(ms);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr}`));
    });
  });
}

export async function main(argv: string[]): Promise<void> {
  const rounds = Number(argv[0] ?? 30);
  const dir = mkdtempSync(join(tmpdir(), 'umdev-bench-cli-'));
  let daemon: Daemon | undefined;
  try {
    daemon = await Daemon.start(join(dir, 'state'));
    for (let i = 0; i < 4; i++) daemon.create(i % 2 ? 'mtty-1' : 'mtty-2');
    const roots = ['--sysfs-root', join(daemon.stateDir, 'sys'), '--config-root', join(daemon.stateDir, 'mdevctl.d')];
    const commands = {
      node: [process.execPath, ['-e', '0']],
      types: [UMDEVCTL, [...roots, 'types']],
      list: [UMDEVCTL, [...roots, 'list']],
    } as const;
    const names = Object.keys(commands) as (keyof typeof commands)[];
    const ms: Record<keyof typeof commands, number[]> = { node: [], types: [], list: [] };
    for (const [cmd, args] of Object.values(commands)) await timed(cmd, args); // warm the page cache
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(r + k) % names.length]!;
        const [cmd, args] = commands[name];
        ms[name].push(await timed(cmd, args));
      }
    }
    const m = { node: mid(ms.node), types: mid(ms.types), list: mid(ms.list) };
    console.log(`median of ${rounds}: node -e 0 ${m.node.toFixed(1)} ms, umdevctl types ${m.types.toFixed(1)} ms, umdevctl list ${m.list.toFixed(1)} ms`);
    const types = m.types / m.node;
    const list = m.list / m.node;
    console.log(
      JSON.stringify({
        bench: 'cli',
        unit: 'ms',
        rounds,
        node_ms: Number(m.node.toFixed(1)),
        types_ms: Number(m.types.toFixed(1)),
        list_ms: Number(m.list.toFixed(1)),
        types_ratio: Number(types.toFixed(3)),
        list_ratio: Number(list.toFixed(3)),
        ratio: Number(Math.max(types, list).toFixed(3)),
        better: 'lower',
      }),
    );
  } finally {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
