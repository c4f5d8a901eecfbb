/**
 * `npm run bench:kernel-segments` (#26): the memory each segment of the full-size `--segmented` build holds when a
 * segment Worker runs it in our kernels, against what the build measured for onnxruntime-web (the cut's budget).
 * Measured as the build measures (`edge-clip measure`: a fresh process per segment, the segment Worker's own host,
 * its largest shapes). Writes the table into docs/PERFORMANCE.md between the bench-kernel-segments markers.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readManifest } from '../src/adapters/node/local-model.ts';
import { segmentLoadingBytes, segmentServingBytes, TOWERS } from '../src/contracts/manifest.ts';
import { measureSegment } from '../tool/converter/segment-memory.ts';
import { mib, publishReport } from './stats.ts';

const DIR = process.argv[2] ?? join('.cache', 'bench', 'segmented');
if (!existsSync(join(DIR, 'manifest.json')))
  throw new Error(
    `${DIR} has no build: make one with npx edge-clip build --checkpoint <full-size synth> --segmented --out ${DIR}`,
  );
const manifest = readManifest(DIR);
const rows: string[] = [];
let worst = { kernels: 0, onnxruntime: 0 };
for (const tower of TOWERS) {
  const build = manifest.towers[tower].int8;
  if (!build) continue;
  for (const segment of build.segments) {
    process.stderr.write(`[bench:kernel-segments] ${tower} ${segment.index}\n`);
    const k = await measureSegment({
      dir: DIR,
      tower,
      segment,
      sequence: manifest.tokenizer.contextLength,
      engine: 'kernels',
    });
    const o = segment.memory;
    const weights = segment.externalData.reduce((a, e) => a + e.bytes, 0);
    const serving = segmentServingBytes(k);
    const loading = segmentLoadingBytes(k);
    worst = {
      kernels: Math.max(worst.kernels, serving, loading),
      onnxruntime: Math.max(worst.onnxruntime, o ? Math.max(segmentServingBytes(o), segmentLoadingBytes(o)) : 0),
    };
    rows.push(
      `| ${tower} ${segment.index} | ${mib(weights)} | ${o ? mib(segmentServingBytes(o)) : '—'} / ${o ? mib(segmentLoadingBytes(o)) : '—'} | ${mib(serving)} / ${mib(loading)} | ${mib(k.wasmAfterRunBytes)} |`,
    );
  }
}
const budget = manifest.towers.image.int8?.segmentBudget;
publishReport(
  'bench-kernel-segments',
  [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:kernel-segments\` (the full-size random-weight build in \`${DIR}\`, made with \`--segmented\`, budget ${budget ? mib(budget) : '—'} MiB a segment; Node, plain SIMD128; serving = wasm + a request's JS buffers, loading = JS file bytes + wasm after packing; MiB).`,
    '',
    '| segment | int8 weights | onnxruntime-web serving / loading (the build) | our kernels serving / loading | kernels wasm |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    `Largest: ${mib(worst.kernels)} MiB with the kernels, ${mib(worst.onnxruntime)} MiB with onnxruntime-web.`,
  ].join('\n'),
);
