/**
 * `npm run bench:kernel-share [-- <export>]` (issue #24's depthwise share): one kernel's share of the int8 image tower
 * in workerd, for the plain and the relaxed GEMM. workerd's clock stands still inside a run, so the bench Worker
 * (`/kernel-share`) times the tower as built and the tower with that kernel (default `depthwise7`) replaced by a
 * no-op, alternated in one isolate; the kernel's time is the median of the paired differences, its share the median of
 * each pair's difference over that pair's whole tower (so a slow phase of the machine moves both). The differences
 * scatter by ±10 ms (without the kernel, the next one reads a map that was not just written, and each run has its own
 * noise): read it beside the kernel's own time (`bench:kernels`), and over several runs.
 * Writes the table into docs/PERFORMANCE.md between the bench-kernel-share markers.
 */
import { FULL_MODEL_ID, startFullBuildWorker } from './full-build.ts';
import { median, ms, publishReport } from './stats.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const op = process.argv[2] ?? 'depthwise7';
const log = (l: string) => process.stderr.write(`[bench:kernel-share] ${l}\n`);

const dev = await startFullBuildWorker('bench/profile/wrangler.toml', 8794, log);
const rows: string[] = [];
let pairs = RUNS;
try {
  for (const variant of ['plain', 'relaxed']) {
    log(`${variant}: the tower with and without ${op}, ${RUNS} pairs`);
    const q = new URLSearchParams({ variant, op, runs: String(RUNS) });
    const res = await fetch(`${dev.url}/kernel-share?${q}`, { signal: AbortSignal.timeout(900_000) });
    if (!res.ok) throw new Error(`bench Worker: ${res.status} ${await res.text()}`);
    const { runs, whole, without } = (await res.json()) as { runs: number; whole: number[]; without: number[] };
    pairs = runs;
    const time = median(whole.map((t, i) => t - without[i]));
    const share = median(whole.map((t, i) => (t - without[i]) / t));
    rows.push(
      `| ${variant} | ${ms(median(whole))} ms | ${ms(median(without))} ms | ${time.toFixed(1)} ms | ${(100 * share).toFixed(1)} % |`,
    );
  }
} finally {
  await dev.stop();
}
publishReport(
  'bench-kernel-share',
  [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`BENCH_RUNS=${pairs} npm run bench:kernel-share${op === 'depthwise7' ? '' : ` -- ${op}`}\` (the int8 image tower of \`${FULL_MODEL_ID}\` in our kernels, workerd, ${pairs} alternated pairs of runs in one isolate; \`${op}\`'s time is the median of the paired differences, its share the median of each pair's difference over its whole tower).`,
    '',
    `| GEMM | tower (median) | without \`${op}\` | \`${op}\` | share |`,
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n'),
);
