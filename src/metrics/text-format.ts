/**
 * Concepts: the Prometheus text exposition format (version 0.0.4), which `promtool check metrics` reads. Samples are
 * added in any order and written grouped by family (a family split in two is an error to every parser), each
 * family under its `# HELP` and `# TYPE`. Label values and help texts are escaped as the format says, so a UUID,
 * a parent name or anything a vendor chose cannot break a line.
 */
import type { HistogramSnapshot } from './histogram.js';

export type MetricType = 'counter' | 'gauge' | 'histogram';
export type Labels = Readonly<Record<string, string>>;

/** The content type scrapers expect for this format. */
export const TEXT_FORMAT = 'text/plain; version=0.0.4; charset=utf-8';

interface Family {
  readonly type: MetricType;
  readonly help: string;
  readonly lines: string[];
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function labelText(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(',')}}`;
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** Collects one scrape; `text()` renders it. Used once per request. */
export class MetricsText {
  readonly #families = new Map<string, Family>();

  /** Declare a family (its help and type); idempotent, so a collector may declare before knowing it has samples. */
  declare(name: string, type: MetricType, help: string): void {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new RangeError(`bad metric name ${name}`);
    const f = this.#families.get(name);
    if (f === undefined) this.#families.set(name, { type, help, lines: [] });
    else if (f.type !== type) throw new RangeError(`${name} declared as ${f.type} and ${type}`);
  }

  #family(name: string, type: MetricType): Family {
    const f = this.#families.get(name);
    if (f === undefined || f.type !== type) throw new RangeError(`${name} is not declared as a ${type}`);
    return f;
  }

  /** One counter or gauge sample. */
  add(name: string, labels: Labels, value: number): void {
    const f = this.#families.get(name);
    if (f === undefined || f.type === 'histogram') throw new RangeError(`${name} is not declared as a counter or gauge`);
    f.lines.push(`${name}${labelText(labels)} ${num(value)}`);
  }

  /** One histogram's series: cumulative `_bucket`s up to `+Inf`, `_sum` and `_count`. */
  histogram(name: string, labels: Labels, h: HistogramSnapshot): void {
    const f = this.#family(name, 'histogram');
    let cumulative = 0;
    h.bounds.forEach((b, i) => {
      cumulative += h.counts[i] ?? 0;
      f.lines.push(`${name}_bucket${labelText({ ...labels, le: num(b) })} ${cumulative}`);
    });
    cumulative += h.counts[h.bounds.length] ?? 0;
    f.lines.push(`${name}_bucket${labelText({ ...labels, le: '+Inf' })} ${cumulative}`);
    f.lines.push(`${name}_sum${labelText(labels)} ${num(h.sum)}`);
    f.lines.push(`${name}_count${labelText(labels)} ${cumulative}`);
  }

  text(): string {
    const out: string[] = [];
    for (const [name, f] of this.#families) {
      out.push(`# HELP ${name} ${escapeHelp(f.help)}`, `# TYPE ${name} ${f.type}`, ...f.lines);
    }
    return `${out.join('\n')}\n`;
  }
}

/** Add `b`'s counts into `a` (same bounds); for summing per-device histograms into one per type. */
export function addHistograms(a: HistogramSnapshot | undefined, b: HistogramSnapshot): HistogramSnapshot {
  if (a === undefined) return { bounds: b.bounds, counts: [...b.counts], sum: b.sum, count: b.count };
  return { bounds: a.bounds, counts: a.counts.map((c, i) => c + (b.counts[i] ?? 0)), sum: a.sum + b.sum, count: a.count + b.count };
}
