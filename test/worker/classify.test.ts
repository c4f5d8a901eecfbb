import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { workerdOrt } from '../../src/adapters/workerd/ort-wasm.ts';
import { r2Files } from '../../src/adapters/workerd/r2-files.ts';
import { decodeBase64 } from '../../src/contracts/base64.ts';
import { labelsetKey } from '../../src/contracts/kv-keys.ts';
import type { ModelManifest } from '../../src/contracts/manifest.ts';
import { ClipModel } from '../../src/model/clip-model.ts';
import { labelSetClassifier } from '../../src/model/pipelines/classify.ts';
import { embedPixels } from '../../src/model/pipelines/embed-images.ts';
import { zeroShotScores } from '../../src/model/zero-shot.ts';
import worker from '../../src/worker/index.ts';
import { fixture, seedModel } from './seed.ts';

const reference = inject('reference');
const { zeroShot, images } = reference;
const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
const call = (path: string, init?: RequestInit) =>
  worker.fetch(new Request(`http://edge${path}`, init) as Request<unknown, IncomingRequestCfProperties>, env, ctx);
const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});
const ADMIN = { authorization: 'Bearer test-admin-token-0123456789abcdef' };

interface Scores {
  results: { label: string; index: number; score: number }[];
  labelset: string | null;
  data?: { index: number; results: Scores['results'] }[];
}

let manifest: ModelManifest;
const imageBytes: Uint8Array[] = [];
const dataUri = (b: Uint8Array) => {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return `data:image/jpeg;base64,${btoa(s)}`;
};

beforeAll(async () => {
  manifest = await seedModel(env, 'tiny-st', 'tiny');
  // What `edge-clip prompts upload` does: the CLI-built blob under this build's key.
  await env.PROMPTS.put(labelsetKey('tiny', manifest.buildHash, 'int8', 'animals'), decodeBase64(zeroShot.blobBase64));
  for (const name of images) imageBytes.push(await fixture(env, `preprocess/${name}`));
});

/**
 * The same labels with the same scores (within `tolerance`); labels whose scores differ by less than the tolerance
 * may come in either order, since two runtimes' rounding can swap a near-tie.
 */
const expectScores = (got: Scores['results'], want: Scores['results'], tolerance = 1e-3) => {
  expect(got.map((r) => r.index).sort()).toEqual(want.map((r) => r.index).sort());
  got.forEach((r, i) => {
    const same = want.find((w) => w.index === r.index)!;
    expect(Math.abs(r.score - same.score)).toBeLessThan(tolerance);
    if (i > 0) expect(got[i - 1].score).toBeGreaterThanOrEqual(r.score);
  });
};

describe('zero-shot scores against the reference implementation', () => {
  it("use exp(logit_scale)·cos: the reference's scale and logits_per_image, and their softmax", async () => {
    // The build's scale is the checkpoint's raw parameter; the similarity scale is its exp.
    expect(manifest.logitScale).toBe(Math.fround(reference.logitScale));
    const files = r2Files(env.MODELS, 'tiny');
    const model = ClipModel.open({ ort: workerdOrt(), readManifest: files.manifest, read: files.read });
    const pixels = await fixture(env, 'tiny/images.f32');
    const image = await embedPixels(model, new Float32Array(pixels.buffer, pixels.byteOffset, pixels.length / 4), 3, {
      precision: 'fp32',
    });
    // Each text as its own label (template "{c}"): a label's row is then its text's normalized embedding.
    const set = { name: 'reference', labels: reference.texts, templates: ['{c}'] };
    const { weights, labels } = await labelSetClassifier(model, set, { precision: 'fp32' });
    expect(reference.logitsPerImage).toHaveLength(3);
    for (const [i, expectedLogits] of reference.logitsPerImage.entries()) {
      const img = image.data.subarray(i * 24, (i + 1) * 24);
      expect(expectedLogits).toHaveLength(labels.length);
      for (const [j, want] of expectedLogits.entries()) {
        let cos = 0;
        for (let k = 0; k < 24; k++) cos += img[k] * weights[j * 24 + k];
        expect(Math.abs(Math.exp(manifest.logitScale) * cos - want)).toBeLessThan(5e-3);
      }
      const max = Math.max(...expectedLogits);
      const sum = expectedLogits.reduce((a, l) => a + Math.exp(l - max), 0);
      const scores = zeroShotScores(img, weights, labels, manifest.logitScale, labels.length);
      expect(scores).toHaveLength(labels.length);
      for (const s of scores)
        expect(Math.abs(s.score - Math.exp(expectedLogits[s.index] - max) / sum)).toBeLessThan(1e-4);
    }
  });
});

