/**
 * Concepts: the calls umdev-k8s makes to the kubelet. `register` announces one device plugin on the kubelet's
 * `Registration` socket. `KubeletSocketWatch` notices a kubelet (re)start by its socket's inode: a restarted kubelet
 * makes a new `kubelet.sock` and deletes every plugin socket in its directory, so each plugin must serve anew and
 * register again. `listPodResources` asks the pod resources API which devices running pods hold.
 */
import { stat } from 'node:fs/promises';
import type { Logger } from '../../log.js';
import { unary, unixClient } from '../kubelet-api/grpc-unix.js';
import type { ListPodResourcesResponse, RegisterRequest } from '../kubelet-api/messages.js';
import { DEVICE_PLUGIN_VERSION, KUBELET_REGISTRATION, POD_RESOURCES } from '../kubelet-api/protos.js';

/** Register a plugin listening on `endpoint` (a file name in the kubelet's dir) for `resource`. */
export async function register(kubeletSocket: string, endpoint: string, resource: string): Promise<void> {
  const client = unixClient(KUBELET_REGISTRATION, kubeletSocket);
  try {
    const req: RegisterRequest = {
      version: DEVICE_PLUGIN_VERSION,
      endpoint,
      resource_name: resource,
      options: { pre_start_required: false, get_preferred_allocation_available: true },
    };
    await unary(client, 'Register', req, 5_000);
  } finally {
    client.close();
  }
}

/** Device IDs per resource that the kubelet lists for its pods, or undefined when the API cannot be reached. */
export async function listPodResources(socket: string): Promise<Map<string, Set<string>> | undefined> {
  const client = unixClient(POD_RESOURCES, socket);
  try {
    const r = await unary<object, ListPodResourcesResponse>(client, 'List', {}, 5_000);
    const out = new Map<string, Set<string>>();
    for (const pod of r.pod_resources) {
      for (const c of pod.containers) {
        for (const d of c.devices) {
          let s = out.get(d.resource_name);
          if (s === undefined) out.set(d.resource_name, (s = new Set()));
          for (const id of d.device_ids) s.add(id);
        }
      }
    }
    return out;
  } catch {
    return undefined;
  } finally {
    client.close();
  }
}

/** Polls the kubelet's socket; calls `onNew` once for each new socket (a kubelet start or restart). */
export class KubeletSocketWatch {
  readonly #path: string;
  readonly #timer: NodeJS.Timeout;
  /** Inode and change time of the socket seen last: a quickly recreated socket can reuse the inode number. */
  #seen: string | undefined;
  #busy = false;

  constructor(socketPath: string, pollMs: number, log: Logger, onNew: () => Promise<void>) {
    this.#path = socketPath;
    const check = async (): Promise<void> => {
      if (this.#busy) return;
      this.#busy = true;
      try {
        const id = await stat(this.#path, { bigint: true }).then(
          (s) => (s.isSocket() ? `${s.ino}:${s.ctimeNs}` : undefined),
          () => undefined,
        );
        if (id !== undefined && id !== this.#seen) {
          log.info(`kubelet socket ${this.#seen === undefined ? 'found' : 'recreated (kubelet restarted)'}: ${this.#path}`);
          this.#seen = id;
          await onNew();
        } else if (id === undefined && this.#seen !== undefined) {
          log.warn(`kubelet socket ${this.#path} is gone; waiting for the kubelet`);
          this.#seen = undefined;
        }
      } finally {
        this.#busy = false;
      }
    };
    this.#timer = setInterval(() => void check(), pollMs);
    void check();
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
