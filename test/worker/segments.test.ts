import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { type SegmentEndpoint, segmentBinding, segmentEndpoint } from '../../src/adapters/workerd/segmented-tower.ts';
import {
  decodeInferResponse,
  encodeInferRequest,
  HEADER_LENGTH,
  type V2Tensor,
} from '../../src/contracts/inference-protocol.ts';
import { type ModelManifest, segmentLoadingBytes, segmentServingBytes } from '../../src/contracts/manifest.ts';
import { buildApp, type WorkerEnv } from '../../src/worker/build-app.ts';
import { fixture, seedModel } from './seed.ts';
import { TEST_SEGMENTS } from './segment-workers.ts';

let manifest: ModelManifest;

/** The real service binding to a segment Worker (vitest.config.ts runs one Worker per segment beside the tests). */
function segmentWorker(tower: 'image' | 'text', index: number): SegmentEndpoint {
  const name = segmentBinding(tower, index);
  const binding = segmentEndpoint(env, name);
  if (!binding) throw new Error(`no service binding ${name}`);
  return binding;
}

/**
 * The production topology inside workerd: a gateway whose SEG_<TOWER>_<k> bindings are real service bindings to
 * segment Workers (each loading only its own segment from the shared R2 bucket), each wrapped only to record the calls
 * it receives; `down` makes one binding fail like an unreachable Worker.
 */
function topology(down?: string) {
  const bindings: Record<string, SegmentEndpoint> = {};
  /** Calls each binding received: "<binding> <method>". */
  const calls: string[] = [];
  for (const tower of ['image', 'text'] as const) {
    for (const seg of manifest.towers[tower].int8!.segments) {
      const name = segmentBinding(tower, seg.index);
      const worker = segmentWorker(tower, seg.index);
      const reach = (call: string) => {
        calls.push(`${name} ${call}`);
        if (name === down) throw new Error('Network connection lost');
      };
      bindings[name] = {
        run: async (body, headerLength) => {
          reach('run');
          return worker.run(body, headerLength);
        },
        stats: async () => {
          reach('stats');
          return worker.stats();
        },
        load: async () => {
          reach('load');
          return worker.load();
        },
      };
    }
  }
  // Every request must run the chain (or fail on a down segment): no cached embeddings or prompt rows.
  const noCache = { MEMORY_CACHE_ENTRIES: '0', CACHE_TTL_SECONDS: '0', PROMPT_CACHE_TTL_SECONDS: '0' };
  const gateway = buildApp({
    ...env,
    ...bindings,
    ...noCache,
    MODEL_ID: 'segmented',
    SEGMENTED: 'true',
  } as unknown as WorkerEnv);
  // The segment Workers run our kernels (their default): so do the isolates they are compared with.
  const kernels = { IMAGE_ENGINE: 'kernels', TEXT_ENGINE: 'kernels' };
  const single = buildApp({ ...env, ...noCache, ...kernels, MODEL_ID: 'segmented-whole' } as unknown as WorkerEnv);
  // Without SEGMENTED the gateway's own isolate runs the segments one after another.
  const inProcess = buildApp({ ...env, ...noCache, ...kernels, MODEL_ID: 'segmented' } as unknown as WorkerEnv);
  return { gateway, single, inProcess, calls };
}

const text = {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ input: ['a photo of a dog', 'a diagram'] }),
};
const cosines = (a: { embedding: number[] }[], b: { embedding: number[] }[]) =>
  a.map((x, i) => x.embedding.reduce((s, v, j) => s + v * b[i].embedding[j], 0));

beforeAll(async () => {
  manifest = await seedModel(env, 'segments/tiny-segmented', 'segmented');
  await seedModel(env, 'segments/tiny-whole', 'segmented-whole');
});

