/**
 * The kubelet's side, for tests and the bench: a device plugin `Registration` server on `<dir>/device-plugins/
 * kubelet.sock` that records every registration, a pod resources server whose answer the test sets, and clients
 * of a plugin's `DevicePlugin`, the plugin watcher's `Registration` and the `DRAPlugin` services, all over real Unix
 * sockets with gRPC.
 */
import type { Client, Server, ServerUnaryCall, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { serveUnix, shutdown, unixClient } from '../../src/k8s/kubelet-api/grpc-unix.js';
import type { ListAndWatchResponse, PluginDevice, RegisterRequest } from '../../src/k8s/kubelet-api/messages.js';
import { DEVICE_PLUGIN, DRA_PLUGIN, KUBELET_REGISTRATION, PLUGIN_REGISTRATION, POD_RESOURCES } from '../../src/k8s/kubelet-api/protos.js';

export class FakeKubelet {
  readonly dir: string;
  readonly registrations: RegisterRequest[] = [];
  /** resource → device IDs that "pods" hold, as the pod resources API reports them. */
  held = new Map<string, string[]>();
  #servers: Server[] = [];

  constructor(dir: string) {
    this.dir = dir;
  }

  get devicePluginDir(): string {
    return path.join(this.dir, 'device-plugins');
  }

  /** Start (or, called again, restart: a new kubelet.sock) the registration and pod resources servers. */
  async start(): Promise<void> {
    await this.stop();
    await mkdir(this.devicePluginDir, { recursive: true });
    await mkdir(path.join(this.dir, 'pod-resources'), { recursive: true });
    this.#servers.push(
      await serveUnix(path.join(this.devicePluginDir, 'kubelet.sock'), [
        [
          KUBELET_REGISTRATION,
          {
            Register: (call: ServerUnaryCall<RegisterRequest, unknown>, cb: sendUnaryData<object>) => {
              this.registrations.push(call.request);
              cb(null, {});
            },
          },
        ],
      ]),
      await serveUnix(path.join(this.dir, 'pod-resources', 'kubelet.sock'), [
        [
          POD_RESOURCES,
          {
            List: (_c: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<object>) =>
              cb(null, {
                pod_resources: [
                  {
                    name: 'pod',
                    namespace: 'default',
                    containers: [{ name: 'vm', devices: [...this.held].map(([resource_name, device_ids]) => ({ resource_name, device_ids })) }],
                  },
                ],
              }),
          },
        ],
      ]),
    );
  }

  async stop(): Promise<void> {
    for (const s of this.#servers) await shutdown(s, 100);
    this.#servers = [];
  }

  /** A client of a registered plugin's endpoint. */
  plugin(endpoint: string): Client {
    return unixClient(DEVICE_PLUGIN, path.join(this.devicePluginDir, endpoint));
  }
}

/** Follows a ListAndWatch stream, keeping the latest list. */
export class ListWatcher {
  latest: readonly PluginDevice[] = [];
  readonly #stream: ServerWritableStream<unknown, ListAndWatchResponse> | { cancel(): void; on(e: string, f: (x: unknown) => void): void };
  readonly #waiters = new Set<() => void>();

  constructor(client: Client) {
    const call = (client as unknown as { ListAndWatch(req: object): { cancel(): void; on(e: string, f: (x: unknown) => void): void } }).ListAndWatch({});
    call.on('data', (r) => {
      this.latest = (r as ListAndWatchResponse).devices;
      for (const w of this.#waiters) w();
    });
    call.on('error', () => {});
    this.#stream = call;
  }

  /** Resolves with the first list (now or later) that satisfies `pred`; rejects after `timeoutMs`. */
  until(pred: (devices: readonly PluginDevice[]) => boolean, timeoutMs = 5000): Promise<readonly PluginDevice[]> {
    if (pred(this.latest)) return Promise.resolve(this.latest);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!pred(this.latest)) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve(this.latest);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`ListAndWatch did not reach the expected list in ${timeoutMs} ms; last: ${JSON.stringify(this.latest)}`));
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  close(): void {
    (this.#stream as { cancel(): void }).cancel();
  }
}

/** Clients of the DRA plugin's two sockets. */
export function draClients(registrationSocket: string, draSocket: string): { registration: Client; dra: Client } {
  return { registration: unixClient(PLUGIN_REGISTRATION, registrationSocket), dra: unixClient(DRA_PLUGIN, draSocket) };
}
