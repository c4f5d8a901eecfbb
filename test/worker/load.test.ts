/**
 * The isolate under concurrent requests (the in-process half of the load checks; test/scripts/serve-load.test.ts
 * loads the served Worker over its socket): prompts of concurrent requests share batches without changing any row,
 * and identical images in flight run once.
 */
import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type WorkerEnv } from '../../src/worker/build-app.ts';
import { fixture, seedModel } from './seed.ts';

// Both engines of the int8 towers: the scheduler and the batcher sit in front of either.
const apps = {
  kernels: buildApp({ ...env, IMAGE_ENGINE: 'kernels', TEXT_ENGINE: 'kernels' } as unknown as WorkerEnv),
  onnxruntime: buildApp({ ...env, IMAGE_ENGINE: 'onnxruntime', TEXT_ENGINE: 'onnxruntime' } as unknown as WorkerEnv),
};
let app = apps.kernels;
const call = (path: string, init?: RequestInit) => app.request(path, init);
const COMPUTE = { 'cache-control': 'no-cache' };

async function embedText(input: string): Promise<number[]> {
  const res = await call('/v1/embeddings', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...COMPUTE },
    body: JSON.stringify({ input }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: { embedding: number[] }[] }).data[0].embedding;
}

async function embedImage(body: Uint8Array): Promise<number[]> {
  const res = await call('/v1/images/embeddings', {
    method: 'POST',
    headers: { 'content-type': 'image/jpeg', ...COMPUTE },
    body,
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: { embedding: number[] }[] }).data[0].embedding;
}

interface QueueStats {
  textBatches: { batches: number; rows: number };
  imageRuns: { started: number; joined: number };
}
async function queueStats(): Promise<QueueStats> {
  const res = await call('/v1/models');
  return ((await res.json()) as { data: { queue: QueueStats }[] }).data[0].queue;
}

let jpeg: Uint8Array;
beforeAll(async () => {
  await seedModel(env, 'tiny-st', 'tiny');
  jpeg = await fixture(env, 'preprocess/grace_hopper.jpg');
});

describe.each(['kernels', 'onnxruntime'] as const)('under concurrent requests (%s)', (engine) => {
  beforeAll(() => {
    app = apps[engine];
  });

  it('prompts of concurrent requests run in shared batches, and every row matches the row computed alone', async () => {
    // Different lengths, so that batches pad their shorter rows.
    const prompts = Array.from({ length: 24 }, (_, i) => `a ${'very '.repeat(i % 6)}small photo of thing ${i}`);
    const alone: number[][] = [];
    for (const p of prompts) alone.push(await embedText(p));
    const before = await queueStats();
    // An image holds the thread first, so that the prompts queue up behind it and batch.
    const image = embedImage(jpeg);
    const together = await Promise.all(prompts.map(embedText));
    await image;
    const after = await queueStats();
    const rows = after.textBatches.rows - before.textBatches.rows;
    const batches = after.textBatches.batches - before.textBatches.batches;
    expect(rows).toBe(prompts.length);
    expect(batches).toBeLessThan(prompts.length);
    // A row does not depend on its batch-mates or on the padding, up to float32 rounding (the kernels sum in another
    // order for other shapes): far below what any score can see.
    for (const [i, row] of together.entries()) {
      const worst = Math.max(...row.map((v, k) => Math.abs(v - alone[i][k])));
      expect(worst).toBeLessThan(1e-6);
    }
  });

  it('identical prompts and images in flight are computed once, and every caller gets the result', async () => {
    const before = await queueStats();
    const images = await Promise.all(Array.from({ length: 6 }, () => embedImage(jpeg)));
    const texts = await Promise.all(Array.from({ length: 6 }, () => embedText('the same prompt, six times')));
    const after = await queueStats();
    expect(after.imageRuns.started - before.imageRuns.started).toBe(1);
    expect(after.imageRuns.joined - before.imageRuns.joined).toBe(5);
    expect(after.textBatches.rows - before.textBatches.rows).toBe(1);
    for (const e of images) expect(e).toEqual(images[0]);
    for (const e of texts) expect(e).toEqual(texts[0]);
  });
});
