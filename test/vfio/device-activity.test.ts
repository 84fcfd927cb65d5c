/** A device's activity recorder, and the check the root applies to counters another process reports. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeviceActivity, LATENCY_BOUNDS_S, activityOf, parseClientInfo, parseDeviceCounters, zeroCounters } from '../../src/vfio/device-activity.js';
import { PciDevice } from '../../src/vfio/pci-device.js';
import { isUmdevError } from '../../src/errors.js';

test('requests land in the right latency bucket, failures count as errors, the client attaches and detaches', () => {
  const a = new DeviceActivity();
  a.request(0.000001, false);
  a.request(0.00001, true);
  a.request(10, false);
  a.interrupt();
  a.dmaMap();
  a.dmaUnmap();
  a.dma(4096);
  const s = a.snapshot();
  assert.equal(s.requests, 3);
  assert.equal(s.errors, 1);
  assert.deepEqual([s.interrupts, s.dmaMaps, s.dmaUnmaps, s.dmaBytes], [1, 1, 1, 4096]);
  assert.equal(s.latency.counts[0], 1);
  assert.equal(s.latency.counts[1], 1, '10 µs is at most the 10 µs bound');
  assert.equal(s.latency.counts[LATENCY_BOUNDS_S.length], 1, '10 s is above every bound');
  const c = a.attach({ pid: 7, uid: 1, gid: 2 }, 1000);
  assert.deepEqual(a.client, { pid: 7, uid: 1, gid: 2, since: 1000 });
  const later = a.attach({ pid: 8, uid: 1, gid: 2 }, 2000);
  a.detach(c);
  assert.equal(a.client, later, 'an old connection going away leaves the new client');
  a.detach(later);
  assert.equal(a.client, undefined);
});

test('a PciDevice makes its recorder on first use only, and activityOf never makes one', () => {
  const d = new PciDevice({ identity: { vendorId: 1, deviceId: 2, classCode: 0 } });
  assert.equal(activityOf(d), undefined);
  d.activity.dma(1);
  assert.equal(activityOf(d)?.snapshot().dmaBytes, 1);
  assert.equal(activityOf({}), undefined);
  assert.equal(activityOf(null), undefined);
});

test('counters from another process are taken only when every field is in range and the buckets are the known ones', () => {
  const good = new DeviceActivity();
  good.request(0.001, false);
  assert.deepEqual(parseDeviceCounters(JSON.parse(JSON.stringify(good.snapshot()))), good.snapshot());
  assert.deepEqual(parseDeviceCounters(zeroCounters()), zeroCounters());
  const bad = (mutate: (o: Record<string, unknown> & { latency: Record<string, unknown> }) => void): void => {
    const o = JSON.parse(JSON.stringify(good.snapshot())) as Record<string, unknown> & { latency: Record<string, unknown> };
    mutate(o);
    assert.throws(() => parseDeviceCounters(o), (e) => isUmdevError(e) && e.errno === 'EINVAL');
  };
  bad((o) => (o.requests = -1));
  bad((o) => (o.errors = 1.5));
  bad((o) => (o.interrupts = '3'));
  bad((o) => delete o.dmaBytes);
  bad((o) => (o.latency.bounds = [1, 2, 3]));
  bad((o) => (o.latency.counts = [...(o.latency.counts as number[]), 0]));
  bad((o) => (o.latency.count = 99));
  bad((o) => (o.latency.sum = Number.NaN));
  assert.throws(() => parseDeviceCounters(null), (e) => isUmdevError(e) && e.errno === 'EINVAL');
  assert.deepEqual(parseClientInfo({ pid: 1, uid: 2, gid: 3, since: 4 }), { pid: 1, uid: 2, gid: 3, since: 4 });
  assert.throws(() => parseClientInfo({ pid: -1, uid: 2, gid: 3, since: 4 }), (e) => isUmdevError(e) && e.errno === 'EINVAL');
});