describe('segmented towers across Workers (gateway → segment Workers over service bindings)', () => {
  it('runs one segment Worker per segment of the test build', () => {
    expect(manifest.towers.image.int8!.segments).toHaveLength(TEST_SEGMENTS.image);
    expect(manifest.towers.text.int8!.segments).toHaveLength(TEST_SEGMENTS.text);
  });

  // First, while text/0's Worker has loaded nothing yet: the other tests load it.
  it('a segment Worker reports what it holds before loading, after loading and while serving', async () => {
    const worker = segmentWorker('text', 0);
    const stats = async () => (await worker.stats()) as Record<string, number | boolean>;
    const seg = manifest.towers.text.int8!.segments[0];
    const weights = seg.externalData.reduce((a, e) => a + e.bytes, 0);
    expect(await stats()).toMatchObject({
      tower: 'text',
      index: 0,
      engine: 'kernels',
      loaded: false,
      weight_bytes: weights,
      js_load_bytes: 0,
    });
    await worker.load();
    const loaded = await stats();
    expect(loaded.loaded).toBe(true);
    expect(loaded.js_load_bytes).toBe(seg.graph.bytes + weights);
    expect(loaded.wasm_after_create_bytes).toBeGreaterThan(0);
    expect(loaded.loading_bytes).toBe(Number(loaded.js_load_bytes) + Number(loaded.wasm_after_create_bytes));
    expect(loaded.measured_serving_bytes).toBe(segmentServingBytes(seg.memory!));
    expect(loaded.measured_loading_bytes).toBe(segmentLoadingBytes(seg.memory!));
  });

  it('gives the single-isolate results for text and images (cos ≥ 0.99999), through every segment', async () => {
    const { gateway, single, calls } = topology();
    const a = (await (await gateway.request('/v1/embeddings', text)).json()) as { data: { embedding: number[] }[] };
    const b = (await (await single.request('/v1/embeddings', text)).json()) as { data: { embedding: number[] }[] };
    expect(a.data).toHaveLength(2);
    expect(b.data).toHaveLength(2);
    for (const c of cosines(a.data, b.data)) expect(c).toBeGreaterThanOrEqual(0.99999);
    const jpeg = await fixture(env, 'preprocess/grace_hopper.jpg');
    const img = () => ({ method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: jpeg });
    const ia = (await (await gateway.request('/v1/images/embeddings', img())).json()) as {
      data: { embedding: number[] }[];
    };
    const ib = (await (await single.request('/v1/images/embeddings', img())).json()) as {
      data: { embedding: number[] }[];
    };
    expect(ia.data).toHaveLength(1);
    expect(ib.data).toHaveLength(1);
    for (const c of cosines(ia.data, ib.data)) expect(c).toBeGreaterThanOrEqual(0.99999);
    // Each segment Worker ran once per request: the activations crossed every binding.
    for (const tower of ['image', 'text'] as const)
      for (let k = 0; k < TEST_SEGMENTS[tower]; k++)
        expect(calls.filter((c) => c === `${segmentBinding(tower, k)} run`)).toHaveLength(1);
  });

  it('without segment Workers, chains the segments in its own isolate to the same results', async () => {
    const { inProcess, single, calls } = topology();
    const a = (await (await inProcess.request('/v1/embeddings', text)).json()) as { data: { embedding: number[] }[] };
    const b = (await (await single.request('/v1/embeddings', text)).json()) as { data: { embedding: number[] }[] };
    expect(a.data).toHaveLength(2);
    for (const c of cosines(a.data, b.data)) expect(c).toBeGreaterThanOrEqual(0.99999);
    expect(calls).toEqual([]);
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

  it('the gateway lists every segment Worker’s report in /v1/models, and counts the buffers they serve', async () => {
    const { gateway, calls } = topology();
    expect((await gateway.request('/v1/embeddings', text)).status).toBe(200);
    const models = (await (await gateway.request('/v1/models')).json()) as {
      data: {
        segments: {
          tower: string;
          index: number;
          loaded: boolean;
          wasm_bytes: number;
          js_request_bytes: number;
          serving_bytes: number;
        }[];
      }[];
    };
    const segs = models.data[0].segments;
    expect(segs.map((s) => `${s.tower}/${s.index}`).sort()).toEqual(
      (['image', 'text'] as const)
        .flatMap((t) => manifest.towers[t].int8!.segments.map((x) => `${t}/${x.index}`))
        .sort(),
    );
    // The earlier tests ran both towers through these Workers: every segment is loaded and reports its wasm memory.
    for (const s of segs) {
      expect(s.loaded).toBe(true);
      expect(s.wasm_bytes).toBeGreaterThan(0);
    }
    for (const s of segs.filter((x) => x.tower === 'text')) {
      expect(s.js_request_bytes).toBeGreaterThan(0);
      expect(s.serving_bytes).toBe(s.wasm_bytes + s.js_request_bytes);
    }
    // A chain asks its segments to load before its first run; a text request never reaches an image segment.
    expect(calls.filter((c) => c.startsWith('SEG_IMAGE'))).toEqual(
      calls.filter((c) => c.startsWith('SEG_IMAGE') && c.endsWith(' stats')),
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

describe('a segment Worker takes tensors only over RPC, and only its declared inputs', () => {
  it('a segment answers nothing over HTTP; RPC refuses undeclared inputs, wrong types and shapes, and too many rows', async () => {
    const worker = segmentWorker('text', 0);
    const ids = BigInt64Array.from([49406n, 320n, 1125n, 49407n]);
    /** The RPC's refusal, as its message (settled here: an RPC promise left to expect() surfaces as unhandled). */
    const refusal = async (tensors: V2Tensor[]): Promise<string> => {
      const { body, headerLength } = encodeInferRequest(tensors, []);
      return worker.run(body, headerLength!).then(
        () => 'answered',
        (e: Error) => e.message,
      );
    };
    const { body, headerLength } = encodeInferRequest(
      [{ name: 'input_ids', datatype: 'INT64', shape: [1, 4], data: ids }],
      [],
    );
    // Nothing over HTTP: not a run, not the stats, not a load.
    const http = Reflect.get(env, segmentBinding('text', 0)) as Fetcher;
    for (const [path, method] of [
      ['/run', 'POST'],
      ['/stats', 'GET'],
      ['/load', 'POST'],
    ]) {
      const res = await http.fetch(
        new Request(`https://segment${path}`, {
          method,
          headers: { [HEADER_LENGTH]: String(headerLength) },
          body: method === 'POST' ? (body as Uint8Array<ArrayBuffer>) : undefined,
        }),
      );
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/over RPC only/);
    }
    const rpc = await worker.run(body, headerLength!);
    expect(decodeInferResponse(rpc.body, String(rpc.headerLength)).outputs.length).toBeGreaterThan(0);
    expect(await refusal([{ name: 'other', datatype: 'INT64', shape: [1, 4], data: ids }])).toMatch(
      /takes input_ids, got other/,
    );
    expect(
      await refusal([{ name: 'input_ids', datatype: 'FP32', shape: [1, 4], data: Float32Array.from(ids, Number) }]),
    ).toMatch(/input_ids must be int64/);
    expect(await refusal([{ name: 'input_ids', datatype: 'INT64', shape: [4], data: ids }])).toMatch(/does not fit/);
    const many = new BigInt64Array(65 * 4).fill(320n);
    expect(await refusal([{ name: 'input_ids', datatype: 'INT64', shape: [65, 4], data: many }])).toMatch(
      /at most 64 rows/,
    );
  });
});
