/**
 * `npm run bench:kernel-tower` (issue #26): the full-size int8 image tower wholly in our kernels
 * (`src/kernels/image-tower-runner.ts`) against onnxruntime-web running the same build, warm, in Node and in workerd
 * (the bench Worker), with each one's wasm memory and how close the embeddings are. Writes the table into
 * docs/PERFORMANCE.md between the bench-kernel-tower markers.
 */

import { nodeKernelModules } from '../src/adapters/node/kernel-wasm.ts';
import { openLocalModel, readManifest } from '../src/adapters/node/local-model.ts';
import { diskReader } from '../src/adapters/node/ort-runtimes.ts';
import { TEXT_INPUT } from '../src/contracts/tensors.ts';
import { ImageTowerRunner } from '../src/kernels/image-tower-runner.ts';
import { Kernels, type PlainTile, pickKernels } from '../src/kernels/kernels.ts';
import { towerInitializers } from '../src/kernels/onnx-initializers.ts';
import { TextTowerRunner, textHeads } from '../src/kernels/text-tower-runner.ts';
import { embedPixels } from '../src/model/pipelines/embed-images.ts';
import { rowCosines } from '../tool/quantize/row-cosines.ts';
import { ensureFullBuild, FULL_DIR, FULL_MODEL_ID, startFullBuildWorker } from './full-build.ts';
import { syntheticPixels } from './profile/ort-profile.ts';
import { median, mib, ms, publishReport } from './stats.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const log = (l: string) => process.stderr.write(`[bench:kernel-tower] ${l}\n`);

await ensureFullBuild();
const manifest = readManifest(FULL_DIR);
const size = manifest.preprocess.size;
const pixels = syntheticPixels(size);
const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => rowCosines(a, b, a.length)[0];
/**
 * Median ms of each of `runs` after `warmups` unmeasured calls, the runs alternated call by call so that a slow phase
 * of the machine falls on both (this VM has phases of 1.5–2×).
 */
const alternated = async (runs: (() => unknown)[], warmups = 1) => {
  for (let i = 0; i < warmups; i++) for (const run of runs) await run();
  const times: number[][] = runs.map(() => []);
  for (let i = 0; i < RUNS; i++)
    for (const [j, run] of runs.entries()) {
      const t0 = performance.now();
      await run();
      times[j].push(performance.now() - t0);
    }
  return times.map(median);
};

log('onnxruntime-web and our kernels (plain SIMD128, the tile picked at start-up) in Node, alternated');
const model = await openLocalModel(FULL_DIR, { runtime: 'web' });
const t0 = performance.now();
const { kernels } = await pickKernels({ plain: (await nodeKernelModules()).plain });
const runner = ImageTowerRunner.load(
  kernels,
  await towerInitializers(manifest.towers.image.int8?.segments ?? [], diskReader(FULL_DIR)),
  size,
);
const nodeLoad = performance.now() - t0;
let ortEmbedding: Float32Array = new Float32Array();
let ours: Float32Array = new Float32Array();
const [ortNode, kernelNode] = await alternated([
  async () => {
    ortEmbedding = (await embedPixels(model, pixels, 1, { precision: 'int8' })).data;
  },
  () => {
    ours = runner.run(pixels);
  },
]);
await model.close();

// The text tower: a 5-word prompt and a 70-token one (SOT … EOT), one at a time, as the #24 table times them.
const PROMPTS = {
  '5 words': [49406, 320, 1125, 539, 320, 2368, 49407],
  '70 tokens': [49406, ...Array.from({ length: 68 }, (_, i) => 320 + ((i * 7919) % 40000)), 49407],
};
type TextRow = { prompt: string; ortNode: number; kernelNode: number; cos: number; ids: number[] };
const textRows: TextRow[] = [];
{
  log('text: onnxruntime-web and our kernels (plain) in Node');
  const textModel = await openLocalModel(FULL_DIR, { runtime: 'web' });
  const ortText = await textModel.tower('text', 'int8');
  const textRunner = TextTowerRunner.load(
    await Kernels.create((await nodeKernelModules()).plain, 'plain', kernels.plainTile),
    await towerInitializers(manifest.towers.text.int8?.segments ?? [], diskReader(FULL_DIR)),
    textHeads(manifest),
  );
  for (const [prompt, list] of Object.entries(PROMPTS)) {
    const ids = BigInt64Array.from(list, BigInt);
    let theirs: Float32Array = new Float32Array();
    let mine: Float32Array = new Float32Array();
    const [ortMs, kernelMs] = await alternated(
      [
        async () => {
          theirs = await ortText.run(TEXT_INPUT, ids, [1, ids.length]);
        },
        () => {
          mine = textRunner.run(ids, 1, ids.length);
        },
      ],
      5,
    );
    textRows.push({ prompt, ortNode: ortMs, kernelNode: kernelMs, cos: cosine(mine, theirs), ids: list });
  }
  await textModel.close();
}

