/**
 * Concepts: the DRA kubelet plugin. It serves the `DRAPlugin` v1 service on `<kubelet>/plugins/<driver>/dra.sock`
 * and the plugin watcher's `Registration` service on `<kubelet>/plugins_registry/<driver>-reg.sock`; the kubelet's
 * plugin watcher finds the latter, calls `GetInfo` (type `DRAPlugin`, the driver name, the DRA socket, version
 * `v1.DRAPlugin`) and reports the outcome with `NotifyRegistrationStatus`. Prepare and unprepare calls carry many
 * claims; each gets its own answer (an error string for one claim never fails the others).
 */
import type { Server, ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { toUmdevError } from '../errors.js';
import type { Logger } from '../log.js';
import type { K8sConfig } from './config.js';
import type { ClaimPreparer } from './dra-claims.js';
import { serveUnix, shutdown } from './grpc-unix.js';
import type { ClaimsRequest, NodePrepareResourcesResponse, NodeUnprepareResourcesResponse, PluginInfo, RegistrationStatus } from './messages.js';
import { DRA_PLUGIN, DRA_SERVICE_VERSION, PLUGIN_REGISTRATION } from './protos.js';

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

  constructor(cfg: K8sConfig, claims: ClaimPreparer, log: Logger) {
    this.#cfg = cfg;
    this.#claims = claims;
    this.#log = log.child('dra');
  }

  async start(): Promise<void> {
    const p = draPaths(this.#cfg);
    await mkdir(p.pluginDir, { recursive: true });
    await mkdir(path.dirname(p.registrationSocket), { recursive: true });
    this.#servers.push(
      await serveUnix(p.draSocket, [
        [
          DRA_PLUGIN,
          {
            NodePrepareResources: (call: ServerUnaryCall<ClaimsRequest, unknown>, cb: sendUnaryData<NodePrepareResourcesResponse>) =>
              void this.#prepareAll(call.request).then((r) => cb(null, r)),
            NodeUnprepareResources: (call: ServerUnaryCall<ClaimsRequest, unknown>, cb: sendUnaryData<NodeUnprepareResourcesResponse>) =>
              void this.#unprepareAll(call.request).then((r) => cb(null, r)),
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
            },
          },
        ],
      ]),
    );
  }

  async #prepareAll(req: ClaimsRequest): Promise<NodePrepareResourcesResponse> {
    const claims: Record<string, { devices: NodePrepareResourcesResponse['claims'][string]['devices']; error: string }> = {};
    for (const c of req.claims) {
      try {
        claims[c.uid] = { devices: await this.#claims.prepare(c), error: '' };
      } catch (e) {
        const u = toUmdevError(e);
        this.#log.warn(`preparing claim ${c.namespace}/${c.name} failed: ${u.errno}: ${u.message}`);
        claims[c.uid] = { devices: [], error: `${u.errno}: ${u.message}` };
      }
    }
    return { claims };
  }

  async #unprepareAll(req: ClaimsRequest): Promise<NodeUnprepareResourcesResponse> {
    const claims: Record<string, { error: string }> = {};
    for (const c of req.claims) {
      try {
        await this.#claims.unprepare(c);
        claims[c.uid] = { error: '' };
      } catch (e) {
        const u = toUmdevError(e);
        this.#log.warn(`unpreparing claim ${c.namespace}/${c.name} failed: ${u.errno}: ${u.message}`);
        claims[c.uid] = { error: `${u.errno}: ${u.message}` };
      }
    }
    return { claims };
  }

  async close(): Promise<void> {
    for (const s of this.#servers.reverse()) await shutdown(s);
    this.#servers.length = 0;
  }
}
