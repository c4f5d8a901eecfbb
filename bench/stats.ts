/** Timing helpers for benchmarks: warm-up, then the median of N wall-clock runs. */

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

export const ms = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
export const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
