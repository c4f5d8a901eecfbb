/** Timing helpers for benchmarks: warm-up, then the median of N wall-clock runs; report output. */
import { readFileSync, writeFileSync } from 'node:fs';

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export async function timeMedian(
  runs: number,
  fn: () => Promise<unknown>,
  warmup = 1,
): Promise<{ median: number; runs: number[] }> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return { median: median(times), runs: times };
}

/** The q-quantile (0..1) of xs, nearest rank. */
export const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};

export const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
export const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

/** Prints a report and puts it into `doc` between `<!-- NAME:start -->` and `<!-- NAME:end -->`. */
export function publishReport(name: string, report: string, doc = 'docs/PERFORMANCE.md'): void {
  process.stdout.write(`${report}\n`);
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const text = readFileSync(doc, 'utf8');
  if (!text.includes(start) || !text.includes(end)) return;
  writeFileSync(
    doc,
    `${text.slice(0, text.indexOf(start) + start.length)}\n${report}\n${text.slice(text.indexOf(end))}`,
  );
  process.stderr.write(`updated ${doc}\n`);
}

/** A duration from a response's Server-Timing header (NaN when absent). */
export const serverTiming = (res: Response, name: string): number =>
  Number(new RegExp(`${name};dur=([\\d.]+)`).exec(res.headers.get('server-timing') ?? '')?.[1] ?? Number.NaN);
