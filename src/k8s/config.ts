/**
 * Concepts: umdev-k8s's settings: where umdevd's API and the kubelet are, which mdev types become which Kubernetes
 * resources, and the DRA driver's identity. A JSON file (every key optional, unknown keys refused, every bad field
 * reported with its path) is overlaid by the command line; `resolveResources` maps the types umdevd has now onto
 * the configured resources.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { findStateDir } from '../cli/find-state.js';
import { err } from '../errors.js';
import type { TypeView } from '../daemon/api/views.js';
import { Issues, array, at, boolean, integer, named, object, oneOf, string } from '../daemon/validate.js';
import { dnsSubdomainProblem, extendedResourceProblem, toDnsLabel } from './names.js';

/** One configured resource: a type (on one parent, or on every parent that has it). */
export interface ResourceRule {
  readonly type: string;
  readonly parent?: string;
  /** The part after `<prefix>/`; default `<parent>-<type>`, or `<type>` without a parent. */
  readonly name?: string;
  /** Offer free instances as slots and create devices on allocation (default true). */
  readonly dynamic: boolean;
  /** Which API serves it when both run (default both). */
  readonly api: ResourceApi;
}

export type ResourceApi = 'both' | 'device-plugin' | 'dra';

/**
 * One parent's pool (see `inventory/pools.ts` and `inventory/partition.ts`): what it holds and what a type takes (in
 * units; learned when absent), and the static partitions: slots per type for the device plugin, and for the DRA
 * driver where the cluster has no shared counters. Type names are `Map` keys.
 */
export interface PoolRule {
  readonly parent: string;
  readonly capacity?: number;
  readonly consumes?: ReadonlyMap<string, number>;
  readonly devicePluginSlots?: ReadonlyMap<string, number>;
  readonly draSlots?: ReadonlyMap<string, number>;
}

export interface K8sConfig {
  /** umdevd's API: a socket path or an http:// URL; when absent, `<stateDir>/api.json` says. */
  readonly api?: string;
  readonly stateDir: string;
  readonly kubeletDir: string;
  readonly resourcePrefix: string;
  /** Where sockets appear inside a container: `<dir>/<uuid>.sock`. */
  readonly containerSocketDir: string;
  /** Undefined: every type of every parent, dynamic. */
  readonly resources?: readonly ResourceRule[];
  /** Pools configured by parent; the others are learned. */
  readonly pools?: readonly PoolRule[];
  readonly devicePlugin: boolean;
  /** A dynamic device the kubelet has not listed for this long after its allocation is removed. */
  readonly releaseGraceMs: number;
  readonly podResourcesPollMs: number;
  readonly dra: {
    readonly enabled: boolean;
    readonly driver: string;
    readonly nodeName: string;
    readonly cdiDir: string;
    /** A JSON kubeconfig file, `in-cluster`, or undefined (no API server: no claims, no published slices). */
    readonly kubeconfig?: string;
    /**
     * Describe pools with shared counters (resource.k8s.io/v1 partitionable devices): `auto` uses them until the
     * API server drops them (its DRAPartitionableDevices feature gate is off), then falls back to `draSlots`.
     */
    readonly sharedCounters: 'auto' | 'on' | 'off';
    /** How often the published slices are compared with the API server's (a kubelet deletes them when it starts). */
    readonly sliceCheckMs: number;
  };
}

/**
 * Defaults, for a node where umdevd runs from its systemd unit and the kubelet from its package. The state dir is
 * found by the rule every tool uses (find-state.ts): `UMDEV_STATE`, a live `./umdev-state`, else `/var/lib/umdev`.
 */
export function defaultConfig(env: Readonly<Record<string, string | undefined>>, hostname: string): K8sConfig {
  return {
    stateDir: findStateDir(undefined, env).dir,
    kubeletDir: '/var/lib/kubelet',
    resourcePrefix: 'umdev.io',
    containerSocketDir: '/var/run/umdev',
    devicePlugin: true,
    releaseGraceMs: 30_000,
    podResourcesPollMs: 5_000,
    dra: {
      enabled: false,
      driver: 'umdev.io',
      nodeName: env.NODE_NAME !== undefined && env.NODE_NAME !== '' ? env.NODE_NAME : hostname,
      cdiDir: '/var/run/cdi',
      sharedCounters: 'auto',
      sliceCheckMs: 10_000,
      ...(env.KUBECONFIG !== undefined && env.KUBECONFIG !== '' ? { kubeconfig: env.KUBECONFIG } : {}),
    },
  };
}

const nonEmpty = (s: string): string | undefined => (s === '' ? 'a non-empty string' : undefined);

/** Read and check a config file over `base`; relative paths are relative to the file's directory. */
export async function loadConfig(file: string, base: K8sConfig): Promise<K8sConfig> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch (e) {
    throw err('EINVAL', `${file}: ${(e as Error).message}`);
  }
  return parseConfig(raw, base, path.dirname(path.resolve(file)));
}

