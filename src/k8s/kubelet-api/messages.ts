/**
 * Concepts: TypeScript shapes of the kubelet API messages umdev-k8s sends and receives, spelled as in the `.proto`
 * files (`proto/`). What arrives is decoded by protobuf with defaults filled in, so every field is present; what is
 * sent may leave fields out (proto3 defaults).
 */

export interface RegisterRequest {
  readonly version: string;
  readonly endpoint: string;
  readonly resource_name: string;
  readonly options: { readonly pre_start_required: boolean; readonly get_preferred_allocation_available: boolean };
}

export type Health = 'Healthy' | 'Unhealthy';

export interface PluginDevice {
  readonly ID: string;
  readonly health: Health;
}

export interface ListAndWatchResponse {
  readonly devices: readonly PluginDevice[];
}

export interface ContainerPreferredAllocationRequest {
  readonly available_deviceIDs: readonly string[];
  readonly must_include_deviceIDs: readonly string[];
  readonly allocation_size: number;
}

export interface PreferredAllocationRequest {
  readonly container_requests: readonly ContainerPreferredAllocationRequest[];
}

export interface PreferredAllocationResponse {
  readonly container_responses: readonly { readonly deviceIDs: readonly string[] }[];
}

export interface AllocateRequest {
  readonly container_requests: readonly { readonly devices_ids: readonly string[] }[];
}

export interface Mount {
  readonly container_path: string;
  readonly host_path: string;
  readonly read_only: boolean;
}

export interface ContainerAllocateResponse {
  readonly envs: Readonly<Record<string, string>>;
  readonly mounts: readonly Mount[];
}

export interface AllocateResponse {
  readonly container_responses: readonly ContainerAllocateResponse[];
}

export interface PluginInfo {
  readonly type: string;
  readonly name: string;
  readonly endpoint: string;
  readonly supported_versions: readonly string[];
}

export interface RegistrationStatus {
  readonly plugin_registered: boolean;
  readonly error: string;
}

export interface Claim {
  readonly namespace: string;
  readonly uid: string;
  readonly name: string;
}

export interface ClaimsRequest {
  readonly claims: readonly Claim[];
}

export interface PreparedDevice {
  readonly request_names: readonly string[];
  readonly pool_name: string;
  readonly device_name: string;
  readonly cdi_device_ids: readonly string[];
}

export interface NodePrepareResourcesResponse {
  readonly claims: Readonly<Record<string, { readonly devices: readonly PreparedDevice[]; readonly error: string }>>;
}

export interface NodeUnprepareResourcesResponse {
  readonly claims: Readonly<Record<string, { readonly error: string }>>;
}

export interface ListPodResourcesResponse {
  readonly pod_resources: readonly {
    readonly name: string;
    readonly namespace: string;
    readonly containers: readonly {
      readonly name: string;
      readonly devices: readonly { readonly resource_name: string; readonly device_ids: readonly string[] }[];
    }[];
  }[];
}
