/**
 * `npm run bench:segmented`: the production topology (gateway + one Worker per segment, service bindings) against a
 * single isolate, both running at once on this machine. After a warm-up (wasm tiers up per isolate, so every segment
 * Worker needs its own), requests alternate between the two so that the machine's drift hits both alike. Reports
 * latency, segments per tower and each segment Worker's memory as it reports it (its RPC `stats`, via /v1/models).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { seedR2 } from '../scripts/seed-r2.ts';
import { segmentConfigs } from '../scripts/segment-configs.ts';
import { ensureSegmentedBuild } from '../scripts/segmented-build.ts';
import { readManifest } from '../src/adapters/node/local-model.ts';
import { median, mib, ms, publishReport } from './stats.ts';
import { PREPROCESS_FIXTURES } from './test-images.ts';
import { COMPUTE, type DevServer, startDev } from './workerd-server.ts';

const SHARDS = 'model-shards';
const SINGLE = 'convnext_large_d_320-random';
const TEXT_RUNS = Number(process.env.BENCH_TEXT_RUNS ?? 100);
const IMAGE_RUNS = Number(process.env.BENCH_IMAGE_RUNS ?? 15);
const log = (l: string) => process.stderr.write(`[bench:segmented] ${l}\n`);
const jpeg = new Uint8Array(readFileSync(join(PREPROCESS_FIXTURES, 'grace_hopper.jpg')));

if (!readManifest(join(SHARDS, SINGLE)).towers.image.int8)
  throw new Error(`run npm run bench first (it builds ${SINGLE})`);
const SEGMENTED = await ensureSegmentedBuild(SHARDS, SINGLE, process.env.BENCH_SEGMENT_BUDGET, log);
const manifest = readManifest(join(SHARDS, SEGMENTED));
await seedR2(join(SHARDS, SINGLE), ['int8'], log);
await seedR2(join(SHARDS, SEGMENTED), ['int8'], log);

const timed = async (fn: () => Promise<Response>): Promise<number> => {
  const t0 = performance.now();
  const res = await fn();
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return performance.now() - t0;
};
const image = (s: DevServer) =>
  timed(() =>
    fetch(`${s.url}/v1/images/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg', ...COMPUTE },
      body: jpeg as Uint8Array<ArrayBuffer>,
    }),
  );
const text = (s: DevServer, input: string | string[] = 'a photo of a dog') =>
  timed(() =>
    fetch(`${s.url}/v1/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...COMPUTE },
      body: JSON.stringify({ input }),
    }),
  );
/** The text segments' worst case: full 77-token prompts, more than one slice of the measured batch. */
const LONG = Array.from({ length: 8 }, (_, i) => `${'a very long caption about a photo of a dog '.repeat(12)}${i}`);

/**
 * Alternates single / segmented requests. The median of the per-pair ratios is the headline: neighbours in time see
 * the same machine, so the VM's slow and fast phases cancel out; the ratio of the medians is reported beside it.
 */
async function alternate(runs: number, fn: (s: DevServer) => Promise<number>, a: DevServer, b: DevServer) {
  const one: number[] = [];
  const many: number[] = [];
  for (let i = 0; i < runs; i++) {
    one.push(await fn(a));
    many.push(await fn(b));
  }
  log(`pairs (ms): ${one.map((x, i) => `${ms(x)}/${ms(many[i])}`).join(' ')}`);
  return { one: median(one), many: median(many), ratio: median(many.map((m, i) => m / one[i])) };
}

interface SegmentStats {
  tower: string;
  index: number;
  weight_bytes: number;
  js_load_bytes: number;
  wasm_after_create_bytes: number;
  wasm_bytes: number;
  js_request_bytes: number;
  serving_bytes: number;
  loading_bytes: number;
  measured_serving_bytes: number | null;
}

