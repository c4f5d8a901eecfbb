/**
 * `npm run bench:kernel-ab -- a.wasm b.wasm [--relaxed]`: two builds of our kernels (e.g. the committed
 * src/kernels/kernels.wasm and one compiled from a change with scripts/build-kernels.ts's flags) running the full-size
 * int8 image tower in workerd, alternated run by run in one isolate (BENCH_RUNS pairs, default 8). Prints each build's
 * min / median and the median of the paired differences; compare builds only this way on this VM, whose slow phases
 * move whole runs by 1.5–2×. Node has the same comparison per kernel in `bench:kernel-profile`.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { startFullBuildWorker } from './full-build.ts';
import { median } from './stats.ts';

const files = process.argv.slice(2).filter((a) => !a.startsWith('--'));
if (files.length !== 2) throw new Error('usage: npm run bench:kernel-ab -- a.wasm b.wasm [--relaxed]');
const variant = process.argv.includes('--relaxed') ? 'relaxed' : 'plain';
const runs = Number(process.env.BENCH_RUNS ?? 8);
const log = (l: string) => process.stderr.write(`[bench:kernel-ab] ${l}\n`);

mkdirSync('.cache/bench/kernel-ab', { recursive: true });
copyFileSync(files[0], '.cache/bench/kernel-ab/a.wasm');
copyFileSync(files[1], '.cache/bench/kernel-ab/b.wasm');
const dev = await startFullBuildWorker('bench/kernel-ab/wrangler.toml', 8793, log);
try {
  log(`${variant} GEMM, ${runs} alternated pairs`);
  const res = await fetch(`${dev.url}/?runs=${runs}&variant=${variant}`, { signal: AbortSignal.timeout(900_000) });
  if (!res.ok) throw new Error(`bench Worker: ${res.status} ${await res.text()}`);
  const { a, b, tiles } = (await res.json()) as { a: number[]; b: number[]; tiles: number[] };
  const line = (name: string, t: number[]) =>
    `${name}: min ${Math.min(...t).toFixed(0)} / median ${median(t).toFixed(0)} ms (${t.map((x) => x.toFixed(0)).join(', ')})`;
  const tile = (j: number) => (variant === 'plain' ? ` (${tiles[j]}-row tiles)` : '');
  console.log(line(`A ${files[0]}${tile(0)}`, a));
  console.log(line(`B ${files[1]}${tile(1)}`, b));
  console.log(`B − A, median of the pairs: ${median(b.map((t, i) => t - a[i])).toFixed(0)} ms`);
} finally {
  await dev.stop();
}
