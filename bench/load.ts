/**
 * `npm run bench:load`: the full-size random-weight int8 build in one workerd isolate (served as `npm start` serves
 * it) under 50 clients for 60 s, each sending one request at a time with `Cache-Control: no-cache`: mostly short text
 * embeddings, 1 in 40 an image embedding, 1 in 40 an ImageNet-1k classify; after a 503 a client waits what
 * Retry-After says. /healthz is probed throughout and right
 * after the clients stop; then 20 concurrent requests for one image. Reports per-kind percentiles and every answer
 * other than 200 by cause. Loopback only; writes docs/RELIABILITY.md. The int8 towers run in our kernels (the served
 * default); `-- --engine onnxruntime` runs them in onnxruntime-web sessions (IMAGE_ENGINE / TEXT_ENGINE) and writes its
 * own report.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { seedImagenet } from '../scripts/seed-kv.ts';
import { seedR2 } from '../scripts/seed-r2.ts';
import { ms, publishReport, quantile } from './stats.ts';
import { PREPROCESS_FIXTURES } from './test-images.ts';
import { COMPUTE, startServed } from './workerd-server.ts';

const MODEL_ID = 'convnext_large_d_320-random';
/** `npm run bench:load -- --engine onnxruntime`: the int8 towers in onnxruntime-web sessions; its own report. */
const ENGINE = process.argv.includes('--engine') ? process.argv[process.argv.indexOf('--engine') + 1] : 'kernels';
if (ENGINE !== 'onnxruntime' && ENGINE !== 'kernels') throw new Error('--engine is onnxruntime or kernels');
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 50);
const SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 60);
const log = (l: string) => process.stderr.write(`[bench:load] ${l}\n`);

const dir = join('model-shards', MODEL_ID);
if (!existsSync(join(dir, 'manifest.json')))
  throw new Error(`model-shards/${MODEL_ID} is missing: run npm start (offline) or npm run bench once`);
await seedR2(dir, ['int8'], log);
await seedImagenet(dir, log);
const jpeg = new Uint8Array(readFileSync(join(PREPROCESS_FIXTURES, 'grace_hopper.jpg')));
const dev = await startServed(MODEL_ID, 8797, { IMAGE_ENGINE: ENGINE, TEXT_ENGINE: ENGINE });
const WORDS = ['cat', 'dog', 'red', 'car', 'tree', 'small', 'photo', 'blue', 'house', 'bird', 'running', 'old'];

type Kind = 'text' | 'image' | 'classify' | 'healthz';
interface Sample {
  kind: Kind;
  ms: number;
  status: number;
  /** Why it was not a 200: the app's error type, the proxy's text, or the client's error. */
  cause?: string;
  /** The answer's Retry-After, in seconds. */
  retryAfter?: number;
}