log('starting the single isolate and the gateway + segment Workers');
const single = await startDev(SINGLE, 8788, [], ['--inspector-port', '9331']);
const { gateway, segments } = segmentConfigs(join(SHARDS, SEGMENTED));
let seg: DevServer | undefined;
try {
  seg = await startDev(
    SEGMENTED,
    8789,
    [],
    [
      '-c',
      gateway,
      ...segments.flatMap((f) => ['-c', f]),
      '--persist-to',
      '.wrangler/state',
      '--inspector-port',
      '9332',
    ],
  );
  const cold = { image: [await image(single), await image(seg)], text: [await text(single), await text(seg)] };
  log(`cold: image ${ms(cold.image[0])} / ${ms(cold.image[1])} ms, text ${ms(cold.text[0])} / ${ms(cold.text[1])} ms`);
  log('warming up');
  for (let i = 0; i < 40; i++) for (const s of [single, seg]) await text(s);
  for (const s of [single, seg]) await text(s, LONG);
  for (let i = 0; i < 3; i++) for (const s of [single, seg]) await image(s);
  log(`measuring: ${TEXT_RUNS} text and ${IMAGE_RUNS} image requests each, alternating`);
  const t = await alternate(TEXT_RUNS, text, single, seg);
  const im = await alternate(IMAGE_RUNS, image, single, seg);
  const stats = ((await (await fetch(`${seg.url}/v1/models`)).json()) as { data: { segments: SegmentStats[] }[] })
    .data[0].segments;
  const count = (tower: 'image' | 'text') => manifest.towers[tower].int8!.segments.length;
  const budget = manifest.towers.image.int8!.segmentBudget!;
  const worst = (k: 'serving_bytes' | 'loading_bytes') => mib(Math.max(...stats.map((x) => x[k])));
  publishReport(
    'bench-segmented',
    [
      `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:segmented\` (both topologies running at once in \`wrangler dev\`; after a warm-up, ${TEXT_RUNS} text and ${IMAGE_RUNS} image requests to each, alternating; medians; ratio = median of the per-pair ratios). Segment budget ${mib(budget)} MiB: ${count('image')} image and ${count('text')} text segments.`,
      '',
      '| topology | image (320², JPEG upload) | text (5 words) |',
      '| --- | ---: | ---: |',
      `| single isolate | ${ms(im.one)} ms | ${ms(t.one)} ms |`,
      `| gateway + ${segments.length} segment Workers | ${ms(im.many)} ms | ${ms(t.many)} ms |`,
      `| segmented / single: median of pair ratios (ratio of medians) | **${im.ratio.toFixed(2)}×** (${(im.many / im.one).toFixed(2)}×) | **${t.ratio.toFixed(2)}×** (${(t.many / t.one).toFixed(2)}×) |`,
      `| first request (cold), single / segmented | ${ms(cold.image[0])} / ${ms(cold.image[1])} ms | ${ms(cold.text[0])} / ${ms(cold.text[1])} ms |`,
      '',
      `Memory per segment Worker as it reports it after the run, which included 8 prompts of 77 tokens in one request (MiB). Serving = wasm + JS buffers of a request (what the budget bounds; worst ${worst('serving_bytes')}); loading = JS-held files + wasm while the session is created (worst ${worst('loading_bytes')}); build = the build's measurement of serving in Node.`,
      '',
      '| segment | weights | JS while loading | wasm after creation | loading | wasm now | JS per request | serving | build |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...stats.map(
        (x) =>
          `| ${x.tower} ${x.index} | ${mib(x.weight_bytes)} | ${mib(x.js_load_bytes)} | ${mib(x.wasm_after_create_bytes)} | ${mib(x.loading_bytes)} | ${mib(x.wasm_bytes)} | ${mib(x.js_request_bytes)} | **${mib(x.serving_bytes)}** | ${x.measured_serving_bytes === null ? '–' : mib(x.measured_serving_bytes)} |`,
      ),
    ].join('\n'),
  );
} finally {
  await seg?.stop();
  await single.stop();
}
