import type { Timing } from '../model/ports.ts';

/**
 * Sums the durations of the phases of one request (the model layer's `Timing`); the app hands them to hono/timing,
 * which writes the Server-Timing header.
 */
export class ServerTiming implements Timing {
  private readonly entries: [string, number][] = [];

  add(name: string, ms: number): void {
    const existing = this.entries.find((e) => e[0] === name);
    if (existing) existing[1] += ms;
    else this.entries.push([name, ms]);
  }

  async measure<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.add(name, performance.now() - t0);
    }
  }

  get empty(): boolean {
    return this.entries.length === 0;
  }

  phases(): readonly (readonly [string, number])[] {
    return this.entries;
  }
}
