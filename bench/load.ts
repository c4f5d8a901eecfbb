/**
 * `npm run bench:load`: the full-size random-weight int8 build in one `wrangler dev` isolate under 50 concurrent
 * clients (text and images) for 60 s, with /healthz and /v1/models probed throughout; then how long /healthz waits
 * when it arrives while one image runs. Bounded in count and time, loopback only. Writes docs/RELIABILITY.md.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { seedR2 } from '../scripts/seed-r2.ts';
import { median, ms, publishReport, quantile } from './stats.ts';
import { PREPROCESS_FIXTURES } from './test-images.ts';
import { COMPUTE, startDev } from './workerd-server.ts';

const MODEL_ID = 'convnext_large_d_320-random';
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 50);
const SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 60);
const IMAGE_SHARE = 0.2;
const log = (l: string) => process.stderr.write(`[bench:load] ${l}\n`);

if (!existsSync(join('model-shards', MODEL_ID, 'manifest.json')))
  throw new Error(`model-shards/${MODEL_ID} is missing: run npm start (offline) or npm run bench once`);
await seedR2(join('model-shards', MODEL_ID), ['int8'], log);
const jpeg = new Uint8Array(readFileSync(join(PREPROCESS_FIXTURES, 'grace_hopper.jpg')));
const dev = await startDev(MODEL_ID, 8797);
const WORDS = ['cat', 'dog', 'red', 'car', 'tree', 'small', 'photo', 'blue', 'house', 'bird', 'running', 'old'];

interface Sample {
  kind: 'text' | 'image' | 'healthz' | 'models';
  ms: number;
  status: number;
  /** The error body's first characters, for answers other than 200. */
  reason?: string;
}

async function timed(kind: Sample['kind'], path: string, init?: RequestInit): Promise<Sample> {
  const t0 = performance.now();
  try {
    const res = await fetch(`${dev.url}${path}`, { ...init, signal: AbortSignal.timeout(120_000) });
    const body = await res.text();
    const sample: Sample = { kind, ms: performance.now() - t0, status: res.status };
    if (res.status !== 200) sample.reason = body.slice(0, 160);
    return sample;
  } catch (e) {
    return { kind, ms: performance.now() - t0, status: 0, reason: String(e).slice(0, 160) };
  }
}

const text = (i: number) =>
  timed('text', '/v1/embeddings', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...COMPUTE },
    body: JSON.stringify({ input: `a photo of a ${WORDS[i % WORDS.length]} ${WORDS[(i * 7) % WORDS.length]} ${i}` }),
  });
const image = () =>
  timed('image', '/v1/images/embeddings', {
    method: 'POST',
    headers: { 'content-type': 'image/jpeg', ...COMPUTE },
    body: jpeg,
  });

try {
  log('warming up both towers');
  await text(0);
  await image();

  log('probing /healthz while one image runs');
  const whileImage: number[] = [];
  for (let i = 0; i < 5; i++) {
    const running = image();
    await new Promise((r) => setTimeout(r, 300));
    whileImage.push((await timed('healthz', '/healthz')).ms);
    await running;
  }
  const idle: number[] = [];
  for (let i = 0; i < 5; i++) idle.push((await timed('healthz', '/healthz')).ms);

  log(`${CLIENTS} clients for ${SECONDS} s`);
  const samples: Sample[] = [];
  const deadline = Date.now() + SECONDS * 1000;
  let n = 0;
  const client = async (c: number) => {
    while (Date.now() < deadline) samples.push(await ((c + n++) % 10 < IMAGE_SHARE * 10 ? image() : text(n)));
  };
  const prober = async () => {
    while (Date.now() < deadline) {
      samples.push(await timed('healthz', '/healthz'), await timed('models', '/v1/models'));
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  await Promise.all([...Array.from({ length: CLIENTS }, (_, c) => client(c)), prober()]);

  const lines = [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:load\` (${CLIENTS} clients, ${SECONDS} s, ${IMAGE_SHARE * 100} % images, one \`wrangler dev\` isolate, full-size random-weight int8 build, this 2-core VM).`,
    '',
    '| requests | count | statuses | p50 | p99 | max |',
    '| --- | ---: | --- | ---: | ---: | ---: |',
  ];
  for (const kind of ['text', 'image', 'healthz', 'models'] as const) {
    const xs = samples.filter((s) => s.kind === kind);
    if (xs.length === 0) continue;
    const statuses = Object.entries(
      xs.reduce<Record<number, number>>((acc, s) => {
        acc[s.status] = (acc[s.status] ?? 0) + 1;
        return acc;
      }, {}),
    )
      .map(([s, k]) => `${s}×${k}`)
      .join(' ');
    const t = xs.map((s) => s.ms);
    lines.push(
      `| ${kind} | ${xs.length} | ${statuses} | ${ms(quantile(t, 0.5))} ms | ${ms(quantile(t, 0.99))} ms | ${ms(Math.max(...t))} ms |`,
    );
  }
  const reasons = new Map<string, number>();
  for (const s of samples)
    if (s.reason) reasons.set(`${s.status} ${s.reason}`, (reasons.get(`${s.status} ${s.reason}`) ?? 0) + 1);
  if (reasons.size)
    lines.push('', 'Answers other than 200:', ...[...reasons].map(([r, k]) => `- ${k}× \`${r.replaceAll('`', "'")}\``));
  lines.push(
    '',
    `/healthz idle: median ${ms(median(idle))} ms; sent 300 ms into a running image request: median ${ms(median(whileImage))} ms (max ${ms(Math.max(...whileImage))} ms).`,
  );
  publishReport('load', lines.join('\n'), 'docs/RELIABILITY.md');
} finally {
  await dev.stop();
}
