/**
 * Concepts: one scrape of `GET /metrics`, rendered from the core and the live sources at the moment of the request
 * (nothing is kept between scrapes). Every family and its labels, with the number of series each adds:
 *
 * | family | labels | series |
 * |---|---|---|
 * | umdev_build_info | version | 1 |
 * | umdev_parents | – | 1 |
 * | umdev_type_available_instances, umdev_type_devices | parent, type | 2 per type |
 * | umdev_devices | state | 1 per state in use (≤ 4) |
 * | umdev_device_info, umdev_device_online, umdev_device_client_attached | uuid, parent, type | 3 per device |
 * | umdev_device_vfio_user_requests_total, …_errors_total, umdev_device_interrupts_total, umdev_device_dma_maps_total, umdev_device_dma_unmaps_total, umdev_device_dma_bytes_total | uuid, parent, type | 6 per device a client has used |
 * | umdev_device_host_resident_memory_bytes, umdev_device_host_cpu_seconds_total | uuid, parent, type | 2 per device with a running host |
 * | umdev_vfio_user_request_duration_seconds (histogram) | parent, type | 15 per type in use (12 buckets, +Inf, sum, count) |
 * | umdev_fuse_requests_total, umdev_fuse_request_errors_total | op | 2 per FUSE opcode seen (≤ 40) |
 * | umdev_fuse_request_duration_seconds (histogram) | – | 15 |
 * | umdev_api_requests_total | method, route, code | 1 per (method, route pattern, status) seen (bounded by the route table) |
 * | umdev_api_request_duration_seconds (histogram) | – | 14 |
 * | umdev_migrations_total | direction, result | 4 |
 * | umdev_migrations_in_progress, umdev_migration_bytes_total | direction | 2 + 2 |
 * | process_cpu_seconds_total, process_resident_memory_bytes, process_start_time_seconds | – | 3 |
 *
 * So 1,000 devices with clients make about 9,000 device series plus a few hundred others. The request-latency
 * histogram is summed per type rather than kept per device: 15 series per device would dominate everything else.
 * Counters of a device start at zero when the device is created and vanish with it.
 */
import { readFileSync } from 'node:fs';
import type { Core } from '../../core/core.js';
import type { HistogramSnapshot } from '../../metrics/histogram.js';
import { MetricsText, addHistograms } from '../../metrics/text-format.js';
import type { MigrationBoard } from '../migrate/board.js';
import type { ApiStats } from '../api/stats.js';
import { procStat } from '../proc-stat.js';
import type { DeviceInsight } from './insight.js';

/** What a scrape reads. */
export interface MetricsSources {
  readonly core: Core;
  readonly insight?: DeviceInsight;
  readonly board?: MigrationBoard;
  readonly api: ApiStats;
  readonly version: string;
}

/** The boot time (seconds since the epoch), for process_start_time_seconds; read once. */
let bootTime: number | undefined;
function bootSeconds(): number {
  if (bootTime === undefined) {
    const m = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'latin1'));
    bootTime = m === null ? 0 : Number(m[1]);
  }
  return bootTime;
}

