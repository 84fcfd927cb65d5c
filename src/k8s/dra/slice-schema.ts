/**
 * Concepts: the constraints the Kubernetes API server puts on a resource.k8s.io/v1 ResourceSlice, written from the
 * published Go types (`k8s.io/api/resource/v1`) and their validation, for the fields umdev-k8s writes: object and
 * node names are DNS subdomains, the driver a subdomain of at most 63 characters, the pool name subdomains joined by
 * "/" (at most 253), a positive `resourceSliceCount`, exactly one node selection, at most 128 devices (64 when any
 * device has taints or consumes counters) with unique DNS-label names, attribute and capacity names that are C
 * identifiers of at most 32 characters with an optional DNS-subdomain domain of at most 63, at most 32 attributes and
 * capacities per device, each attribute exactly one of int, bool, string (at most 64 characters) or semver version,
 * and capacities as quantities. Unknown fields are refused, as a strict API server does. Returns the problems, each
 * with its JSON path; none means valid.
 */
import { deviceQualifiedNameProblem, dnsLabelProblem, dnsSubdomainProblem } from '../names.js';

const MAX_DEVICES = 128;
const MAX_DEVICES_ADVANCED = 64;
const MAX_ATTRS_AND_CAPACITIES = 32;
const MAX_ATTR_VALUE = 64;
const MAX_COUNTER_SETS = 8;
const MAX_COUNTERS = 32;
const MAX_CONSUMPTIONS = 2;
const SPEC_KEYS = ['driver', 'pool', 'nodeName', 'nodeSelector', 'allNodes', 'devices', 'perDeviceNodeSelection', 'sharedCounters'];
const DEVICE_KEYS = [
  'name',
  'attributes',
  'capacity',
  'consumesCounters',
  'nodeName',
  'nodeSelector',
  'allNodes',
  'taints',
  'bindsToNode',
  'bindingConditions',
  'bindingFailureConditions',
  'allowMultipleAllocations',
];
/** semver.org 2.0.0's regular expression. */
const SEMVER_RE =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
/** resource.Quantity's text form: a signed decimal, then a binary or decimal suffix or an exponent. */
const QUANTITY_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/;

