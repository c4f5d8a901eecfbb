/**
 * `npm run bench:segmented`: the production topology (gateway + one Worker per segment, service bindings) against a
 * single isolate, in one run on this machine: warm image and text latency through HTTP, and each segment Worker's
 * wasm memory as it reports it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { seedR2 } from '../scripts/seed-r2.ts';
import { segmentConfigs } from '../scripts/segment-configs.ts';
import { main as cli } from '../tool/cli/main.ts';
import { readManifest } from '../tool/runtime/local-build.ts';
import { mib, ms, publishReport, timeMedian } from './stats.ts';
import { startDev } from './workerd-server.ts';

const SINGLE = 'convnext_large_d_320-random';
const SEGMENTED = `${SINGLE}-seg`;
const BUDGET = process.env.BENCH_SEGMENT_BUDGET ?? '100';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const log = (l: string) => process.stderr.write(`[bench:segmented] ${l}\n`);
const jpeg = new Uint8Array(readFileSync(resolve('../shared/conformance/preprocess/grace_hopper.jpg')));

if (!existsSync(join('model-shards', SINGLE, 'manifest.json')))
  throw new Error(`run npm run bench first (it builds ${SINGLE})`);
if (!existsSync(join('model-shards', SEGMENTED, 'manifest.json'))) {
  const source = readManifest(join('model-shards', SINGLE)).source.checkpoint;
  if (
    (await cli([
      'build',
      '--checkpoint',
      source,
      '--out',
      join('model-shards', SEGMENTED),
      '--precisions',
      'int8',
      '--segment-budget',
      BUDGET,
    ])) !== 0
  )
    throw new Error('segmented build failed');
}
await seedR2(join('model-shards', SINGLE), ['int8'], log);
await seedR2(join('model-shards', SEGMENTED), ['int8'], log);

async function measure(url: string): Promise<{ image: number; text: number }> {
  const image = () =>
    fetch(`${url}/v1/images/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: jpeg as Uint8Array<ArrayBuffer>,
    }).then((r) => r.arrayBuffer());
  const text = () =>
    fetch(`${url}/v1/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: 'a photo of a dog' }),
    }).then((r) => r.arrayBuffer());
  return { image: (await timeMedian(RUNS, image)).median, text: (await timeMedian(RUNS * 2, text)).median };
}

log('single isolate');
const single = await startDev(SINGLE, 8788);
const one = await measure(single.url).finally(() => single.stop());
log('gateway + segment Workers');
const { gateway, segments } = segmentConfigs(join('model-shards', SEGMENTED));
const seg = await startDev(
  SEGMENTED,
  8788,
  [],
  ['-c', gateway, ...segments.flatMap((f) => ['-c', f]), '--persist-to', '.wrangler/state'],
);
let many: { image: number; text: number };
let stats: { tower: string; index: number; weight_bytes: number; wasm_bytes: number }[];
try {
  many = await measure(seg.url);
  stats = ((await (await fetch(`${seg.url}/v1/models`)).json()) as { data: { segments: typeof stats }[] }).data[0]
    .segments;
} finally {
  await seg.stop();
}

const lines = [
  `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:segmented\` (warm requests through HTTP, median of ${RUNS} image / ${RUNS * 2} text; segment budget ${BUDGET} MiB).`,
  '',
  '| topology | image | text (5 words) |',
  '| --- | ---: | ---: |',
  `| single isolate | ${ms(one.image)} ms | ${ms(one.text)} ms |`,
  `| gateway + ${segments.length} segment Workers | ${ms(many.image)} ms (${(many.image / one.image).toFixed(2)}×) | ${ms(many.text)} ms (${(many.text / one.text).toFixed(2)}×) |`,
  '',
  '| segment Worker | weights | wasm memory after the run |',
  '| --- | ---: | ---: |',
  ...stats.map((s) => `| ${s.tower} ${s.index} | ${mib(s.weight_bytes)} MiB | ${mib(s.wasm_bytes)} MiB |`),
];
publishReport('bench-segmented', lines.join('\n'));
