import { loadRunner, loadTokenizer, readManifest } from '../src/adapters/node/local-build.ts';
import { IMAGE_INPUT, TEXT_INPUT } from '../src/contracts/tensors.ts';
import { packIds } from '../src/model/text-batch.ts';
import type { TowerRunner } from '../src/model/tower-runner.ts';
import { median, ms } from './stats.ts';
import { photoTensor } from './test-images.ts';

const builds = process.argv.slice(2);
if (builds.length === 0) throw new Error('usage: npm run bench:int8 -- model-shards/<a> [model-shards/<b> ...]');
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const first = readManifest(builds[0]);
const tokenizer = await loadTokenizer(builds[0], first);
const S = first.preprocess.size;
const pixels = await photoTensor(first.preprocess);
const five = packIds([tokenizer.tokenize('a photo of a dog').ids]);
const long = packIds([
  tokenizer.tokenize('a detailed photo of a small brown dog running in a park '.repeat(8)).ids.slice(0, 70),
]);
const cases = {
  image: (r: TowerRunner) => r.run(IMAGE_INPUT, pixels, [1, 3, S, S]),
  'text 5 words': (r: TowerRunner) => r.run(TEXT_INPUT, five.data, five.dims),
  'text 70 tokens': (r: TowerRunner) => r.run(TEXT_INPUT, long.data, long.dims),
};
const lines = ['| runtime | case | ' + builds.join(' | ') + ' |', `| --- | --- |${' ---: |'.repeat(builds.length)}`];
for (const runtime of ['node', 'web'] as const) {
  for (const [name, run] of Object.entries(cases)) {
    const tower = name === 'image' ? 'image' : 'text';
    const cells: string[] = [];
    // One build loaded at a time: onnxruntime-web keeps every session in one wasm memory.
    for (const b of builds) {
      const runner = await loadRunner(b, readManifest(b), tower, 'int8', runtime);
      await run(runner);
      const times: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const t0 = performance.now();
        await run(runner);
        times.push(performance.now() - t0);
      }
      cells.push(`${ms(median(times))} ms`);
      for (const s of runner.sessions) await s.release();
    }
    lines.push(`| ${runtime} | ${name} | ${cells.join(' | ')} |`);
    process.stderr.write(`${lines.at(-1)}\n`);
  }
}
process.stdout.write(`${lines.join('\n')}\n`);
