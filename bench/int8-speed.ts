import { openLocalModel, readManifest } from '../src/adapters/node/local-model.ts';
import type { ClipModel } from '../src/model/clip-model.ts';
import { embedPixels } from '../src/model/pipelines/embed-images.ts';
import { embedTexts } from '../src/model/pipelines/embed-texts.ts';
import { median, ms } from './stats.ts';
import { photoTensor } from './test-images.ts';

const builds = process.argv.slice(2);
if (builds.length === 0) throw new Error('usage: npm run bench:int8 -- model-shards/<a> [model-shards/<b> ...]');
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const first = readManifest(builds[0]);
const pixels = await photoTensor(first.preprocess);
// 70 tokens with SOT and EOT: 17 repeats of four one-token words.
const long = 'a big brown dog '.repeat(17).trim();
const int8 = { precision: 'int8' } as const;
const cases = {
  image: (m: ClipModel) => embedPixels(m, pixels, 1, int8),
  'text 5 words': (m: ClipModel) => embedTexts(m, ['a photo of a dog'], int8),
  'text 70 tokens': (m: ClipModel) => embedTexts(m, [long], int8),
};
const lines = ['| runtime | case | ' + builds.join(' | ') + ' |', `| --- | --- |${' ---: |'.repeat(builds.length)}`];
for (const runtime of ['node', 'web'] as const) {
  for (const [name, run] of Object.entries(cases)) {
    const cells: string[] = [];
    // One build loaded at a time: onnxruntime-web keeps every session in one wasm memory.
    for (const b of builds) {
      const model = await openLocalModel(b, { runtime });
      await run(model);
      const times: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const t0 = performance.now();
        await run(model);
        times.push(performance.now() - t0);
      }
      cells.push(`${ms(median(times))} ms`);
      await model.close();
    }
    lines.push(`| ${runtime} | ${name} | ${cells.join(' | ')} |`);
    process.stderr.write(`${lines.at(-1)}\n`);
  }
}
process.stdout.write(`${lines.join('\n')}\n`);
