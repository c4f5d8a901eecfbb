import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { type SegmentEndpoint, segmentBinding } from '../../src/adapters/workerd/segmented-tower.ts';
import { decodeInferResponse, encodeInferRequest, HEADER_LENGTH } from '../../src/contracts/inference-protocol.ts';
import { type ModelManifest, segmentLoadingBytes, segmentServingBytes } from '../../src/contracts/manifest.ts';
import { buildSegment } from '../../src/segment-worker/index.ts';
import { buildApp, type WorkerEnv } from '../../src/worker/build-app.ts';
import { fixture, seedModel } from './seed.ts';

let manifest: ModelManifest;

const segmentOf = (tower: 'image' | 'text', index: number) =>
  buildSegment({ MODELS: env.MODELS, MODEL_ID: 'segmented', SEGMENT_TOWER: tower, SEGMENT_INDEX: String(index) });

/**
 * The production topology inside workerd: a gateway whose SEG_<TOWER>_<k> bindings reach one segment app each (each
 * loading only its own segment from R2). `down` makes one binding fail like an unreachable Worker.
 */
function topology(down?: string) {
  const bindings: Record<string, SegmentEndpoint> = {};
  /** Calls each binding received: "<binding> <path>" for HTTP, "<binding> run" for RPC. */
  const calls: string[] = [];
  for (const tower of ['image', 'text'] as const) {
    manifest.towers[tower].int8!.segments.forEach((seg) => {
      const name = segmentBinding(tower, seg.index);
      const { app, host } = segmentOf(tower, seg.index);
      const reach = (call: string) => {
        calls.push(`${name} ${call}`);
        if (name === down) throw new Error('Network connection lost');
      };
      bindings[name] = {
        fetch: async (r: Request) => {
          reach(new URL(r.url).pathname);
          return app.fetch(r);
        },
        run: async (body, headerLength) => {
          reach('run');
          return host.run(body, headerLength);
        },
      };
    });
  }
  // Every request must run the chain (or fail on a down segment): no cached embeddings.
  const noCache = { MEMORY_CACHE_ENTRIES: '0', CACHE_TTL_SECONDS: '0' };
  const gateway = buildApp({
    ...env,
    ...bindings,
    ...noCache,
    MODEL_ID: 'segmented',
    SEGMENTED: 'true',
  } as unknown as WorkerEnv);
  const single = buildApp({ ...env, ...noCache, MODEL_ID: 'segmented-whole' } as unknown as WorkerEnv);
  return { gateway, single, calls };
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
      message: expect.stringContaining('segment text/1 failed: Network connection lost'),
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

  it('segment Workers report what they hold while loading and serving', async () => {
    const { app } = segmentOf('text', 0);
    const seg = manifest.towers.text.int8!.segments[0];
    const weights = seg.externalData.reduce((a, e) => a + e.bytes, 0);
    const before = (await (await app.request('/stats')).json()) as Record<string, number | boolean>;
    expect(before).toMatchObject({ tower: 'text', index: 0, loaded: false, weight_bytes: weights, js_load_bytes: 0 });
    expect((await app.request('/load', { method: 'POST' })).status).toBe(204);
    const loaded = (await (await app.request('/stats')).json()) as Record<string, number>;
    expect(loaded.js_load_bytes).toBe(seg.graph.bytes + weights);
    expect(loaded.wasm_after_create_bytes).toBeGreaterThan(0);
    expect(loaded.loading_bytes).toBe(loaded.js_load_bytes + loaded.wasm_after_create_bytes);
    expect(loaded.measured_serving_bytes).toBe(segmentServingBytes(seg.memory!));
    expect(loaded.measured_loading_bytes).toBe(segmentLoadingBytes(seg.memory!));
  });

  it('counts the JS buffers of the requests it serves', async () => {
    const { gateway, calls } = topology();
    expect((await gateway.request('/v1/embeddings', text)).status).toBe(200);
    const models = (await (await gateway.request('/v1/models')).json()) as {
      data: { segments: { tower: string; js_request_bytes: number; wasm_bytes: number; serving_bytes: number }[] }[];
    };
    for (const s of models.data[0].segments.filter((x) => x.tower === 'text')) {
      expect(s.js_request_bytes).toBeGreaterThan(0);
      expect(s.serving_bytes).toBe(s.wasm_bytes + s.js_request_bytes);
    }
    // Before its first run the chain asked every text segment to load at once, and never an image segment.
    const loads = calls.filter((c) => c.endsWith(' /load'));
    expect(loads.sort()).toEqual(
      manifest.towers.text.int8!.segments.map((x) => `${segmentBinding('text', x.index)} /load`).sort(),
    );
  });

  it('sends a segment no more rows than it was measured with, and the slices give the same embeddings', async () => {
    const batch = manifest.towers.text.int8!.segments[0].memory!.batch;
    const inputs = Array.from({ length: batch + 2 }, (_, i) => `prompt number ${i} about a cat`);
    const body = { ...text, body: JSON.stringify({ input: inputs }) };
    const { gateway, single, calls } = topology();
    const a = (await (await gateway.request('/v1/embeddings', body)).json()) as { data: { embedding: number[] }[] };
    const b = (await (await single.request('/v1/embeddings', body)).json()) as { data: { embedding: number[] }[] };
    expect(a.data).toHaveLength(inputs.length);
    for (const c of cosines(a.data, b.data)) expect(c).toBeGreaterThanOrEqual(0.99999);
    expect(calls.filter((c) => c === `${segmentBinding('text', 0)} run`)).toHaveLength(2);
  });
});

describe('a segment Worker over HTTP', () => {
  it('POST /run answers what the RPC run answers, and 400 on a bad body', async () => {
    const { app, host } = segmentOf('text', 0);
    const ids = BigInt64Array.from([49406n, 320n, 1125n, 49407n]);
    const { body, headerLength } = encodeInferRequest(
      [{ name: 'input_ids', datatype: 'INT64', shape: [1, 4], data: ids }],
      [],
    );
    const res = await app.request('/run', {
      method: 'POST',
      headers: { [HEADER_LENGTH]: String(headerLength) },
      body: body as Uint8Array<ArrayBuffer>,
    });
    expect(res.status).toBe(200);
    const http = decodeInferResponse(new Uint8Array(await res.arrayBuffer()), res.headers.get(HEADER_LENGTH));
    const rpc = await host.run(body, headerLength!);
    expect(http.map((t) => [...t.data])).toEqual(
      decodeInferResponse(rpc.body, String(rpc.headerLength)).map((t) => [...t.data]),
    );
    const bad = await app.request('/run', { method: 'POST', headers: { [HEADER_LENGTH]: '3' }, body: 'not json' });
    expect(bad.status).toBe(400);
  });
});
