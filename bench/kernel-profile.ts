/**
 * `npm run bench:kernel-profile [-- a.wasm b.wasm …]`: where the plain kernel image tower spends its time in Node,
 * per kernel export (GEMM, quantization, FastGelu, depthwise, LayerNorm), for one or more kernel builds run
 * alternately on the same full-size build (default: the committed src/kernels/kernels.wasm). Compare a change by
 * building the old and new .wasm (scripts/build-kernels.ts's flags) and passing both. `PLAIN_TILE=5` runs the plain
 * GEMM in tiles of 5 rows (builds that have `gemm_plain5`), as `pickKernels` may choose; default 4. Prints min / median ms per
 * export over ROUNDS runs (default 6, at least 2, the first dropped); workerd's clock does not advance inside a run,
 * so this split exists only in Node (`bench:kernel-share` measures one kernel's share there).
 */
import { readFileSync } from 'node:fs';
import { readManifest } from '../src/adapters/node/local-model.ts';
import { diskReader } from '../src/adapters/node/ort-runtimes.ts';
import { ImageTowerRunner } from '../src/kernels/image-tower-runner.ts';
import { type KernelExports, Kernels, type PlainTile } from '../src/kernels/kernels.ts';
import { towerInitializers } from '../src/kernels/onnx-initializers.ts';
import { ensureFullBuild, FULL_DIR } from './full-build.ts';
import { syntheticPixels } from './profile/ort-profile.ts';

const TIMED = [
  'gemm_plain',
  'gemm_plain5',
  'quantize_rows',
  'fast_gelu',
  'depthwise7',
  'layer_norm',
  'scale_add',
] as const;
const rounds = Math.max(2, Number(process.env.ROUNDS ?? 6));
const tile: PlainTile = process.env.PLAIN_TILE === '5' ? 5 : 4;
const files = process.argv.slice(2).length ? process.argv.slice(2) : ['src/kernels/kernels.wasm'];

await ensureFullBuild();
const manifest = readManifest(FULL_DIR);
const size = manifest.preprocess.size;
const weights = await towerInitializers(manifest.towers.image.int8?.segments ?? [], diskReader(FULL_DIR));
const pixels = syntheticPixels(size);

const subjects = await Promise.all(
  files.map(async (file) => {
    const kernels = await Kernels.create(new WebAssembly.Module(readFileSync(file)), 'plain', tile);
    // The instance's exports are frozen: the runner gets a copy whose timed functions add up their time.
    const totals = new Map<string, number>();
    const exports: Record<string, unknown> = { ...kernels.x };
    for (const name of TIMED) {
      const f = kernels.x[name] as ((...args: number[]) => void) | undefined;
      if (!f) continue;
      exports[name] = (...args: number[]) => {
        const t = performance.now();
        f(...args);
        totals.set(name, (totals.get(name) ?? 0) + performance.now() - t);
      };
    }
    Object.assign(kernels, { x: exports as unknown as KernelExports });
    return { file, runner: ImageTowerRunner.load(kernels, weights, size), totals, runs: [] as Map<string, number>[] };
  }),
);
for (let round = 0; round < rounds; round++)
  for (const s of subjects) {
    s.totals.clear();
    const t = performance.now();
    s.runner.run(pixels);
    s.runs.push(new Map([['tower', performance.now() - t], ...s.totals]));
  }
for (const s of subjects) {
  const kept = s.runs.slice(1);
  const cells = ['tower', ...TIMED.filter((key) => s.runs.some((r) => r.has(key)))].map((key) => {
    const v = kept.map((r) => r.get(key) ?? 0).sort((a, b) => a - b);
    return `${key} ${v[0].toFixed(0)} / ${v[v.length >> 1].toFixed(0)}`;
  });
  console.log(`${s.file}: ${cells.join(', ')} ms (min / median of ${kept.length})`);
}
