/**
 * Concepts: the DRA kubelet plugin. It serves the `DRAPlugin` v1 service on `<kubelet>/plugins/<driver>/dra.sock`
 * and the plugin watcher's `Registration` service on `<kubelet>/plugins_registry/<driver>-reg.sock`; the kubelet's
 * plugin watcher finds the latter, calls `GetInfo` (type `DRAPlugin`, the driver name, the DRA socket, version
 * `v1.DRAPlugin`) and reports the outcome with `NotifyRegistrationStatus`; a successful registration (the first, or
 * one after a kubelet restart, which deletes the node's ResourceSlices) calls `onRegistered`. Prepare and unprepare
 * calls carry many claims; each gets its own answer (an error string for one claim never fails the others). Claim
 * UIDs are data: answers are built in a `Map` and turned into an object with own properties only, so `__proto__` or
 * `constructor` is a claim like any other.
 */
import type { Server, ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { err, toUmdevError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { K8sConfig } from '../config.js';
import { grpcError, serveUnix, shutdown } from '../kubelet-api/grpc-unix.js';
import type { ClaimsRequest, NodePrepareResourcesResponse, NodeUnprepareResourcesResponse, PluginInfo, PreparedDevice, RegistrationStatus } from '../kubelet-api/messages.js';
import { DRA_PLUGIN, DRA_SERVICE_VERSION, PLUGIN_REGISTRATION } from '../kubelet-api/protos.js';
import type { ClaimPreparer } from './claims.js';

/** At most this many claims in one call (a pod has at most a few dozen). */
const MAX_CLAIMS = 1024;

/** Where the DRA driver's files live. */
export function draPaths(cfg: K8sConfig): { pluginDir: string; draSocket: string; registrationSocket: string } {
  const pluginDir = path.join(cfg.kubeletDir, 'plugins', cfg.dra.driver);
  return {
    pluginDir,
    draSocket: path.join(pluginDir, 'dra.sock'),
    registrationSocket: path.join(cfg.kubeletDir, 'plugins_registry', `${cfg.dra.driver}-reg.sock`),
  };
}

export class DraPlugin {
  readonly #cfg: K8sConfig;
  readonly #claims: ClaimPreparer;
  readonly #log: Logger;
  readonly #servers: Server[] = [];
  /** The kubelet's last word on registration. */
  registration: RegistrationStatus | undefined;
  /** Called after every successful registration. */
  onRegistered: () => void = () => {};

  constructor(cfg: K8sConfig, claims: ClaimPreparer, log: Logger) {
    this.#cfg = cfg;
    this.#claims = claims;
    this.#log = log.child('dra');
  }

  async start(): Promise<void> {
    const p = draPaths(this.#cfg);
    await mkdir(p.pluginDir, { recursive: true, mode: 0o750 });
    await mkdir(path.dirname(p.registrationSocket), { recursive: true, mode: 0o750 });
    this.#servers.push(
      await serveUnix(p.draSocket, [
        [
          DRA_PLUGIN,
          {
            NodePrepareResources: (call: ServerUnaryCall<ClaimsRequest, unknown>, cb: sendUnaryData<NodePrepareResourcesResponse>) =>
              void this.#prepareAll(call.request).then((r) => cb(null, r), (e: unknown) => cb(grpcError(e))),
            NodeUnprepareResources: (call: ServerUnaryCall<ClaimsRequest, unknown>, cb: sendUnaryData<NodeUnprepareResourcesResponse>) =>
              void this.#unprepareAll(call.request).then((r) => cb(null, r), (e: unknown) => cb(grpcError(e))),
          },
        ],
      ]),
    );
    // The registration socket comes last: once the plugin watcher sees it, the DRA socket must already answer.
    this.#servers.push(
      await serveUnix(p.registrationSocket, [
        [
          PLUGIN_REGISTRATION,
          {
            GetInfo: (_c: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<PluginInfo>) =>
              cb(null, { type: 'DRAPlugin', name: this.#cfg.dra.driver, endpoint: p.draSocket, supported_versions: [DRA_SERVICE_VERSION] }),
            NotifyRegistrationStatus: (call: ServerUnaryCall<RegistrationStatus, unknown>, cb: sendUnaryData<object>) => {
              this.registration = call.request;
              if (call.request.plugin_registered) this.#log.info(`registered with the kubelet as ${this.#cfg.dra.driver}`);
              else this.#log.error(`the kubelet refused the registration: ${call.request.error}`);
              cb(null, {});
              if (call.request.plugin_registered) this.onRegistered();
            },
          },
        ],
      ]),
    );
  }

  async #prepareAll(req: ClaimsRequest): Promise<NodePrepareResourcesResponse> {
    checkCount(req);
    const claims = new Map<string, { devices: PreparedDevice[]; error: string }>();
    for (const c of req.claims) {
      if (claims.has(c.uid)) continue;
      try {
        claims.set(c.uid, { devices: await this.#claims.prepare(c), error: '' });
      } catch (e) {
        const u = toUmdevError(e);
        this.#log.warn(`preparing claim ${c.namespace}/${c.name} failed: ${u.errno}: ${u.message}`);
        claims.set(c.uid, { devices: [], error: `${u.errno}: ${u.message}` });
      }
    }
    return { claims: Object.fromEntries(claims) };
  }

  async #unprepareAll(req: ClaimsRequest): Promise<NodeUnprepareResourcesResponse> {
    checkCount(req);
    const claims = new Map<string, { error: string }>();
    for (const c of req.claims) {
      if (claims.has(c.uid)) continue;
      try {
        await this.#claims.unprepare(c);
        claims.set(c.uid, { error: '' });
      } catch (e) {
        const u = toUmdevError(e);
        this.#log.warn(`unpreparing claim ${c.namespace}/${c.name} failed: ${u.errno}: ${u.message}`);
        claims.set(c.uid, { error: `${u.errno}: ${u.message}` });
      }
    }
    return { claims: Object.fromEntries(claims) };
  }

  async close(): Promise<void> {
    for (const s of this.#servers.reverse()) await shutdown(s);
    this.#servers.length = 0;
  }
}

/** `EINVAL` before any work for a call with more claims than any pod has. */
function checkCount(req: ClaimsRequest): void {
  if (req.claims.length > MAX_CLAIMS) throw err('EINVAL', `${req.claims.length} claims in one call; at most ${MAX_CLAIMS}`);
}
