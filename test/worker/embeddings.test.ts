import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { workerdDecoderModules } from '../../src/adapters/workerd/image-wasm.ts';
import { workerdOrt } from '../../src/adapters/workerd/ort-wasm.ts';
import { r2Files } from '../../src/adapters/workerd/r2-files.ts';
import { decodeBase64 } from '../../src/contracts/base64.ts';
import { ClipModel } from '../../src/model/clip-model.ts';
import { embedPixels } from '../../src/model/pipelines/embed-images.ts';
import { embedTexts } from '../../src/model/pipelines/embed-texts.ts';
import worker from '../../src/worker/index.ts';
import { fixture, seedModel } from './seed.ts';

const reference = inject('reference');
const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
const call = (path: string, init?: RequestInit) =>
  worker.fetch(new Request(`http://edge${path}`, init) as Request<unknown, IncomingRequestCfProperties>, env, ctx);
const postJson = (path: string, body: unknown) =>
  call(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

const cos = (a: number[], b: number[]) =>
  a.reduce((s, v, i) => s + v * b[i], 0) /
  Math.sqrt(a.reduce((s, v) => s + v * v, 0) * b.reduce((s, v) => s + v * v, 0));

interface EmbeddingList {
  data: { embedding: number[] | string; index: number }[];
  model: string;
  precision: string;
  usage: Record<string, number | number[]>;
}

beforeAll(async () => {
  await seedModel(env, 'tiny-st', 'tiny');
});

describe('POST /v1/embeddings (text)', () => {
  it.each(['fp32', 'int8'] as const)('%s text embeddings equal edge-clip embed (cos ≥ 0.9999)', async (precision) => {
    const res = await postJson('/v1/embeddings', { input: reference.texts, precision });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-precision')).toBe(precision);
    expect(res.headers.get('server-timing')).toMatch(/tokenize;dur=.*infer;dur=/);
    const body = (await res.json()) as EmbeddingList;
    expect(body.model).toBe('tiny');
    expect(body.data).toHaveLength(reference.texts.length);
    expect(reference[precision].text).toHaveLength(reference.texts.length);
    body.data.forEach((d, i) => {
      expect(d.index).toBe(i);
      expect(cos(d.embedding as number[], reference[precision].text[i])).toBeGreaterThanOrEqual(0.9999);
      expect(Math.hypot(...(d.embedding as number[]))).toBeCloseTo(1, 5);
    });
  });

  it('fp32 raw features in workerd are within 1e-4 of the reference implementation (texts and images)', async () => {
    // The pipelines the routes run, raw (before L2 normalization, as the reference's features are), on R2's build.
    const files = r2Files(env.MODELS, 'tiny');
    const model = ClipModel.open({
      ort: workerdOrt(),
      readManifest: files.manifest,
      read: files.read,
      decoders: workerdDecoderModules,
    });
    const text = await embedTexts(model, reference.texts, { precision: 'fp32', raw: true });
    expect(reference.conformanceText).toHaveLength(reference.texts.length);
    for (const [i, ref] of reference.conformanceText.entries()) {
      const row = text.data.subarray(i * ref.length, (i + 1) * ref.length);
      expect(Math.max(...ref.map((v, j) => Math.abs(row[j] - v))), reference.texts[i]).toBeLessThan(1e-4);
    }
    const pixels = await fixture(env, 'tiny/images.f32');
    const image = await embedPixels(model, new Float32Array(pixels.buffer, pixels.byteOffset, pixels.length / 4), 3, {
      precision: 'fp32',
      raw: true,
    });
    expect(reference.conformanceImage).toHaveLength(3);
    for (const [i, ref] of reference.conformanceImage.entries()) {
      const row = image.data.subarray(i * ref.length, (i + 1) * ref.length);
      expect(Math.max(...ref.map((v, j) => Math.abs(row[j] - v)))).toBeLessThan(1e-4);
    }
  });

  it('reports tokens and truncation in usage, and answers base64 float32 on request', async () => {
    const long = 'a photo of a cat '.repeat(30);
    // OpenAI clients send `user` and may send `dimensions` equal to the model's width: both accepted.
    const res = await postJson('/v1/embeddings', {
      input: ['a cat', long],
      encoding_format: 'base64',
      user: 'client-42',
      dimensions: 24,
    });
    const body = (await res.json()) as EmbeddingList;
    expect(body.usage.prompt_tokens).toBe(4 + 77);
    expect(body.usage.truncated_inputs).toEqual([1]);
    const floats = new Float32Array(decodeBase64(body.data[0].embedding as string).buffer);
    expect(floats.length).toBe(24);
    const plain = (await (await postJson('/v1/embeddings', { input: 'a cat' })).json()) as EmbeddingList;
    expect(Array.from(floats)).toEqual(plain.data[0].embedding);
  });
});

describe('image embeddings', () => {
  it.each(['fp32', 'int8'] as const)(
    '%s: a JPEG and a PNG posted raw equal edge-clip embed --image in Node',
    async (precision) => {
      expect(reference.images).toHaveLength(2);
      expect(reference[precision].image).toHaveLength(2);
      for (const [i, name] of reference.images.entries()) {
        const bytes = await fixture(env, `preprocess/${name}`);
        const res = await call(`/v1/images/embeddings?precision=${precision}`, {
          method: 'POST',
          headers: { 'content-type': name.endsWith('.png') ? 'image/png' : 'image/jpeg' },
          body: bytes,
        });
        expect(res.status).toBe(200);
        expect(res.headers.get('server-timing')).toMatch(/decode;dur=.*preprocess;dur=.*infer;dur=/);
        const body = (await res.json()) as EmbeddingList;
        expect(cos(body.data[0].embedding as number[], reference[precision].image[i])).toBeGreaterThanOrEqual(0.9999);
      }
    },
  );

  it('accepts multipart/form-data and data URIs on /v1/embeddings with the same result', async () => {
    const bytes = await fixture(env, 'preprocess/grace_hopper.jpg');
    const form = new FormData();
    form.append('image', new Blob([bytes], { type: 'image/jpeg' }), 'grace.jpg');
    const multipart = (await (
      await call('/v1/images/embeddings', { method: 'POST', body: form })
    ).json()) as EmbeddingList;
    let binary = '';
    for (const b of bytes) binary += String.fromCharCode(b);
    const uri = `data:image/jpeg;base64,${btoa(binary)}`;
    const viaJson = (await (
      await postJson('/v1/embeddings', { modality: 'image', input: [uri, uri] })
    ).json()) as EmbeddingList;
    expect(viaJson.data.length).toBe(2);
    expect(viaJson.data[1].embedding).toEqual(multipart.data[0].embedding);
    expect(cos(multipart.data[0].embedding as number[], reference.int8.image[0])).toBeGreaterThanOrEqual(0.9999);
  });
});

describe('service routes', () => {
  it('healthz, readyz and /v1/models describe the build', async () => {
    expect((await call('/healthz')).status).toBe(200);
    const ready = (await (await call('/readyz')).json()) as { status: string; build_hash: string };
    expect(ready.status).toBe('ready');
    const models = (await (await call('/v1/models')).json()) as {
      data: { id: string; build_hash: string; weights: string; towers: Record<string, Record<string, unknown>> }[];
    };
    expect(models.data[0]).toMatchObject({ id: 'tiny', build_hash: ready.build_hash, weights: 'real' });
    expect(Object.keys(models.data[0].towers.image).sort()).toEqual(['fp32', 'int8']);
  });
});

describe('pages for people and tools, served by the Worker in workerd', () => {
  it('GET / is the playground; GET /openapi.json describes every inference route', async () => {
    const page = await call('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    // Its own script and this origin only: no third-party script, no framing, no form posts elsewhere.
    expect(page.headers.get('content-security-policy')).toMatch(
      /default-src 'none'.*connect-src 'self'.*frame-ancestors 'none'/,
    );
    expect(await page.text()).toMatch(/<title>edge-clip playground<\/title>[\s\S]*\/v1\/classify/);
    const doc = (await (await call('/openapi.json')).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/embeddings', '/v1/images/embeddings', '/v1/classify', '/v1/labelsets/{name}']),
    );
  });
});
