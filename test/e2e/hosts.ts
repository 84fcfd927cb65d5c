/**
 * Helpers for the device-host tests: the daemon's host processes as /proc shows them, a wait, and a client for the
 * test-only intruder device.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VfioUserClient } from '../../src/vfio-user/index.js';
import { GO, RESULT } from './intruder/driver.js';
import type { RunningDaemon, StateDir } from './umdevd-process.js';

/** The test build of umdevd whose catalog has the intruder driver. */
export const INTRUDER_UMDEVD = fileURLToPath(new URL('./intruder/umdevd.js', import.meta.url));

/** One device host as /proc sees it. */
export interface HostProc {
  readonly pid: number;
  readonly uid: number;
  readonly status: string;
}

/** Processes whose parent is `ppid`, with their status and command line. */
async function children(ppid: number): Promise<{ pid: number; status: string; cmdline: string }[]> {
  const out: { pid: number; status: string; cmdline: string }[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = await readFile(`/proc/${name}/status`, 'utf8');
      if (!status.includes(`\nPPid:\t${ppid}\n`)) continue;
      out.push({ pid: Number(name), status, cmdline: await readFile(`/proc/${name}/cmdline`, 'utf8') });
    } catch {
      // Gone while we looked.
    }
  }
  return out;
}

/**
 * Every host process of the daemon: its children running the host program, and the hosts its zygote forked (the
 * zygote, started --single-threaded, is not itself a host and is left out), warm or holding a device.
 */
export async function allHosts(d: RunningDaemon): Promise<(HostProc & { readonly held: boolean })[]> {
  const mine = (await children(d.pid)).filter((c) => c.cmdline.includes('device-host/host-main.js'));
  const zygotes = mine.filter((c) => c.cmdline.split('\0').includes('--single-threaded'));
  const forked = (await Promise.all(zygotes.map((z) => children(z.pid)))).flat();
  return [...mine.filter((c) => !zygotes.includes(c)), ...forked].map((c) => ({
    pid: c.pid,
    uid: Number(/\nUid:\t(\d+)/.exec(c.status)![1]),
    status: c.status,
    // A host that holds a device has confined itself (its seccomp filter on); a warm one has not yet.
    held: statusField(c.status, 'Seccomp') !== '0',
  }));
}

/** The daemon's device hosts that hold a device, with their status. */
export async function hosts(d: RunningDaemon): Promise<HostProc[]> {
  return (await allHosts(d)).filter((h) => h.held);
}

/** The daemon's zygote, if it started one. */
export async function zygotePid(d: RunningDaemon): Promise<number | undefined> {
  return (await children(d.pid)).find((c) => c.cmdline.includes('device-host/host-main.js') && c.cmdline.split('\0').includes('--single-threaded'))?.pid;
}

/** One `Name:\tvalue` line of a /proc status. */
export function statusField(status: string, name: string): string {
  return new RegExp(`\\n${name}:\\t([^\\n]*)`).exec(status)?.[1]?.trim() ?? '';
}

/** Poll `probe` every 20 ms until it gives a value (at most `timeoutMs`). */
export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function connect(ctx: StateDir, uuid: string): Promise<VfioUserClient> {
  return VfioUserClient.connect(path.join(ctx.dir, 'run', `${uuid}.sock`));
}

/** Have the intruder device run `[verb, ...args]` in its host; its answer. */
export async function intrude(c: VfioUserClient, verb: string, ...args: (string | number)[]): Promise<string> {
  const text = Buffer.alloc(RESULT);
  text.write(JSON.stringify([verb, ...args.map(String)]));
  await c.write(0, 0, text);
  await c.write(0, GO, Buffer.from([1, 0, 0, 0]));
  const result = await c.read(0, RESULT, GO - RESULT);
  return JSON.parse(result.toString('utf8').replace(/\0.*$/s, '')) as string;
}