const dev = await startFullBuildWorker('bench/profile/wrangler.toml', 8799, log);
const get = async <T>(path: string): Promise<T> => {
  const res = await fetch(`${dev.url}${path}`, { signal: AbortSignal.timeout(600_000) });
  if (!res.ok) throw new Error(`bench Worker ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
};
type KernelTower = {
  loadMs: number;
  /** Our runs and onnxruntime-web's, alternated in the same isolate. */
  times: number[];
  ortTimes: number[];
  memoryBytes: number;
  embedding: number[];
  variant: string;
  plainTile: PlainTile;
  probe?: { plainMs: number; plain5Ms: number; relaxedMs?: number };
};
let ortMemoryBytes = 0;
const image: Record<'plain' | 'relaxed' | 'auto', KernelTower> = {} as Record<
  'plain' | 'relaxed' | 'auto',
  KernelTower
>;
const textWorkerd: KernelTower[] = [];
try {
  log('onnxruntime-web in workerd (its sessions stay loaded for the runs alternated with ours)');
  ortMemoryBytes = (await get<{ memoryBytes: number }>(`/?tower=image&profile=0&runs=1&size=${size}`)).memoryBytes;
  for (const variant of ['plain', 'relaxed', 'auto'] as const) {
    log(
      `our kernels in workerd (${variant === 'auto' ? 'picked by the start-up probe' : variant}), alternated with onnxruntime-web`,
    );
    image[variant] = await get<KernelTower>(`/kernel-tower?variant=${variant}&runs=${RUNS}`);
  }
  for (const row of textRows) {
    log(`text (${row.prompt}) in workerd: our kernels as the probe picks them, alternated with onnxruntime-web`);
    textWorkerd.push(
      await get<KernelTower>(`/kernel-tower?tower=text&variant=auto&runs=${RUNS}&ids=${row.ids.join(',')}`),
    );
  }
} finally {
  await dev.stop();
}
const { plain, relaxed, auto } = image;
const ortW = median([...plain.ortTimes, ...relaxed.ortTimes, ...auto.ortTimes]);
/** Ours over onnxruntime-web's runs alternated with them. */
const ratio = (t: KernelTower) => `${(median(t.times) / median(t.ortTimes)).toFixed(2)}×`;
publishReport(
  'bench-kernel-tower',
  [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`BENCH_RUNS=${RUNS} npm run bench:kernel-tower\` (the int8 image tower of \`${FULL_MODEL_ID}\`, one ${size}×${size} synthetic image, median of ${RUNS} warm runs; each of our runs alternated with one of onnxruntime-web's in the same process or isolate, and "/ onnxruntime" is the ratio of the two medians; "vs onnxruntime" is the cosine to onnxruntime-web's embedding in Node).`,
    '',
    '| runtime | engine | warm image | / onnxruntime | load (read, verify, pack; the start-up probe where it picks) | wasm memory | vs onnxruntime |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    `| Node | onnxruntime-web | ${ms(ortNode)} ms | 1.00× | | | |`,
    `| Node | our kernels, plain SIMD128 (${kernels.plainTile}-row tiles) | ${ms(kernelNode)} ms | ${(kernelNode / ortNode).toFixed(2)}× | ${ms(nodeLoad)} ms | ${mib(kernels.memoryBytes)} MiB | ${cosine(ours, ortEmbedding).toFixed(6)} |`,
    `| workerd | onnxruntime-web | ${ms(ortW)} ms (median of all its runs below) | 1.00× | | ${mib(ortMemoryBytes)} MiB | |`,
    `| workerd | our kernels, plain SIMD128 (${plain.plainTile}-row tiles) | ${ms(median(plain.times))} ms | ${ratio(plain)} (of ${ms(median(plain.ortTimes))} ms) | ${ms(plain.loadMs)} ms | ${mib(plain.memoryBytes)} MiB | ${cosine(plain.embedding, ortEmbedding).toFixed(6)} |`,
    `| workerd | our kernels, relaxed SIMD | ${ms(median(relaxed.times))} ms | ${ratio(relaxed)} (of ${ms(median(relaxed.ortTimes))} ms) | ${ms(relaxed.loadMs)} ms | ${mib(relaxed.memoryBytes)} MiB | ${cosine(relaxed.embedding, ortEmbedding).toFixed(6)} |`,
    `| workerd | our kernels, picked at start-up: ${auto.variant} | ${ms(median(auto.times))} ms | ${ratio(auto)} (of ${ms(median(auto.ortTimes))} ms) | ${ms(auto.loadMs)} ms | ${mib(auto.memoryBytes)} MiB | ${cosine(auto.embedding, ortEmbedding).toFixed(6)} |`,
    '',
    `The start-up probe in workerd (one 64×768×768 linear, ms per run): plain ${auto.probe?.plainMs.toFixed(2)} in tiles of 4 rows, ${auto.probe?.plain5Ms.toFixed(2)} in tiles of 5, relaxed ${auto.probe?.relaxedMs?.toFixed(2) ?? '—'}; the plain rows use the tile their own probe picked (in Node, ${kernels.plainTile} rows).`,
    '',
    `The int8 text tower (\`src/kernels/text-tower-runner.ts\`), one prompt a run, warm (median of ${RUNS} runs after 5, alternated as above); "vs onnxruntime" as above:`,
    '',
    '| prompt | onnxruntime-web, Node | our kernels (plain), Node | onnxruntime-web, workerd | our kernels (picked), workerd | / onnxruntime, workerd | vs onnxruntime |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...textRows.map((r, i) => {
      const w = textWorkerd[i];
      return `| ${r.prompt} | ${ms(r.ortNode)} ms | ${ms(r.kernelNode)} ms | ${ms(median(w.ortTimes))} ms | ${ms(median(w.times))} ms (${w.variant}) | ${ratio(w)} | ${r.cos.toFixed(6)} |`;
    }),
  ].join('\n'),
);