type Obj = Readonly<Record<string, unknown>>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every problem of `slice` as a resource.k8s.io/v1 ResourceSlice; an empty list when the API server would take it. */
export function resourceSliceProblems(slice: unknown): string[] {
  const out: string[] = [];
  const bad = (path: string, what: string): void => void out.push(`${path}: ${what}`);
  const name = (path: string, v: unknown, problem: (s: string) => string | undefined): void => {
    if (typeof v !== 'string') return bad(path, 'must be a string');
    const p = problem(v);
    if (p !== undefined) bad(path, `must be ${p}`);
  };
  const unknownKeys = (path: string, o: Obj, allowed: readonly string[]): void => {
    for (const k of Object.keys(o)) if (!allowed.includes(k)) bad(`${path}.${k}`, 'unknown field');
  };

  if (!isObj(slice)) return ['(top level): must be an object'];
  if (slice.apiVersion !== 'resource.k8s.io/v1') bad('apiVersion', 'must be "resource.k8s.io/v1"');
  if (slice.kind !== 'ResourceSlice') bad('kind', 'must be "ResourceSlice"');
  unknownKeys('', slice, ['apiVersion', 'kind', 'metadata', 'spec']);
  const meta = slice.metadata;
  if (!isObj(meta)) bad('metadata', 'must be an object');
  else if (meta.name !== undefined || meta.generateName === undefined) name('metadata.name', meta.name, (s) => dnsSubdomainProblem(s));

  const spec = slice.spec;
  if (!isObj(spec)) {
    bad('spec', 'must be an object');
    return out;
  }
  unknownKeys('spec', spec, SPEC_KEYS);
  name('spec.driver', spec.driver, (s) => dnsSubdomainProblem(s, 63));
  const pool = spec.pool;
  if (!isObj(pool)) bad('spec.pool', 'must be an object');
  else {
    unknownKeys('spec.pool', pool, ['name', 'generation', 'resourceSliceCount']);
    name('spec.pool.name', pool.name, (s) =>
      s.length > 253 ? 'at most 253 characters' : s.split('/').every((p) => dnsSubdomainProblem(p) === undefined) ? undefined : 'DNS subdomains separated by "/"',
    );
    if (!Number.isSafeInteger(pool.generation) || (pool.generation as number) < 0) bad('spec.pool.generation', 'must be an integer >= 0');
    if (!Number.isSafeInteger(pool.resourceSliceCount) || (pool.resourceSliceCount as number) < 1) bad('spec.pool.resourceSliceCount', 'must be an integer > 0');
  }
  const selections = [spec.nodeName !== undefined, spec.nodeSelector !== undefined, spec.allNodes === true, spec.perDeviceNodeSelection === true];
  if (selections.filter(Boolean).length !== 1) bad('spec', 'exactly one of nodeName, nodeSelector, allNodes, perDeviceNodeSelection must be set');
  if (spec.nodeName !== undefined) name('spec.nodeName', spec.nodeName, (s) => dnsSubdomainProblem(s));
  if (spec.allNodes !== undefined && typeof spec.allNodes !== 'boolean') bad('spec.allNodes', 'must be a boolean');

  if (spec.sharedCounters !== undefined && spec.devices !== undefined) bad('spec', 'only one of sharedCounters or devices is allowed');
  if (spec.sharedCounters !== undefined) {
    const sets = spec.sharedCounters;
    if (!Array.isArray(sets)) bad('spec.sharedCounters', 'must be a list');
    else {
      if (sets.length > MAX_COUNTER_SETS) bad('spec.sharedCounters', `must have at most ${MAX_COUNTER_SETS} entries, has ${sets.length}`);
      const names = new Set<string>();
      sets.forEach((c, i) => {
        const p = `spec.sharedCounters[${i}]`;
        if (!isObj(c)) return bad(p, 'must be an object');
        unknownKeys(p, c, ['name', 'counters']);
        name(`${p}.name`, c.name, dnsLabelProblem);
        if (typeof c.name === 'string') {
          if (names.has(c.name)) bad(`${p}.name`, `duplicate counter set ${JSON.stringify(c.name)}`);
          names.add(c.name);
        }
        counterProblems(`${p}.counters`, c.counters).forEach((m) => out.push(m));
      });
    }
  }

  const devices = spec.devices ?? [];
  if (!Array.isArray(devices)) {
    bad('spec.devices', 'must be a list');
    return out;
  }
  const advanced = devices.some((d) => isObj(d) && (d.taints !== undefined || d.consumesCounters !== undefined));
  const limit = advanced ? MAX_DEVICES_ADVANCED : MAX_DEVICES;
  if (devices.length > limit) bad('spec.devices', `must have at most ${limit} entries, has ${devices.length}`);
  const seen = new Set<string>();
  devices.forEach((d, i) => {
    const p = `spec.devices[${i}]`;
    if (!isObj(d)) return bad(p, 'must be an object');
    unknownKeys(p, d, DEVICE_KEYS);
    name(`${p}.name`, d.name, dnsLabelProblem);
    if (typeof d.name === 'string') {
      if (seen.has(d.name)) bad(`${p}.name`, `duplicate device name ${JSON.stringify(d.name)}`);
      seen.add(d.name);
    }
    const attrs = d.attributes ?? {};
    const caps = d.capacity ?? {};
    if (!isObj(attrs)) bad(`${p}.attributes`, 'must be a map');
    if (!isObj(caps)) bad(`${p}.capacity`, 'must be a map');
    if (!isObj(attrs) || !isObj(caps)) return;
    const count = Object.keys(attrs).length + Object.keys(caps).length;
    if (count > MAX_ATTRS_AND_CAPACITIES) bad(p, `must have at most ${MAX_ATTRS_AND_CAPACITIES} attributes and capacities, has ${count}`);
    for (const [k, v] of Object.entries(attrs)) {
      const ap = `${p}.attributes[${JSON.stringify(k)}]`;
      name(ap, k, deviceQualifiedNameProblem);
      attributeProblems(v).forEach((m) => bad(ap, m));
    }
    if (d.consumesCounters !== undefined) {
      const cc = d.consumesCounters;
      if (!Array.isArray(cc)) bad(`${p}.consumesCounters`, 'must be a list');
      else {
        if (cc.length > MAX_CONSUMPTIONS) bad(`${p}.consumesCounters`, `must have at most ${MAX_CONSUMPTIONS} entries, has ${cc.length}`);
        const sets = new Set<string>();
        cc.forEach((c, j) => {
          const q = `${p}.consumesCounters[${j}]`;
          if (!isObj(c)) return bad(q, 'must be an object');
          unknownKeys(q, c, ['counterSet', 'counters']);
          name(`${q}.counterSet`, c.counterSet, dnsLabelProblem);
          if (typeof c.counterSet === 'string') {
            if (sets.has(c.counterSet)) bad(`${q}.counterSet`, `duplicate counter set ${JSON.stringify(c.counterSet)}`);
            sets.add(c.counterSet);
          }
          counterProblems(`${q}.counters`, c.counters).forEach((m) => out.push(m));
        });
      }
    }
    for (const [k, v] of Object.entries(caps)) {
      const cp = `${p}.capacity[${JSON.stringify(k)}]`;
      name(cp, k, deviceQualifiedNameProblem);
      if (!isObj(v) || typeof v.value !== 'string' || !QUANTITY_RE.test(v.value)) bad(cp, 'must be {"value": <quantity>} such as "24" or "1Gi"');
    }
  });
  return out;
}

