/**
 * `npm run bench:origin`: the fp32 origin on this machine's CPU with the full-size random-weight build. Throughput
 * with 16 concurrent clients, dynamic batching on vs off; and what the edge adds to an fp32 request over loopback.
 */
import { join } from 'node:path';
import { freePort, startOrigin } from '../origin/start-origin.ts';
import { openLocalModel, readManifest } from '../src/adapters/node/local-model.ts';
import { encodeInferRequest, HEADER_LENGTH, type V2Tensor } from '../src/contracts/inference-protocol.ts';
import { ms, publishReport, timeMedian } from './stats.ts';
import { startDev } from './workerd-server.ts';

const MODEL_ID = 'convnext_large_d_320-random';
const DIR = join('model-shards', MODEL_ID);
const CLIENTS = 16;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const manifest = readManifest(DIR);
const tokenizer = await (await openLocalModel(DIR)).tokenizer();
const log = (l: string) => process.stderr.write(`[bench:origin] ${l}\n`);

const texts = Array.from(
  { length: CLIENTS },
  (_, i) => `a photo of a ${['red', 'small', 'happy', 'old'][i % 4]} ${['dog', 'cat', 'car', 'house'][i >> 2]}`,
);
const textTensors: V2Tensor[] = texts.map((t) => {
  const ids = tokenizer.tokenize(t).ids;
  return { name: 'input_ids', datatype: 'INT64', shape: [1, ids.length], data: BigInt64Array.from(ids.map(BigInt)) };
});
const size = manifest.preprocess.size;
const imageTensor: V2Tensor = {
  name: 'pixel_values',
  datatype: 'FP32',
  shape: [1, 3, size, size],
  data: new Float32Array(3 * size * size).fill(0.1),
};

async function infer(url: string, model: string, t: V2Tensor): Promise<void> {
  const { body, headerLength } = encodeInferRequest([t], [model.endsWith('image') ? 'image_embeds' : 'text_embeds']);
  const res = await fetch(`${url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', [HEADER_LENGTH]: String(headerLength) },
    body: body as Uint8Array<ArrayBuffer>,
  });
  if (!res.ok) throw new Error(`${model}: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
}

async function throughput(url: string, model: string, inputs: V2Tensor[], rounds: number): Promise<number> {
  await infer(url, model, inputs[0]);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      for (let r = 0; r < rounds; r++) await infer(url, model, inputs[c % inputs.length]);
    }),
  );
  return (CLIENTS * rounds) / ((performance.now() - t0) / 1000);
}

const results: Record<string, { texts: number; images: number }> = {};
for (const [label, maxBatch] of [
  ['batching on (≤16 rows, 4 ms window)', 16],
  ['batching off', 1],
] as const) {
  const origin = await startOrigin({
    modelDir: DIR,
    port: await freePort(),
    maxBatch,
    windowMs: 4,
    device: 'cpu',
    log,
  });
  try {
    const texts = await throughput(origin.url, 'edgeclip_text', textTensors, ROUNDS * 8);
    const images = await throughput(origin.url, 'edgeclip_image', [imageTensor], ROUNDS);
    results[label] = { texts, images };
    log(`${label}: ${texts.toFixed(1)} texts/s, ${images.toFixed(2)} images/s`);
  } finally {
    await origin.close();
  }
}

// Edge overhead: the same fp32 text request straight to the origin vs through the worker (workerd → origin).
const origin = await startOrigin({ modelDir: DIR, port: 8790, maxBatch: 1, device: 'cpu', log });
let direct: number;
let viaEdge: number;
try {
  direct = (await timeMedian(20, () => infer(origin.url, 'edgeclip_text', textTensors[0]))).median;
  const dev = await startDev(MODEL_ID, 8788, [`ORIGIN_URL:${origin.url}`]);
  try {
    const body = JSON.stringify({ input: texts[0], precision: 'fp32' });
    viaEdge = (
      await timeMedian(
        20,
        async () => {
          const r = await fetch(`${dev.url}/v1/embeddings`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body,
          });
          if (!r.ok) throw new Error(`edge fp32: ${r.status} ${await r.text()}`);
          await r.arrayBuffer();
        },
        2,
      )
    ).median;
  } finally {
    await dev.stop();
  }
} finally {
  await origin.close();
}

const lines = [
  `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench:origin\` (CPU origin, onnxruntime-node fp32, ${CLIENTS} concurrent clients, full-size random-weight build).`,
  '',
  '| origin on this machine | texts/s (≈8 tokens) | images/s (320×320) |',
  '| --- | ---: | ---: |',
  ...Object.entries(results).map(([k, v]) => `| ${k} | ${v.texts.toFixed(1)} | ${v.images.toFixed(2)} |`),
  '',
  '| fp32 text request, loopback (median of 20) | ms |',
  '| --- | ---: |',
  `| straight to the origin (v2 binary) | ${ms(direct)} |`,
  `| through the worker (workerd → origin) | ${ms(viaEdge)} |`,
  `| edge overhead (tokenize, JSON, v2 encode, extra hop) | ${ms(viaEdge - direct)} |`,
];
publishReport('bench-origin', lines.join('\n'));
