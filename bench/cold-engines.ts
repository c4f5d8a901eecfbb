/**
 * `npm run bench:cold-engines` (#24, #26): a fresh isolate's first request, with the int8 towers run by onnxruntime-web
 * sessions and by our kernels (IMAGE_ENGINE / TEXT_ENGINE), alternated in one run: the total a client waits, the
 * tower load (reads, sha256, then session creation or weight packing) and the first run. Writes the table into
 * docs/PERFORMANCE.md between the bench-cold-engines markers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { seedR2 } from '../scripts/seed-r2.ts';
import { ensureFullBuild, FULL_DIR, FULL_MODEL_ID } from './full-build.ts';
import { median, ms, publishReport, serverTiming } from './stats.ts';
import { PREPROCESS_FIXTURES } from './test-images.ts';
import { COMPUTE, startDev } from './workerd-server.ts';

const REPEATS = Number(process.env.BENCH_RUNS ?? 2);
const ENGINES = ['onnxruntime', 'kernels'] as const;
const log = (l: string) => process.stderr.write(`[bench:cold-engines] ${l}\n`);

await ensureFullBuild();
await seedR2(FULL_DIR, ['int8'], log);
const photo = new Uint8Array(readFileSync(join(PREPROCESS_FIXTURES, 'grace_hopper.jpg')));

interface Cold {
  total: number;
  load: number;
  create: number;
  firstRun: number;
}
const results = new Map<string, Cold[]>();
for (let r = 0; r < REPEATS; r++)
  for (const tower of ['image', 'text'] as const)
    for (const engine of r % 2 === 0 ? ENGINES : [...ENGINES].reverse()) {
      log(`run ${r + 1}: cold ${tower} request, ${engine}`);
      const dev = await startDev(FULL_MODEL_ID, 8796, [`IMAGE_ENGINE:${engine}`, `TEXT_ENGINE:${engine}`]);
      try {
        const t0 = performance.now();
        const res = await fetch(
          `${dev.url}/v1/${tower === 'image' ? 'images/embeddings' : 'embeddings'}`,
          tower === 'image'
            ? { method: 'POST', headers: { 'content-type': 'image/jpeg', ...COMPUTE }, body: photo }
            : {
                method: 'POST',
                headers: { 'content-type': 'application/json', ...COMPUTE },
                body: JSON.stringify({ input: 'a photo of a dog' }),
              },
        );
        await res.arrayBuffer();
        const total = performance.now() - t0;
        if (!res.ok) throw new Error(`cold ${tower} request (${engine}): ${res.status}`);
        const info = (await (await fetch(`${dev.url}/v1/models`)).json()) as {
          data: { loads: { tower: string; engine: string; wallMs: number; createMs: number }[] }[];
        };
        const load = info.data[0].loads.find((l) => l.tower === tower);
        if (load?.engine !== engine) throw new Error(`the ${tower} tower loaded with ${load?.engine}, not ${engine}`);
        const key = `${tower}/${engine}`;
        results.set(key, [
          ...(results.get(key) ?? []),
          { total, load: load.wallMs, create: load.createMs, firstRun: serverTiming(res, 'infer') },
        ]);
      } finally {
        await dev.stop();
      }
    }

const of = (tower: string, engine: string, f: keyof Cold) =>
  median((results.get(`${tower}/${engine}`) ?? []).map((c) => c[f]));
const lines = [
  `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:cold-engines\` (\`${FULL_MODEL_ID}\`, int8, \`wrangler dev\`: a fresh isolate per request, ${REPEATS} of each, alternated; medians; the image a 512×600 JPEG, the text 5 words).`,
  '',
  '| first request | engine | total | tower load (reads, sha256, create or pack; overlapped) | of which session create | first run | total / onnxruntime |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
];
for (const tower of ['image', 'text'])
  for (const engine of ENGINES)
    lines.push(
      `| ${tower} | ${engine} | ${ms(of(tower, engine, 'total'))} ms | ${ms(of(tower, engine, 'load'))} ms | ${ms(of(tower, engine, 'create'))} ms | ${ms(of(tower, engine, 'firstRun'))} ms | ${(of(tower, engine, 'total') / of(tower, 'onnxruntime', 'total')).toFixed(2)}× |`,
    );
publishReport('bench-cold-engines', lines.join('\n'));