/** A counters map: 1 to 32 entries, DNS-label names, each `{"value": <quantity>}`. */
function counterProblems(path: string, v: unknown): string[] {
  if (!isObj(v)) return [`${path}: must be a map`];
  const keys = Object.keys(v);
  const out: string[] = [];
  if (keys.length === 0) out.push(`${path}: must have at least one counter`);
  if (keys.length > MAX_COUNTERS) out.push(`${path}: must have at most ${MAX_COUNTERS} counters, has ${keys.length}`);
  for (const k of keys) {
    const p = dnsLabelProblem(k);
    if (p !== undefined) out.push(`${path}[${JSON.stringify(k)}]: must be ${p}`);
    const c = v[k];
    if (!isObj(c) || typeof c.value !== 'string' || !QUANTITY_RE.test(c.value) || Object.keys(c).length !== 1) {
      out.push(`${path}[${JSON.stringify(k)}]: must be {"value": <quantity>}`);
    }
  }
  return out;
}

/** Problems that span the slices of one pool (each slice checked alone by `resourceSliceProblems`). */
export function poolProblems(slices: readonly unknown[]): string[] {
  const out: string[] = [];
  const sets = new Map<string, Set<string>>();
  const pools = new Set<string>();
  const counts = new Set<number>();
  for (const s of slices) {
    const spec = isObj(s) && isObj(s.spec) ? s.spec : {};
    const pool = isObj(spec.pool) ? spec.pool : {};
    pools.add(`${String(pool.name)}@${String(pool.generation)}`);
    counts.add(Number(pool.resourceSliceCount));
    for (const c of Array.isArray(spec.sharedCounters) ? spec.sharedCounters : []) {
      if (!isObj(c) || typeof c.name !== 'string') continue;
      if (sets.has(c.name)) out.push(`counter set ${JSON.stringify(c.name)} is defined twice in the pool`);
      sets.set(c.name, new Set(isObj(c.counters) ? Object.keys(c.counters) : []));
    }
  }
  if (pools.size > 1) out.push(`slices disagree on pool name or generation: ${[...pools].join(', ')}`);
  if (counts.size > 1 || (counts.size === 1 && !counts.has(slices.length))) out.push(`resourceSliceCount must be ${slices.length} in every slice`);
  for (const s of slices) {
    const spec = isObj(s) && isObj(s.spec) ? s.spec : {};
    for (const d of Array.isArray(spec.devices) ? spec.devices : []) {
      if (!isObj(d) || !Array.isArray(d.consumesCounters)) continue;
      for (const c of d.consumesCounters) {
        if (!isObj(c)) continue;
        const set = sets.get(String(c.counterSet));
        if (set === undefined) out.push(`device ${String(d.name)} consumes from counter set ${JSON.stringify(c.counterSet)}, which the pool lacks`);
        else for (const k of isObj(c.counters) ? Object.keys(c.counters) : []) if (!set.has(k)) out.push(`device ${String(d.name)} consumes counter ${k}, which set ${String(c.counterSet)} lacks`);
      }
    }
  }
  return out;
}

function attributeProblems(v: unknown): string[] {
  if (!isObj(v)) return ['must be an object with one of int, bool, string, version'];
  const set = ['int', 'bool', 'string', 'version'].filter((k) => v[k] !== undefined);
  const others = Object.keys(v).filter((k) => !['int', 'bool', 'string', 'version'].includes(k));
  if (others.length > 0) return [`unknown field ${others[0]}`];
  if (set.length !== 1) return ['must have exactly one of int, bool, string, version'];
  const x = v[set[0]!];
  switch (set[0]) {
    case 'int':
      return Number.isSafeInteger(x) ? [] : ['int must be an integer'];
    case 'bool':
      return typeof x === 'boolean' ? [] : ['bool must be true or false'];
    case 'string':
      return typeof x === 'string' && x.length <= MAX_ATTR_VALUE ? [] : [`string must be at most ${MAX_ATTR_VALUE} characters`];
    default:
      return typeof x === 'string' && x.length <= MAX_ATTR_VALUE && SEMVER_RE.test(x) ? [] : ['version must be a semantic version (semver 2.0.0) of at most 64 characters'];
  }
}