describe('POST /v1/classify', () => {
  it('against a KV label set equals the direct computation from edge-clip embed features', async () => {
    for (const [i, bytes] of imageBytes.entries()) {
      const res = await call('/v1/classify?labelset=animals&top_k=5', {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg' },
        body: bytes,
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as Scores;
      expect(body.labelset).toBe('animals');
      expectScores(body.results, zeroShot.expected[i]);
      expect(body.results.reduce((a, r) => a + r.score, 0)).toBeCloseTo(1, 5);
    }
  });

  it('answers per image for a JSON batch, honouring top_k', async () => {
    const res = await call('/v1/classify', json({ images: imageBytes.map(dataUri), labelset: 'animals', top_k: 2 }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as Scores;
    expect(body.data!.map((d) => d.index)).toEqual([0, 1]);
    body.data!.forEach((d, i) => {
      expectScores(d.results, zeroShot.expected[i].slice(0, 2));
    });
  });

  it('encodes ad-hoc labels once, then serves them from the KV cache, with the stored set’s result', async () => {
    const body = {
      image: dataUri(imageBytes[0]),
      labels: zeroShot.set.labels,
      templates: zeroShot.set.templates,
      top_k: 5,
    };
    const first = await call('/v1/classify', json(body));
    expect(first.status).toBe(200);
    expect(first.headers.get('x-prompts-encoded')).toBe(
      String(zeroShot.set.labels.length * zeroShot.set.templates.length),
    );
    const second = await call('/v1/classify', json(body));
    expect(second.headers.get('x-prompts-encoded')).toBe('0');
    const a = (await first.json()) as Scores;
    const b = (await second.json()) as Scores;
    expect(b.results).toEqual(a.results);
    expect(a.labelset).toBeNull();
    // The reference rows were stored as float16 and encoded by onnxruntime-node; the edge keeps float32 rows from
    // onnxruntime-web: the same ranking, scores a little further apart.
    expectScores(a.results, zeroShot.expected[0], 3e-3);
  });

  it('refuses a label set built for another build of the model as stale', async () => {
    await env.PROMPTS.put(labelsetKey('tiny', '0123456789abcdef', 'int8', 'old'), decodeBase64(zeroShot.blobBase64));
    const res = await call('/v1/classify?labelset=old', {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: imageBytes[0],
    });
    expect(res.status).toBe(409);
    const err = ((await res.json()) as { error: { type: string; message: string } }).error;
    expect(err.type).toBe('stale_labelset');
    expect(err.message).toMatch(/0123456789abcdef/);
    const list = (await (await call('/v1/labelsets')).json()) as { data: { name: string; stale: boolean }[] };
    expect(list.data).toContainEqual(expect.objectContaining({ name: 'old', stale: true }));
    expect(list.data).toContainEqual(expect.objectContaining({ name: 'animals', stale: false }));
  });

  it.each([
    ['too many labels', { labels: Array.from({ length: 257 }, (_, i) => `l${i}`) }, 413, /at most 256/],
    ['empty labels', { labels: [] }, 400, /labels must be a non-empty array/],
    ['an unknown label set', { labelset: 'nope' }, 404, /label set nope does not exist/],
    ['both labelset and labels', { labelset: 'animals', labels: ['a'] }, 400, /either labelset or labels/],
    ['neither', {}, 400, /give labelset/],
    ['top_k 0', { labelset: 'animals', top_k: 0 }, 400, /top_k/],
    ['a template without {c}', { labels: ['a'], templates: ['a photo'] }, 400, /templates/],
  ])('%s gives a clear 4xx', async (_name, extra, status, message) => {
    const res = await call('/v1/classify', json({ image: dataUri(imageBytes[0]), ...extra }));
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(message);
  });
});

describe('label-set administration', () => {
  const set = { labels: ['red', 'green', 'blue'], templates: ['a {c} thing.'] };
  const put = (headers: Record<string, string>, body: BodyInit = JSON.stringify(set), type = 'application/json') =>
    call('/v1/labelsets/colours', { method: 'PUT', headers: { 'content-type': type, ...headers }, body });

  it('rejects missing (401) and wrong (403) admin tokens', async () => {
    expect((await put({})).status).toBe(401);
    expect((await put({ authorization: 'Bearer wrong' })).status).toBe(403);
    expect(
      (await call('/v1/labelsets/colours', { method: 'DELETE', headers: { authorization: 'Bearer nope' } })).status,
    ).toBe(403);
  });

  it('refuses a set too large for the edge with the way to store it (413)', async () => {
    const labels = Array.from({ length: 2001 }, (_, i) => `label ${i}`);
    const res = await put(ADMIN, JSON.stringify({ labels }));
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /at most 2000 labels are computed at the edge \(got 2001\); build the set with edge-clip prompts build and upload the blob/,
    );
  });

  it('reads a JSON label set only up to MAX_JSON_BYTES (1 MiB): text needs no more', async () => {
    const res = await put(ADMIN, JSON.stringify({ labels: ['a'], templates: [`{c} ${'x'.repeat(1024 * 1024)}`] }));
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/exceeds 1048576 bytes/);
  });

  it('computes a small set at the edge, describes it, classifies with it and deletes it', async () => {
    const res = await put(ADMIN);
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ name: 'colours', labels: 3, computed: true });
    const info = (await (await call('/v1/labelsets/colours')).json()) as Record<string, unknown>;
    expect(info).toMatchObject({
      name: 'colours',
      labels: set.labels,
      templates: set.templates,
      dims: [3, 24],
      build_hash: manifest.buildHash,
    });
    const classified = await call('/v1/classify?labelset=colours', {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: imageBytes[0],
    });
    expect(((await classified.json()) as Scores).results.map((r) => r.label).sort()).toEqual(['blue', 'green', 'red']);
    expect((await call('/v1/labelsets/colours', { method: 'DELETE', headers: ADMIN })).status).toBe(200);
    expect((await call('/v1/labelsets/colours')).status).toBe(404);
  });

  it('accepts a prebuilt blob and refuses one whose name or build does not match', async () => {
    const blob = decodeBase64(zeroShot.blobBase64);
    const wrongName = await call('/v1/labelsets/other', {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', ...ADMIN },
      body: blob,
    });
    expect(wrongName.status).toBe(400);
    const ok = await call('/v1/labelsets/animals', {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', ...ADMIN },
      body: blob,
    });
    expect(ok.status).toBe(201);
    const tooBig = await put(
      ADMIN,
      JSON.stringify({
        labels: Array.from({ length: 300 }, (_, i) => `l${i}`),
        templates: Array.from({ length: 7 }, (_, i) => `${i} {c}`),
      }),
    );
    expect(tooBig.status).toBe(413);
  });
});