/** Check a parsed config object over `base`. `EINVAL` listing every bad field. */
export function parseConfig(raw: unknown, base: K8sConfig, dir: string): K8sConfig {
  const issues = new Issues();
  const keys = ['api', 'stateDir', 'kubeletDir', 'resourcePrefix', 'containerSocketDir', 'resources', 'pools', 'devicePlugin', 'releaseGraceMs', 'podResourcesPollMs', 'dra'];
  const o = object(raw, '', issues, keys) ?? {};
  const abs = (p: string | undefined): string | undefined => (p === undefined ? undefined : path.resolve(dir, p));
  const str = (k: string): string | undefined => (o[k] === undefined ? undefined : named(o[k], k, issues, nonEmpty));
  const api = str('api');
  const out: { -readonly [K in keyof K8sConfig]: K8sConfig[K] } = {
    ...base,
    ...(api === undefined ? {} : { api: /^https?:\/\//.test(api) ? api : (abs(api) as string) }),
    stateDir: abs(str('stateDir')) ?? base.stateDir,
    kubeletDir: abs(str('kubeletDir')) ?? base.kubeletDir,
    resourcePrefix: o.resourcePrefix === undefined ? base.resourcePrefix : (named(o.resourcePrefix, 'resourcePrefix', issues, dnsSubdomainProblem) ?? ''),
    containerSocketDir: str('containerSocketDir') ?? base.containerSocketDir,
    devicePlugin: o.devicePlugin === undefined ? base.devicePlugin : (boolean(o.devicePlugin, 'devicePlugin', issues) ?? true),
    releaseGraceMs: o.releaseGraceMs === undefined ? base.releaseGraceMs : (integer(o.releaseGraceMs, 'releaseGraceMs', issues, 0, 86_400_000) ?? 0),
    podResourcesPollMs:
      o.podResourcesPollMs === undefined ? base.podResourcesPollMs : (integer(o.podResourcesPollMs, 'podResourcesPollMs', issues, 100, 3_600_000) ?? 0),
  };
  if (o.resources !== undefined) {
    out.resources = (array(o.resources, 'resources', issues) ?? []).map((r, i) => {
      const p = at('resources', i);
      const ro = object(r, p, issues, ['type', 'parent', 'name', 'dynamic', 'api']) ?? {};
      const rule: ResourceRule = {
        type: named(ro.type, at(p, 'type'), issues, nonEmpty) ?? '',
        ...(ro.parent === undefined ? {} : { parent: named(ro.parent, at(p, 'parent'), issues, nonEmpty) ?? '' }),
        ...(ro.name === undefined ? {} : { name: string(ro.name, at(p, 'name'), issues, { nonEmpty: true }) ?? '' }),
        dynamic: ro.dynamic === undefined ? true : (boolean(ro.dynamic, at(p, 'dynamic'), issues) ?? true),
        api: ro.api === undefined ? 'both' : (oneOf(ro.api, at(p, 'api'), issues, ['both', 'device-plugin', 'dra'] as const) ?? 'both'),
      };
      const name = `${out.resourcePrefix}/${resourceNamePart(rule.parent ?? '', rule)}`;
      if (rule.name !== undefined) named(name, at(p, 'name'), issues, extendedResourceProblem);
      return rule;
    });
  }
  if (o.pools !== undefined) out.pools = parsePools(o.pools, issues);
  if (o.dra !== undefined) {
    const d = object(o.dra, 'dra', issues, ['enabled', 'driver', 'nodeName', 'cdiDir', 'kubeconfig', 'sharedCounters', 'sliceCheckMs']) ?? {};
    const kubeconfig = d.kubeconfig === undefined ? base.dra.kubeconfig : named(d.kubeconfig, 'dra.kubeconfig', issues, nonEmpty);
    out.dra = {
      enabled: d.enabled === undefined ? base.dra.enabled : (boolean(d.enabled, 'dra.enabled', issues) ?? false),
      driver: d.driver === undefined ? base.dra.driver : (named(d.driver, 'dra.driver', issues, (s) => dnsSubdomainProblem(s, 63)) ?? ''),
      nodeName: d.nodeName === undefined ? base.dra.nodeName : (named(d.nodeName, 'dra.nodeName', issues, dnsSubdomainProblem) ?? ''),
      cdiDir: abs(d.cdiDir === undefined ? undefined : named(d.cdiDir, 'dra.cdiDir', issues, nonEmpty)) ?? base.dra.cdiDir,
      ...(kubeconfig === undefined ? {} : { kubeconfig: kubeconfig === 'in-cluster' ? kubeconfig : (abs(kubeconfig) as string) }),
      sharedCounters:
        d.sharedCounters === undefined
          ? base.dra.sharedCounters
          : (oneOf(d.sharedCounters === true ? 'on' : d.sharedCounters === false ? 'off' : d.sharedCounters, 'dra.sharedCounters', issues, ['auto', 'on', 'off'] as const) ?? 'auto'),
      sliceCheckMs: d.sliceCheckMs === undefined ? base.dra.sliceCheckMs : (integer(d.sliceCheckMs, 'dra.sliceCheckMs', issues, 100, 30_000) ?? 0),
    };
  }
  const bad = issues.toError('bad umdev-k8s config');
  if (bad !== undefined) throw bad;
  return out;
}

/** `pools`: one rule per parent; counts are integers; a partition whose units are known must fit the capacity. */
function parsePools(raw: unknown, issues: Issues): PoolRule[] {
  const seen = new Set<string>();
  return (array(raw, 'pools', issues) ?? []).map((r, i) => {
    const p = at('pools', i);
    const ro = object(r, p, issues, ['parent', 'capacity', 'consumes', 'devicePluginSlots', 'draSlots']) ?? {};
    const parent = named(ro.parent, at(p, 'parent'), issues, nonEmpty) ?? '';
    if (seen.has(parent)) issues.list.push(`${at(p, 'parent')}: ${JSON.stringify(parent)} has a rule already`);
    seen.add(parent);
    const counts = (k: string, min: number): Map<string, number> | undefined => {
      if (ro[k] === undefined) return undefined;
      const o = ro[k];
      if (typeof o !== 'object' || o === null || Array.isArray(o)) return issues.add(at(p, k), 'an object of type name → count', o);
      // Keys are type names (data): read into a Map, never looked up on the object.
      return new Map(Object.entries(o).map(([t, n]) => [t, integer(n, `${at(p, k)}[${JSON.stringify(t)}]`, issues, min, 4096) ?? 0]));
    };
    const rule: PoolRule = {
      parent,
      ...(ro.capacity === undefined ? {} : { capacity: integer(ro.capacity, at(p, 'capacity'), issues, 1, 1 << 30) ?? 1 }),
      ...optional('consumes', counts('consumes', 1)),
      ...optional('devicePluginSlots', counts('devicePluginSlots', 0)),
      ...optional('draSlots', counts('draSlots', 0)),
    };
    if (rule.capacity !== undefined && rule.consumes !== undefined) {
      const used = (m: ReadonlyMap<string, number> | undefined): number => [...(m ?? [])].reduce((n, [t, c]) => n + c * (rule.consumes!.get(t) ?? 0), 0);
      const total = used(rule.devicePluginSlots) + used(rule.draSlots);
      if (total > rule.capacity) issues.list.push(`${p}: devicePluginSlots and draSlots take ${total} units; the pool holds ${rule.capacity}`);
      for (const k of ['devicePluginSlots', 'draSlots'] as const) {
        for (const t of rule[k]?.keys() ?? []) if (!rule.consumes.has(t)) issues.list.push(`${at(p, k)}: type ${JSON.stringify(t)} is not in consumes`);
      }
    }
    return rule;
  });
}

function optional<K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [k]: v }) as { [P in K]?: V };
}

