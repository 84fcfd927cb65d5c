/**
 * End-to-end: the built umdevd under a low fd limit. A flood of connections to the API makes accept(2) fail with
 * EMFILE; the daemon must neither spin on it nor stop serving once the flood is gone.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { call } from '../daemon/helpers.js';
import { UMDEVD, stateDir } from './umdevd-process.js';

/** CPU time (user + system, in clock ticks of 10 ms) the process has used. */
async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * Low, but not so low that loading the daemon's modules (the ESM loader opens them in parallel) meets EMFILE before
 * the flood does.
 */
const FD_LIMIT = 256;

test(`umdevd with ulimit -n ${FD_LIMIT}: a connection flood hits EMFILE without a busy loop, and the API serves afterwards`, async (t) => {
  const ctx = await stateDir(t, 'umdevd-emfile-');
  const proc = spawn('/bin/sh', ['-c', `ulimit -n ${FD_LIMIT} && exec "${process.execPath}" "${UMDEVD}" --state-dir "${ctx.dir}" --no-mount`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let errText = '';
  proc.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  proc.stderr.setEncoding('utf8').on('data', (s: string) => (errText += s));
  t.after(async () => {
    if (proc.exitCode === null) {
      proc.kill('SIGKILL');
      await once(proc, 'exit');
    }
  });
  for (let i = 0; i < 300 && !out.includes('umdevd ready'); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(out.includes('umdevd ready'), `umdevd did not start: ${errText}`);
  const sock = path.join(ctx.dir, 'api.sock');

  const flood: Socket[] = [];
  t.after(() => flood.forEach((s) => s.destroy()));
  for (let i = 0; i < FD_LIMIT * 2; i++) {
    const s = connect(sock);
    s.on('error', () => undefined);
    flood.push(s);
  }
  await new Promise((r) => setTimeout(r, 500));
  const fds = (await readdir(`/proc/${proc.pid}/fd`)).length;
  assert.ok(fds >= FD_LIMIT - 4, `the flood used up the daemon's fds (${fds} open of ${FD_LIMIT}), so accept meets EMFILE`);
  const before = await cpuTicks(proc.pid as number);
  await new Promise((r) => setTimeout(r, 1000));
  const used = (await cpuTicks(proc.pid as number)) - before;
  assert.ok(used < 30, `the daemon used ${used * 10} ms of CPU in 1 s while its fds were exhausted (a busy accept loop?)`);

  flood.forEach((s) => s.destroy());
  let r;
  for (let i = 0; i < 100 && r === undefined; i++) {
    r = await call(sock, 'GET', '/parents').catch(() => undefined);
    if (r === undefined) await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(r?.status, 200, 'served once the flood is gone');
  assert.equal(proc.exitCode, null, `the daemon is still running: ${errText}`);
});
