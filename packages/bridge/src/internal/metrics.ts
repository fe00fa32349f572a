/** A small Prometheus registry: counters and gauges, text exposition format 0.0.4. */
export class Metrics {
  private counters = new Map<string, { help: string; value: number }>();
  private gauges = new Map<string, { help: string; read: () => number }>();

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

  gauge(name: string, help: string, read: () => number): void {
    this.gauges.set(name, { help, read });
  }

  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, c] of this.counters) out[k] = c.value;
    for (const [k, g] of this.gauges) out[k] = g.read();
    return out;
  }

  exposition(): string {
    const lines: string[] = [];
    for (const [name, c] of this.counters) {
      lines.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`, `${name} ${c.value}`);
    }
    for (const [name, g] of this.gauges) {
      lines.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`, `${name} ${g.read()}`);
    }
    return lines.join('\n') + '\n';
  }
}