function resourceNamePart(parent: string, rule: ResourceRule): string {
  if (rule.name !== undefined) return rule.name;
  return toDnsLabel(rule.parent === undefined ? rule.type : `${parent}-${rule.type}`);
}

/** One resource as served: its full name and the types (parent and type id) it offers. */
export interface ResolvedResource {
  readonly name: string;
  readonly dynamic: boolean;
  readonly api: ResourceApi;
  readonly types: readonly { readonly parent: string; readonly type: string }[];
}

/** The resources the configured rules make of `types` (every type of every parent when no rules are set). */
export function resolveResources(cfg: Pick<K8sConfig, 'resources' | 'resourcePrefix'>, types: readonly TypeView[]): ResolvedResource[] {
  const rules = cfg.resources ?? types.map((t): ResourceRule => ({ type: t.id, parent: t.parent, dynamic: true, api: 'both' }));
  const byName = new Map<string, { dynamic: boolean; api: ResourceApi; types: { parent: string; type: string }[] }>();
  for (const rule of rules) {
    for (const t of types) {
      if (t.id !== rule.type || (rule.parent !== undefined && t.parent !== rule.parent)) continue;
      const name = `${cfg.resourcePrefix}/${resourceNamePart(t.parent, rule)}`;
      let r = byName.get(name);
      if (r === undefined) byName.set(name, (r = { dynamic: rule.dynamic, api: rule.api, types: [] }));
      if (!r.types.some((x) => x.parent === t.parent && x.type === t.id)) r.types.push({ parent: t.parent, type: t.id });
    }
  }
  return [...byName].map(([name, r]) => ({ name, ...r }));
}
