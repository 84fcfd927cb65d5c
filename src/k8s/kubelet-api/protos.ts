/**
 * Concepts: the kubelet's gRPC APIs, loaded at run time from the `.proto` files shipped next to this module
 * (`../proto/`, copied into the build by `scripts/postbuild.mjs`) with `@grpc/proto-loader`. Field names keep the
 * proto's spelling (`resource_name`, `devices_ids`), so the TypeScript shapes in `messages.ts` read like the published
 * API. Loaded once per process; every server and client here takes its service definition from this module.
 */
import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

/** Where the `.proto` files are (dist/src/k8s/proto in a build). */
export const PROTO_DIR = fileURLToPath(new URL('../proto/', import.meta.url));

function load(file: string): GrpcObject {
  const def = loadSync(`${PROTO_DIR}${file}`, { keepCase: true, longs: Number, enums: String, defaults: true, arrays: true, objects: true });
  return loadPackageDefinition(def);
}

function service(root: GrpcObject, path: string): ServiceClientConstructor {
  let node: unknown = root;
  for (const part of path.split('.')) node = (node as Record<string, unknown>)[part];
  if (typeof node !== 'function' || !('service' in node)) throw new Error(`${path} is not a service in the kubelet protos`);
  return node as ServiceClientConstructor;
}

const devicePlugin = load('deviceplugin-v1beta1.proto');
const registration = load('pluginregistration-v1.proto');
const dra = load('dra-v1.proto');
const podResources = load('podresources-v1.proto');

/** Services by role: `client` constructs a client, `definition` is what `Server.addService` takes. */
export interface GrpcService {
  readonly client: ServiceClientConstructor;
  readonly definition: ServiceDefinition;
}

function pair(root: GrpcObject, path: string): GrpcService {
  const c = service(root, path);
  return { client: c, definition: c.service };
}

/** The kubelet's device plugin registration service (served by the kubelet). */
export const KUBELET_REGISTRATION = pair(devicePlugin, 'v1beta1.Registration');
/** The device plugin service (served by a plugin). */
export const DEVICE_PLUGIN = pair(devicePlugin, 'v1beta1.DevicePlugin');
/** The plugin watcher's registration service (served by a plugin). */
export const PLUGIN_REGISTRATION = pair(registration, 'pluginregistration.Registration');
/** The DRA kubelet plugin service v1 (served by a plugin). */
export const DRA_PLUGIN = pair(dra, 'k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin');
/** The kubelet's pod resources service (served by the kubelet). */
export const POD_RESOURCES = pair(podResources, 'v1.PodResourcesLister');

/** The device plugin API version a plugin registers with. */
export const DEVICE_PLUGIN_VERSION = 'v1beta1';
/** What a DRA plugin lists in `supported_versions` for the v1 service. */
export const DRA_SERVICE_VERSION = 'v1.DRAPlugin';
