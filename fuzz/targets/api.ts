/**
 * The api fuzz target: the shipped umdevd (no mount: the API is the surface) attacked on its Unix socket with raw
 * HTTP (api-requests.ts) as root, so mutating calls really create, remove and define: whole requests answered and
 * read, garbage, requests cut off by a disconnect, and slow half-sent ones left open until the batch ends. A 500
 * answer is an error (the server maps every UmdevError to its status; a 500 is an exception that was not one).
 * After a batch every device and definition is removed through the API; the probe checks GET /parents (with each
 * type's available instances back where they started) and GET /devices, then creates and removes a device.
 */
import { connect, type Socket } from 'node:net';
import { call } from '../../test/daemon/helpers.js';
import type { FuzzTarget, Launched } from '../engine.js';
import type { Rng } from '../rng.js';
import { launchUmdevd, type Umdevd } from '../umdevd.js';
import { request } from './api-requests.js';

interface TypeView { readonly parent: string; readonly id: string; readonly availableInstances: number | null }
interface ParentView { readonly name: string; readonly types: readonly TypeView[] }

/** Half-sent requests held open at once (the API's own limit is 256 connections). */
const MAX_SLOW = 32;

class Session implements Launched {
  readonly pid: number;
  readonly exited: Launched['exited'];
  readonly #d: Umdevd;
  readonly #slow: Socket[] = [];
  readonly #errors: string[] = [];
  #known: string[] = [];
  #pool: string | undefined;

  constructor(d: Umdevd) {
    this.#d = d;
    this.pid = d.served.pid;
    this.exited = d.served.exited;
  }

  async input(rng: Rng): Promise<void> {
    const roll = rng.int(100);
    const n = roll < 5 ? 2 + rng.int(3) : 1;
    const reqs = Array.from({ length: n }, () => request(rng, this.#known));
    const bytes = Buffer.concat(reqs.map((r) => r.bytes));
    const s = await this.#connect();
    if (s === undefined) return;
    if (roll < 80) {
      const status = await answer(s, bytes);
      // Only 500 is a bug: 501, 504 and 507 are the statuses of real errnos (EOPNOTSUPP, ETIMEDOUT, ENOSPC).
      if (status === 500) this.#errors.push(`${status} for ${reqs.map((r) => r.line).join(' | ')}`);
    } else if (roll < 90) {
      s.write(bytes.subarray(0, rng.int(bytes.length)));
      s.destroy();
    } else if (roll < 96 && this.#slow.length < MAX_SLOW) {
      s.write(bytes.subarray(0, rng.int(bytes.length)));
      this.#slow.push(s);
    } else {
      s.destroy();
    }
  }

  /** Close the slow ones, then remove what the batch created and defined so the pool can be compared. */
  async endBatch(): Promise<void> {
    for (const s of this.#slow.splice(0)) s.destroy();
    const api = this.#d.apiSocket;
    const devices = (await call(api, 'GET', '/devices')).body as { uuid: string }[];
    for (const { uuid } of devices) {
      const r = await call(api, 'DELETE', `/devices/${uuid}?force=1`);
      if (r.status !== 204 && r.status !== 404) this.#errors.push(`DELETE /devices/${uuid}?force=1 after a batch: ${r.status} ${JSON.stringify(r.body)}`);
    }
    const defs = (await call(api, 'GET', '/definitions')).body as { definitions: { parent: string; uuid: string }[] };
    for (const { parent, uuid } of defs.definitions) await call(api, 'DELETE', `/definitions/${encodeURIComponent(parent)}/${uuid}`);
  }

  async probe(): Promise<void> {
    const api = this.#d.apiSocket;
    const pool = await this.#available();
    if (this.#pool === undefined) this.#pool = pool;
    else if (pool !== this.#pool) this.#errors.push(`available instances ${pool} after removing every device; started at ${this.#pool}`);
    const list = await call(api, 'GET', '/devices');
    if (list.status !== 200) throw new Error(`GET /devices: ${list.status}`);
    const made = await call(api, 'POST', '/devices', { parent: 'mtty', type: 'mtty-1' });
    if (made.status !== 201) throw new Error(`POST /devices: ${made.status} ${JSON.stringify(made.body)}`);
    const uuid = (made.body as { uuid: string }).uuid;
    this.#known = [uuid];
    const gone = await call(api, 'DELETE', `/devices/${uuid}`);
    if (gone.status !== 204) throw new Error(`DELETE /devices/${uuid}: ${gone.status} ${JSON.stringify(gone.body)}`);
    const after = await this.#available();
    if (after !== pool) this.#errors.push(`a create and delete changed available instances from ${pool} to ${after}`);
  }

  takeErrors(): string[] {
    return [...this.#errors.splice(0), ...this.#d.takeErrors()];
  }

  async stop(): Promise<void> {
    for (const s of this.#slow.splice(0)) s.destroy();
    await this.#d.stop();
  }

  async #available(): Promise<string> {
    const r = await call(this.#d.apiSocket, 'GET', '/parents');
    if (r.status !== 200) throw new Error(`GET /parents: ${r.status}`);
    return (r.body as ParentView[]).flatMap((p) => p.types.map((t) => `${t.parent}/${t.id}=${t.availableInstances}`)).join(' ');
  }

  #connect(): Promise<Socket | undefined> {
    return new Promise((resolve) => {
      const s = connect(this.#d.apiSocket);
      s.once('connect', () => resolve(s));
      s.on('error', () => resolve(undefined));
    });
  }
}

/** Send a whole request and end our side; the status of the first answer, or 0 when the server only closed. */
function answer(s: Socket, bytes: Buffer): Promise<number> {
  return new Promise((resolve) => {
    let head = '';
    const done = (status: number): void => {
      s.destroy();
      resolve(status);
    };
    s.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (m !== null) done(Number(m[1]));
      else if (head.length > 64) done(0);
    });
    s.on('close', () => done(0));
    s.end(bytes);
  });
}

export const target: FuzzTarget = {
  name: 'api',
  concurrency: 8,
  launch: async () => new Session(await launchUmdevd(['--no-mount'])),
};
