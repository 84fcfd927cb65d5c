/** The exposition writer: families grouped whatever the order samples come in, labels escaped, histograms cumulative. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram } from '../../src/metrics/histogram.js';
import { MetricsText, addHistograms } from '../../src/metrics/text-format.js';

test('samples of one family are written together under one HELP and TYPE, in declaration order', () => {
  const m = new MetricsText();
  m.declare('a_total', 'counter', 'A.');
  m.declare('b', 'gauge', 'B.');
  m.add('a_total', { x: '1' }, 1);
  m.add('b', {}, 2);
  m.add('a_total', { x: '2' }, 3);
  assert.equal(m.text(), '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 1\na_total{x="2"} 3\n# HELP b B.\n# TYPE b gauge\nb 2\n');
});

test('label values and help texts are escaped; a sample of an undeclared family is a bug', () => {
  const m = new MetricsText();
  m.declare('g', 'gauge', 'back\\slash\nnewline');
  m.add('g', { name: 'q"uote\\back\nline' }, 1);
  assert.match(m.text(), /^# HELP g back\\\\slash\\nnewline$/m);
  assert.match(m.text(), /^g\{name="q\\"uote\\\\back\\nline"\} 1$/m);
  assert.throws(() => m.add('nope', {}, 1), RangeError);
  assert.throws(() => m.declare('g', 'counter', 'other type'), RangeError);
  assert.throws(() => m.declare('bad-name', 'gauge', 'x'), RangeError);
});

test('a histogram is written cumulative, with +Inf equal to the count, and sums add bucket by bucket', () => {
  const h = new Histogram([0.1, 1]);
  for (const v of [0.05, 0.5, 0.7, 5]) h.observe(v);
  const m = new MetricsText();
  m.declare('d_seconds', 'histogram', 'D.');
  m.histogram('d_seconds', { t: 'x' }, h.snapshot());
  assert.deepEqual(m.text().split('\n').slice(2, 7), [
    'd_seconds_bucket{t="x",le="0.1"} 1',
    'd_seconds_bucket{t="x",le="1"} 3',
    'd_seconds_bucket{t="x",le="+Inf"} 4',
    'd_seconds_sum{t="x"} 6.25',
    'd_seconds_count{t="x"} 4',
  ]);
  const sum = addHistograms(h.snapshot(), h.snapshot());
  assert.deepEqual(sum.counts, [2, 4, 2]);
  assert.equal(sum.count, 8);
  assert.throws(() => new Histogram([1, 1]), RangeError);
});
