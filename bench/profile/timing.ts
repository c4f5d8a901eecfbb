/** Timing inside a bench Worker, where workerd's clock stands still inside synchronous code. */

/** A macrotask turn: workerd's clock advances only across one. */
export const tick = () => new Promise((r) => setTimeout(r, 0));

/**
 * Milliseconds of one `run`, read between two turns: a run that ends with synchronous work (onnxruntime-web's last
 * session, after a session chain's last yield) is only counted whole when a turn follows it.
 */
export async function timedRun(run: () => unknown): Promise<number> {
  await tick();
  const t = performance.now();
  await run();
  await tick();
  return performance.now() - t;
}