async function timed(kind: Kind, path: string, init?: RequestInit): Promise<Sample> {
  const t0 = performance.now();
  try {
    const res = await fetch(`${dev.url}${path}`, { ...init, signal: AbortSignal.timeout(120_000) });
    const body = await res.text();
    const sample: Sample = { kind, ms: performance.now() - t0, status: res.status };
    if (res.status !== 200) {
      let type: string | undefined;
      try {
        type = (JSON.parse(body) as { error?: { type?: string } }).error?.type;
      } catch {}
      sample.cause = type ? `app: ${type}` : `not the app: ${body.slice(0, 100)}`;
      const retry = res.headers.get('retry-after');
      if (retry !== null) sample.retryAfter = Number(retry);
    }
    return sample;
  } catch (e) {
    return { kind, ms: performance.now() - t0, status: 0, cause: `client: ${String(e).slice(0, 100)}` };
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
const classify = () =>
  timed('classify', '/v1/classify?labelset=imagenet1k', {
    method: 'POST',
    headers: { 'content-type': 'image/jpeg', ...COMPUTE },
    body: jpeg,
  });

function table(samples: Sample[]): string[] {
  const lines = [
    '| requests | count | statuses | p50 | p95 | p99 | max |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const kind of ['text', 'image', 'classify', 'healthz'] as const) {
    const xs = samples.filter((s) => s.kind === kind);
    if (xs.length === 0) continue;
    const counts = new Map<number, number>();
    for (const s of xs) counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
    const statuses = [...counts].map(([s, k]) => `${s}×${k}`).join(' ');
    // Latency of the answers that carried a result; a shed request's time is in its own line below.
    const t = xs.filter((s) => s.status === 200).map((s) => s.ms);
    const q = (p: number) => (t.length ? `${ms(quantile(t, p))} ms` : '—');
    lines.push(
      `| ${kind} | ${xs.length} | ${statuses} | ${q(0.5)} | ${q(0.95)} | ${q(0.99)} | ${t.length ? `${ms(Math.max(...t))} ms` : '—'} |`,
    );
  }
  return lines;
}

try {
  log('warming up both towers and the label set');
  await text(0);
  await image();
  await classify();

  log(`${CLIENTS} clients for ${SECONDS} s`);
  const samples: Sample[] = [];
  const deadline = Date.now() + SECONDS * 1000;
  let n = 0;
  const client = async () => {
    while (Date.now() < deadline) {
      const i = n++;
      const sample = await (i % 40 === 0 ? image() : i % 40 === 20 ? classify() : text(i));
      samples.push(sample);
      // A well-behaved client: after a 503 it waits as long as Retry-After says (up to the end of the run).
      if (sample.retryAfter !== undefined)
        await new Promise((r) =>
          setTimeout(r, Math.min(sample.retryAfter! * 1000, Math.max(0, deadline - Date.now()))),
        );
    }
  };
  const prober = async () => {
    while (Date.now() < deadline) {
      samples.push(await timed('healthz', '/healthz'));
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  const clientsDone = Promise.all(Array.from({ length: CLIENTS }, () => client()));
  await Promise.all([clientsDone, prober()]);
  const after = await timed('healthz', '/healthz');
  const models = (await (await fetch(`${dev.url}/v1/models`)).json()) as {
    data: { queue: { unitMs: { text?: number; image?: number } } | null }[];
  };
  const unitMs = models.data[0].queue?.unitMs ?? {};

  log('20 concurrent requests for the same image');
  const same = await Promise.all(Array.from({ length: 20 }, () => image()));

  const texts = samples.filter((s) => s.kind === 'text' && s.status === 200).length;
  const lines = [
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:load${ENGINE === 'onnxruntime' ? ' -- --engine onnxruntime' : ''}\` (int8 towers in ${ENGINE === 'kernels' ? 'our kernels' : 'onnxruntime-web'}; ${CLIENTS} clients × ${SECONDS} s, each one request at a time and waiting what Retry-After says after a 503, \`no-cache\`: texts, 1 in 40 an image, 1 in 40 an ImageNet-1k classify; one isolate served as \`npm start\` serves it, full-size random-weight int8 build, this 2-core VM).`,
    '',
    ...table(samples),
    '',
    `Texts answered: ${texts} (${Math.round((texts * 60) / SECONDS)} a minute). /healthz right after the clients stopped: ${after.status} in ${ms(after.ms)} ms.`,
    ...(unitMs.text || unitMs.image
      ? [
          '',
          `The isolate's scheduler measured ${unitMs.text ? ms(unitMs.text) : '—'} ms of text tower per prompt in its batches and ${unitMs.image ? ms(unitMs.image) : '—'} ms per image segment (mean of recent steps).`,
        ]
      : []),
  ];
  const causes = new Map<string, number>();
  for (const s of samples)
    if (s.status !== 200) {
      const key = `${s.status} ${s.cause}${s.retryAfter !== undefined ? ' (Retry-After)' : ''}`;
      causes.set(key, (causes.get(key) ?? 0) + 1);
    }
  const shed = samples.filter((s) => s.status === 503 && s.cause?.startsWith('app:')).map((s) => s.ms);
  if (causes.size)
    lines.push(
      '',
      'Answers other than 200, by cause:',
      ...[...causes].map(([c, k]) => `- ${k}× ${c.replaceAll('`', "'").replaceAll('|', '/')}`),
    );
  if (shed.length)
    lines.push('', `The app's 503s answered in: p50 ${ms(quantile(shed, 0.5))} ms, max ${ms(Math.max(...shed))} ms.`);
  const sameOk = same.filter((s) => s.status === 200).map((s) => s.ms);
  lines.push(
    '',
    `20 concurrent no-cache requests for one image: ${sameOk.length} answered 200, the last after ${sameOk.length ? ms(Math.max(...sameOk)) : '—'} ms.`,
  );
  publishReport(ENGINE === 'kernels' ? 'load' : 'load-onnxruntime', lines.join('\n'), 'docs/RELIABILITY.md');
} finally {
  await dev.stop();
}
