/** A labelled gauge's series: each its label values and its value. */
export type Series = Array<[Record<string, string>, number]>;

/** A label value as the exposition format quotes it. */
function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelled(name: string, labels: Record<string, string>): string {
  return `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${labelValue(v)}"`)
    .join(',')}}`;
}

/** A small Prometheus registry: counters and gauges (plain or labelled), text exposition format 0.0.4. */
export class Metrics {
  private counters = new Map<string, { help: string; value: number }>();
  private gauges = new Map<string, { help: string; read: () => number | Series }>();
  private labelled = new Map<string, { help: string; series: Map<string, [Record<string, string>, number]> }>();

  constructor() {
    // Process gauges an SRE expects next to the bridge's own (names as prom-client has them).
    this.gauge('process_resident_memory_bytes', 'Resident memory size in bytes', () => process.memoryUsage.rss());
    this.gauge('nodejs_heap_size_total_bytes', 'V8 heap reserved (young and old generations), in bytes', () => process.memoryUsage().heapTotal);
    this.gauge('nodejs_heap_size_used_bytes', 'V8 heap in use, in bytes', () => process.memoryUsage().heapUsed);
    this.gauge('nodejs_external_memory_bytes', 'Memory held outside the V8 heap (buffers), in bytes', () => process.memoryUsage().external);
  }

  counter(name: string, help: string): { inc(n?: number): void; get(): number } {
    const c = this.counters.get(name) ?? { help, value: 0 };
    this.counters.set(name, c);
    return {
      inc: (n = 1) => {
        c.value += n;
      },
      get: () => c.value,
    };
  }

  /** A counter with labels: one series per label set, created on first increment. */
  labelledCounter(name: string, help: string): { inc(labels: Record<string, string>, n?: number): void } {
    const c = this.labelled.get(name) ?? { help, series: new Map<string, [Record<string, string>, number]>() };
    this.labelled.set(name, c);
    return {
      inc: (labels, n = 1) => {
        const key = JSON.stringify(Object.entries(labels).sort());
        const s = c.series.get(key);
        if (s) s[1] += n;
        else c.series.set(key, [{ ...labels }, n]);
      },
    };
  }

  /** A gauge: one value, or one series per label set (`read` returns [labels, value] pairs). */
  gauge(name: string, help: string, read: () => number | Series): void {
    this.gauges.set(name, { help, read });
  }

  /**
   * A gauge whose value is read asynchronously (from another thread, or the engine): a scrape
   * shows the last value read and, when that is older than `maxAgeMs`, starts a read for the
   * next scrape; nothing is read while nobody scrapes. 0 until the first read is back; a failed
   * read keeps the last value. `read` returns null when there is nothing to read.
   */
  asyncGauge(name: string, help: string, read: () => Promise<number> | null, maxAgeMs = 1000): void {
    const last = { value: 0, at: -Infinity, reading: false };
    this.gauge(name, help, () => {
      const now = Date.now();
      if (!last.reading && now - last.at >= maxAgeMs) {
        const pending = read();
        if (pending) {
          last.reading = true;
          last.at = now;
          pending
            .then((v) => (last.value = v))
            .catch(() => {})
            .finally(() => (last.reading = false));
        }
      }
      return last.value;
    });
  }

  /** Every value: labelled series under `name{label="value"}`. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, c] of this.counters) out[k] = c.value;
    for (const [k, c] of this.labelled) for (const [labels, value] of c.series.values()) out[labelled(k, labels)] = value;
    for (const [k, g] of this.gauges) {
      const v = g.read();
      if (typeof v === 'number') out[k] = v;
      else for (const [labels, value] of v) out[labelled(k, labels)] = value;
    }
    return out;
  }

  exposition(): string {
    const lines: string[] = [];
    for (const [name, c] of this.counters) {
      lines.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`, `${name} ${c.value}`);
    }
    for (const [name, c] of this.labelled) {
      lines.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`);
      for (const [labels, value] of c.series.values()) lines.push(`${labelled(name, labels)} ${value}`);
    }
    for (const [name, g] of this.gauges) {
      lines.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`);
      const v = g.read();
      if (typeof v === 'number') lines.push(`${name} ${v}`);
      else for (const [labels, value] of v) lines.push(`${labelled(name, labels)} ${value}`);
    }
    return lines.join('\n') + '\n';
  }
}
