/**
 * One model API: the CLI and the Worker run the same pipelines, so for the same inputs and build the Worker's routes
 * answer what the CLI answered in Node (test/worker/global-setup.ts). `edge-clip embed` against the embedding routes
 * is in embeddings.test.ts; here `prompts build`, `eval` and `label --model`.
 */
import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { decodeBase64 } from '../../src/contracts/base64.ts';
import { decodeClassifier } from '../../src/contracts/classifier-blob.ts';
import { labelsetKey } from '../../src/contracts/kv-keys.ts';
import type { ModelManifest } from '../../src/contracts/manifest.ts';
import worker from '../../src/worker/index.ts';
import { fixture, seedModel } from './seed.ts';

const { zeroShot, images, cli } = inject('reference');
const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
const call = (path: string, init?: RequestInit) =>
  worker.fetch(new Request(`http://edge${path}`, init) as Request<unknown, IncomingRequestCfProperties>, env, ctx);
const ADMIN = { authorization: 'Bearer test-admin-token-0123456789abcdef' };

type Scores = { label: string; index: number; score: number }[];

let manifest: ModelManifest;
const imageBytes: Uint8Array[] = [];

beforeAll(async () => {
  manifest = await seedModel(env, 'tiny-st', 'tiny');
  await env.PROMPTS.put(labelsetKey('tiny', manifest.buildHash, 'int8', 'animals'), decodeBase64(zeroShot.blobBase64));
  for (const name of images) imageBytes.push(await fixture(env, `preprocess/${name}`));
});

const classify = async (bytes: Uint8Array): Promise<Scores> => {
  const res = await call(`/v1/classify?labelset=animals&top_k=${zeroShot.set.labels.length}&precision=int8`, {
    method: 'POST',
    headers: { 'content-type': 'image/jpeg', 'cache-control': 'no-store' },
    body: bytes as Uint8Array<ArrayBuffer>,
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { results: Scores }).results;
};

describe('the CLI and the Worker give the same answers', () => {
  it('PUT /v1/labelsets computes the rows edge-clip prompts build computes (within float16 rounding)', async () => {
    const { labels, templates } = zeroShot.set;
    const res = await call('/v1/labelsets/animals-edge', {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...ADMIN },
      body: JSON.stringify({ labels, templates, precision: 'fp32' }),
    });
    expect(res.status).toBe(201);
    const stored = await env.PROMPTS.get(
      labelsetKey('tiny', manifest.buildHash, 'fp32', 'animals-edge'),
      'arrayBuffer',
    );
    const { header, weights } = decodeClassifier(new Uint8Array(stored!));
    expect(header.dtype).toBe('float16');
    expect(cli.promptsBuildFp32).toHaveLength(labels.length);
    for (const [r, row] of cli.promptsBuildFp32.entries()) {
      expect(row).toHaveLength(header.dim);
      // float16 keeps 11 significant bits: |x|·2⁻¹¹ ≤ 5e-4 for a unit row, plus fp32's difference between runtimes.
      for (const [i, v] of row.entries()) expect(Math.abs(weights[r * header.dim + i] - v)).toBeLessThan(6e-4);
    }
  });

  it('edge-clip label --model gives the scores /v1/classify gives', async () => {
    expect(cli.label).toHaveLength(imageBytes.length);
    for (const [i, bytes] of imageBytes.entries()) {
      const edge = await classify(bytes);
      const local = cli.label[i];
      expect(local.map((r) => r.index).sort()).toEqual(edge.map((r) => r.index).sort());
      // onnxruntime-node (the CLI) and -web (the Worker) round int8 products differently.
      for (const r of edge)
        expect(Math.abs(r.score - local.find((l) => l.index === r.index)!.score)).toBeLessThan(2e-3);
    }
  });

  it('edge-clip eval counts the top-1 / top-5 that /v1/classify ranks', async () => {
    let top1 = 0;
    let top5 = 0;
    for (const [i, bytes] of imageBytes.entries()) {
      // Image i sits in the class folder i of the eval dataset.
      const ranked = (await classify(bytes)).map((r) => r.index);
      if (ranked[0] === i) top1++;
      if (ranked.slice(0, 5).includes(i)) top5++;
    }
    expect(cli.eval).toMatchObject({
      images: imageBytes.length,
      top1: top1 / imageBytes.length,
      top5: top5 / imageBytes.length,
    });
  });
});