/** The scrape as Prometheus text. */
export function collectMetrics(s: MetricsSources): string {
  const m = new MetricsText();
  m.declare('umdev_build_info', 'gauge', 'umdevd version; always 1.');
  m.add('umdev_build_info', { version: s.version }, 1);

  const parents = s.core.parents();
  m.declare('umdev_parents', 'gauge', 'Registered parent devices.');
  m.add('umdev_parents', {}, parents.length);
  m.declare('umdev_type_available_instances', 'gauge', 'Instances of the type that can still be created (-1 when the vendor cannot say).');
  m.declare('umdev_type_devices', 'gauge', 'Devices of the type that exist now.');
  const perType = new Map<string, number>();
  const devices = s.core.devices();
  for (const d of devices) perType.set(`${d.parent.name}\0${d.type.id}`, (perType.get(`${d.parent.name}\0${d.type.id}`) ?? 0) + 1);
  for (const p of parents) {
    for (const t of p.types) {
      let free: number;
      try {
        free = s.core.availableInstances(t);
      } catch {
        free = -1;
      }
      m.add('umdev_type_available_instances', { parent: p.name, type: t.id }, free);
      m.add('umdev_type_devices', { parent: p.name, type: t.id }, perType.get(`${p.name}\0${t.id}`) ?? 0);
    }
  }

  m.declare('umdev_devices', 'gauge', 'Devices by lifecycle state.');
  const states = new Map<string, number>();
  for (const d of devices) states.set(d.state, (states.get(d.state) ?? 0) + 1);
  for (const [state, n] of states) m.add('umdev_devices', { state }, n);

  m.declare('umdev_device_info', 'gauge', 'One series per device, labelled with its parent and type; always 1.');
  m.declare('umdev_device_online', 'gauge', '1 while the device is online.');
  m.declare('umdev_device_client_attached', 'gauge', '1 while a vfio-user client holds the device.');
  m.declare('umdev_device_vfio_user_requests_total', 'counter', 'vfio-user commands handled for the device.');
  m.declare('umdev_device_vfio_user_errors_total', 'counter', 'vfio-user commands answered with an error.');
  m.declare('umdev_device_interrupts_total', 'counter', 'Interrupts delivered to the client.');
  m.declare('umdev_device_dma_maps_total', 'counter', 'DMA windows the client mapped.');
  m.declare('umdev_device_dma_unmaps_total', 'counter', 'DMA windows the client unmapped.');
  m.declare('umdev_device_dma_bytes_total', 'counter', 'Bytes the device read or wrote in guest memory.');
  m.declare('umdev_device_host_resident_memory_bytes', 'gauge', 'Resident memory of the device\'s host process.');
  m.declare('umdev_device_host_cpu_seconds_total', 'counter', 'CPU time (user and system) of the device\'s host process.');
  m.declare('umdev_vfio_user_request_duration_seconds', 'histogram', 'vfio-user command latency, from dispatch to reply, summed over the devices of a type.');
  const latency = new Map<string, { parent: string; type: string; h: HistogramSnapshot }>();
  for (const d of devices) {
    const labels = { uuid: d.uuid, parent: d.parent.name, type: d.type.id };
    m.add('umdev_device_info', labels, 1);
    m.add('umdev_device_online', labels, d.online ? 1 : 0);
    const insight = s.insight;
    m.add('umdev_device_client_attached', labels, insight?.client(d) === undefined ? 0 : 1);
    const c = insight?.counters(d);
    if (c !== undefined) {
      m.add('umdev_device_vfio_user_requests_total', labels, c.requests);
      m.add('umdev_device_vfio_user_errors_total', labels, c.errors);
      m.add('umdev_device_interrupts_total', labels, c.interrupts);
      m.add('umdev_device_dma_maps_total', labels, c.dmaMaps);
      m.add('umdev_device_dma_unmaps_total', labels, c.dmaUnmaps);
      m.add('umdev_device_dma_bytes_total', labels, c.dmaBytes);
      const key = `${d.parent.name}\0${d.type.id}`;
      const prev = latency.get(key);
      latency.set(key, { parent: d.parent.name, type: d.type.id, h: addHistograms(prev?.h, c.latency) });
    }
    const h = insight?.host(d);
    if (h !== undefined) {
      m.add('umdev_device_host_resident_memory_bytes', labels, h.rssBytes);
      m.add('umdev_device_host_cpu_seconds_total', labels, h.cpuSeconds);
    }
  }
  for (const l of latency.values()) m.histogram('umdev_vfio_user_request_duration_seconds', { parent: l.parent, type: l.type }, l.h);

  const fuse = s.insight?.fuse();
  m.declare('umdev_fuse_requests_total', 'counter', 'FUSE requests served, by opcode.');
  m.declare('umdev_fuse_request_errors_total', 'counter', 'FUSE requests answered with an error, by opcode.');
  m.declare('umdev_fuse_request_duration_seconds', 'histogram', 'FUSE request latency, from read to reply.');
  if (fuse !== undefined) {
    for (const [op, v] of Object.entries(fuse.ops)) {
      m.add('umdev_fuse_requests_total', { op }, v.requests);
      m.add('umdev_fuse_request_errors_total', { op }, v.errors);
    }
    m.histogram('umdev_fuse_request_duration_seconds', {}, fuse.latency);
  }

  m.declare('umdev_api_requests_total', 'counter', 'Control API requests, by method, route pattern and status code.');
  for (const c of s.api.counts()) m.add('umdev_api_requests_total', { method: c.method, route: c.route, code: String(c.code) }, c.count);
  m.declare('umdev_api_request_duration_seconds', 'histogram', 'Control API latency of non-streaming routes.');
  m.histogram('umdev_api_request_duration_seconds', {}, s.api.latency());

  m.declare('umdev_migrations_total', 'counter', 'Finished live migrations, by direction and result.');
  m.declare('umdev_migrations_in_progress', 'gauge', 'Live migrations running now.');
  m.declare('umdev_migration_bytes_total', 'counter', 'Migration stream bytes sent (out) or received (in).');
  const totals = s.board?.totals();
  const active = s.board?.active() ?? [];
  for (const direction of ['out', 'in'] as const) {
    for (const result of ['done', 'failed'] as const) m.add('umdev_migrations_total', { direction, result }, totals?.finished[direction][result] ?? 0);
    m.add('umdev_migrations_in_progress', { direction }, active.filter((a) => a.direction === direction).length);
    m.add('umdev_migration_bytes_total', { direction }, totals?.bytes[direction] ?? 0);
  }

  const self = procStat('self');
  m.declare('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.');
  m.declare('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.');
  m.declare('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.');
  if (self !== undefined) {
    m.add('process_cpu_seconds_total', {}, self.cpuSeconds);
    m.add('process_resident_memory_bytes', {}, self.rssBytes);
    m.add('process_start_time_seconds', {}, bootSeconds() + self.startTicks / 100);
  }
  return m.text();
}
