/**
 * A small Kubernetes API server for tests and the bench: real https (a throwaway self-signed certificate made with
 * openssl) and a bearer token, serving what umdev-k8s's DRA driver uses: ResourceSlices (create, read, replace,
 * delete, with resourceVersion conflicts and the schema check a real server applies) and ResourceClaims put there
 * by the test. It writes a JSON kubeconfig that trusts its certificate. `dropCounters` plays a server whose
 * DRAPartitionableDevices feature gate is off: like the real one it drops the gated fields (`sharedCounters`,
 * `consumesCounters`) from what it stores.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { resourceSliceProblems } from '../../src/k8s/dra/slice-schema.js';

type Obj = Record<string, unknown> & { metadata?: Record<string, unknown> };

export class FakeApiServer {
  readonly slices = new Map<string, Obj>();
  readonly claims = new Map<string, Obj>();
  /** Every refused write, with why. */
  readonly refused: string[] = [];
  kubeconfig = '';
  /** Store slices without shared counters, as a server with the feature gate off does. */
  dropCounters = false;
  #server: Server | undefined;
  #dir = '';
  #version = 1;
  readonly #token = randomBytes(16).toString('hex');

  async start(): Promise<void> {
    this.#dir = await mkdtemp(path.join(tmpdir(), 'umdev-k8s-api-'));
    const key = path.join(this.#dir, 'key.pem');
    const cert = path.join(this.#dir, 'cert.pem');
    await promisify(execFile)('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
    ]).catch((e: Error) => {
      throw new Error(`openssl is needed to make the test server's certificate (apt-get install openssl): ${e.message}`);
    });
    const pem = await readFile(cert);
    this.#server = createServer({ key: await readFile(key), cert: pem }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const reply = (status: number, body?: unknown): void => {
          res.writeHead(status, { 'content-type': 'application/json' }).end(body === undefined ? '' : JSON.stringify(body));
        };
        if (req.headers.authorization !== `Bearer ${this.#token}`) return reply(401, { kind: 'Status', message: 'Unauthorized' });
        let body: Obj | undefined;
        try {
          body = chunks.length === 0 ? undefined : (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Obj);
        } catch {
          return reply(400, { message: 'bad JSON' });
        }
        this.#route(req.method ?? '', new URL(req.url ?? '/', 'https://x').pathname, body, reply);
      });
    });
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    const port = (this.#server.address() as AddressInfo).port;
    this.kubeconfig = path.join(this.#dir, 'kubeconfig.json');
    await writeFile(
      this.kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'test',
        contexts: [{ name: 'test', context: { cluster: 'test', user: 'node' } }],
        clusters: [{ name: 'test', cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority-data': pem.toString('base64') } }],
        users: [{ name: 'node', user: { token: this.#token } }],
      }),
    );
  }

  /** Delete every ResourceSlice, as a starting kubelet deletes its node's. */
  deleteSlices(): void {
    this.slices.clear();
  }

  /** Put a ResourceClaim allocated to `devices` of `driver`/`pool`. */
  addClaim(namespace: string, name: string, uid: string, driver: string, pool: string, devices: readonly string[]): void {
    this.claims.set(`${namespace}/${name}`, {
      apiVersion: 'resource.k8s.io/v1',
      kind: 'ResourceClaim',
      metadata: { namespace, name, uid },
      spec: { devices: { requests: [{ name: 'vm', exactly: { deviceClassName: 'umdev', count: devices.length } }] } },
      status: { allocation: { devices: { results: devices.map((device) => ({ request: 'vm', driver, pool, device })) } } },
    });
  }

  #route(method: string, p: string, body: Obj | undefined, reply: (s: number, b?: unknown) => void): void {
    const claim = /^\/apis\/resource\.k8s\.io\/v1\/namespaces\/([^/]+)\/resourceclaims\/([^/]+)$/.exec(p);
    if (claim !== null && method === 'GET') {
      const c = this.claims.get(`${claim[1]}/${claim[2]}`);
      return c === undefined ? reply(404, { message: 'not found' }) : reply(200, c);
    }
    const slice = /^\/apis\/resource\.k8s\.io\/v1\/resourceslices(?:\/([^/]+))?$/.exec(p);
    if (slice === null) return reply(404, { message: `no route ${p}` });
    const name = slice[1];
    if (method === 'POST' && name === undefined) {
      const n = String(body?.metadata?.name ?? '');
      if (this.slices.has(n)) return reply(409, { message: 'exists' });
      return this.#store(n, body, reply, 201);
    }
    if (name === undefined) return reply(405, { message: 'method' });
    const old = this.slices.get(name);
    if (method === 'GET') return old === undefined ? reply(404, { message: 'not found' }) : reply(200, old);
    if (method === 'DELETE') return old === undefined ? reply(404, { message: 'not found' }) : (this.slices.delete(name), reply(200, old));
    if (method === 'PUT') {
      if (old === undefined) return reply(404, { message: 'not found' });
      if (body?.metadata?.resourceVersion !== old.metadata?.resourceVersion) return reply(409, { message: 'resourceVersion conflict' });
      return this.#store(name, body, reply, 200);
    }
    return reply(405, { message: 'method' });
  }

  #store(name: string, body: Obj | undefined, reply: (s: number, b?: unknown) => void, status: number): void {
    if (this.dropCounters && body !== undefined) {
      const spec = { ...(body.spec as Record<string, unknown>) };
      delete spec.sharedCounters;
      if (Array.isArray(spec.devices)) spec.devices = (spec.devices as Record<string, unknown>[]).map(({ consumesCounters: _, ...d }) => d);
      body = { ...body, spec };
    }
    const problems = resourceSliceProblems(body);
    if (problems.length > 0) {
      this.refused.push(problems.join('; '));
      return reply(422, { message: problems.join('; ') });
    }
    const stored = { ...body, metadata: { ...body!.metadata, resourceVersion: String(++this.#version) } };
    this.slices.set(name, stored);
    reply(status, stored);
  }

  async close(): Promise<void> {
    if (this.#server !== undefined) {
      this.#server.closeAllConnections();
      await new Promise((r) => this.#server!.close(r));
    }
    if (this.#dir !== '') await rm(this.#dir, { recursive: true, force: true });
  }
}
