import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { segmentBinding } from '../../src/model/segment-chain.ts';
import { buildSegmentApp } from '../../src/segment-worker/index.ts';
import type { ModelManifest } from '../../src/shared/manifest.ts';
import { buildApp, type Env } from '../../src/worker/build-app.ts';
import { fixture, seedModel } from './seed.ts';

let manifest: ModelManifest;

/**
 * The production topology inside workerd: a gateway whose SEG_<TOWER>_<k> bindings reach one segment app each (each
 * loading only its own segment from R2). `down` makes one binding fail like an unreachable Worker.
 */
function topology(down?: string) {
  const bindings: Record<string, { fetch(r: Request): Promise<Response> }> = {};
  for (const tower of ['image', 'text'] as const) {
    manifest.towers[tower].int8!.segments.forEach((seg) => {
      const name = segmentBinding(tower, seg.index);
      const app = buildSegmentApp({
        MODELS: env.MODELS,
        MODEL_ID: 'segmented',
        SEGMENT_TOWER: tower,
        SEGMENT_INDEX: String(seg.index),
      });
      bindings[name] = {
        fetch: async (r: Request) => {
          if (name === down) throw new Error('Network connection lost');
          return app.fetch(r);
        },
      };
    });
  }
  const gateway = buildApp({ ...env, ...bindings, MODEL_ID: 'segmented', SEGMENTED: 'true' } as unknown as Env);
  const single = buildApp({ ...env, MODEL_ID: 'segmented-whole' } as unknown as Env);
  return { gateway, single };
}

const text = {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ input: ['a photo of a dog', 'a diagram'] }),
};
const cosines = (a: { embedding: number[] }[], b: { embedding: number[] }[]) =>
  a.map((x, i) => x.embedding.reduce((s, v, j) => s + v * b[i].embedding[j], 0));

beforeAll(async () => {
  manifest = await seedModel(env, 'tiny-segmented', 'segmented');
  await seedModel(env, 'tiny-st', 'segmented-whole');
});

describe('segmented towers across Workers (gateway → segment Workers)', () => {
  it('gives the single-isolate results for text and images (cos ≥ 0.99999)', async () => {
    expect(manifest.towers.image.int8!.segments.length).toBeGreaterThanOrEqual(3);
    expect(manifest.towers.text.int8!.segments.length).toBeGreaterThanOrEqual(3);
    const { gateway, single } = topology();
    const a = (await (await gateway.request('/v1/embeddings', text)).json()) as { data: { embedding: number[] }[] };
    const b = (await (await single.request('/v1/embeddings', text)).json()) as { data: { embedding: number[] }[] };
    for (const c of cosines(a.data, b.data)) expect(c).toBeGreaterThanOrEqual(0.99999);
    const jpeg = await fixture(env, 'preprocess/grace_hopper.jpg');
    const img = (init: RequestInit) => ({
      ...init,
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: jpeg,
    });
    const ia = (await (await gateway.request('/v1/images/embeddings', img({}))).json()) as {
      data: { embedding: number[] }[];
    };
    const ib = (await (await single.request('/v1/images/embeddings', img({}))).json()) as {
      data: { embedding: number[] }[];
    };
    for (const c of cosines(ia.data, ib.data)) expect(c).toBeGreaterThanOrEqual(0.99999);
  });

  it('answers a clear 503 when a segment Worker is down', async () => {
    const { gateway } = topology(segmentBinding('text', 1));
    const res = await gateway.request('/v1/embeddings', text);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBeTruthy();
    const err = ((await res.json()) as { error: { type: string; message: string } }).error;
    expect(err).toMatchObject({
      type: 'segment_unavailable',
      message: expect.stringContaining('segment text/1 is unreachable'),
    });
  });

  it('the gateway lists every segment Worker’s report in /v1/models', async () => {
    const { gateway } = topology();
    await gateway.request('/v1/embeddings', text);
    const models = (await (await gateway.request('/v1/models')).json()) as {
      data: {
        segments: { tower: string; index: number; weight_bytes: number; loaded: boolean; wasm_bytes: number }[];
      }[];
    };
    const segs = models.data[0].segments;
    const total = manifest.towers.image.int8!.segments.length + manifest.towers.text.int8!.segments.length;
    expect(segs.length).toBe(total);
    expect(segs.filter((s) => s.tower === 'text').every((s) => s.loaded && s.wasm_bytes > 0)).toBe(true);
    expect(segs.filter((s) => s.tower === 'image').every((s) => !s.loaded)).toBe(true);
  });

  it('segment Workers report what they hold', async () => {
    const app = buildSegmentApp({
      MODELS: env.MODELS,
      MODEL_ID: 'segmented',
      SEGMENT_TOWER: 'text',
      SEGMENT_INDEX: '0',
    });
    const stats = (await (await app.request('/stats')).json()) as {
      tower: string;
      index: number;
      weight_bytes: number;
    };
    expect(stats).toMatchObject({ tower: 'text', index: 0 });
    expect(stats.weight_bytes).toBe(
      manifest.towers.text.int8!.segments[0].externalData.reduce((a, e) => a + e.bytes, 0),
    );
  });
});
