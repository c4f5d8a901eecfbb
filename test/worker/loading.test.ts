import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { workerdOrt } from '../../src/adapters/workerd/ort-wasm.ts';
import { r2Files } from '../../src/adapters/workerd/r2-files.ts';
import { createApp } from '../../src/app/create-app.ts';
import { parseConfig } from '../../src/contracts/config.ts';
import type { ModelManifest } from '../../src/contracts/manifest.ts';
import { ClipModel } from '../../src/model/clip-model.ts';
import type { ReadFile } from '../../src/model/ports.ts';
import { seedModel } from './seed.ts';

let manifest: ModelManifest;

/** An app on the real R2 binding whose reads are recorded (no mocks: the bytes come from miniflare's R2). */
function appOn(prefix: string) {
  const files = r2Files(env.MODELS, prefix);
  const reads: string[] = [];
  const read: ReadFile = (ref) => {
    reads.push(ref.file);
    return files.read(ref);
  };
  const model = ClipModel.open({ ort: workerdOrt(), readManifest: files.manifest, read, size: files.size });
  const app = createApp({ config: parseConfig({ MODEL_ID: prefix }), model });
  return { app, reads, model };
}

const textRequest = (text = 'a photo of a cat') => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ input: text }),
});

beforeAll(async () => {
  manifest = await seedModel(env, 'tiny-st', 'lazy');
});

describe('tower loading from R2', () => {
  it('a text request loads only the text tower: no image shard is fetched', async () => {
    const { app, reads } = appOn('lazy');
    expect((await app.request('/v1/embeddings', textRequest())).status).toBe(200);
    expect(reads.length).toBeGreaterThan(1);
    expect(reads.filter((f) => f.startsWith('image.'))).toEqual([]);
    const models = (await (await app.request('/v1/models')).json()) as {
      data: {
        towers: Record<
          string,
          Record<
            string,
            {
              loaded: boolean;
              drift?: { min_cos: number; rows: number };
              int8_plan?: { fp32_channels: number; fp32_linears: string[]; search_rounds: number };
            }
          >
        >;
      }[];
    };
    expect(models.data[0].towers.text.int8.loaded).toBe(true);
    // The build's int8-vs-fp32 measurement and int8 plan travel with the manifest.
    expect(models.data[0].towers.text.int8.drift).toMatchObject({ rows: 182, min_cos: expect.any(Number) });
    expect(models.data[0].towers.text.int8.int8_plan).toMatchObject({ fp32_linears: [], search_rounds: 0 });
    expect(models.data[0].towers.image.int8.drift!.min_cos).toBeGreaterThanOrEqual(0.995);
    expect(models.data[0].towers.image.int8.loaded).toBe(false);
  });

  it('20 concurrent first requests trigger a single load of each file', async () => {
    const { app, reads } = appOn('lazy');
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => app.request('/v1/embeddings', textRequest(`prompt number ${i}`))),
    );
    expect(responses.map((r) => r.status)).toEqual(new Array(20).fill(200));
    const files = manifest.towers.text.int8!.segments.flatMap((s) => [
      s.graph.file,
      ...s.externalData.flatMap((e) => e.shards.map((x) => x.file)),
    ]);
    expect(reads.sort()).toEqual([...files, manifest.tokenizer.vocab.file].sort());
  });

  it('a corrupted shard is refused with a 503 and the next request loads again once R2 is repaired', async () => {
    await seedModel(env, 'tiny-st', 'corrupt');
    const shard = manifest.towers.text.int8!.segments[0].externalData[0].shards[0];
    const good = new Uint8Array(await (await env.MODELS.get(`corrupt/${shard.file}`))!.arrayBuffer());
    const bad = good.slice();
    bad[10] ^= 0xff;
    await env.MODELS.put(`corrupt/${shard.file}`, bad);
    const { app, reads } = appOn('corrupt');
    expect((await app.request('/readyz')).status).toBe(200);
    const res = await app.request('/v1/embeddings', textRequest());
    expect(res.status).toBe(503);
    // The failed load is what readiness reports until a load succeeds.
    const ready = await app.request('/readyz');
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { error: { message: string } }).error.message).toMatch(
      new RegExp(`loading the int8 text tower failed: ${shard.file.replaceAll('.', '\\.')}: sha256 mismatch`),
    );
    expect(res.headers.get('retry-after')).toBeTruthy();
    expect(((await res.json()) as { error: { type: string; message: string } }).error).toMatchObject({
      type: 'shard_integrity',
      message: expect.stringContaining(shard.file),
    });
    await env.MODELS.put(`corrupt/${shard.file}`, good);
    const before = reads.length;
    expect((await app.request('/v1/embeddings', textRequest())).status).toBe(200);
    expect(reads.length).toBeGreaterThan(before);
    expect((await app.request('/readyz')).status).toBe(200);
  });

  it('/readyz sees a shard missing or cut in R2 before any request fails on it', async () => {
    await seedModel(env, 'tiny-st', 'cut');
    const shard = manifest.towers.image.int8!.segments[0].externalData[0].shards[0];
    const good = new Uint8Array(await (await env.MODELS.get(`cut/${shard.file}`))!.arrayBuffer());
    await env.MODELS.put(`cut/${shard.file}`, good.subarray(0, 100));
    const res = await appOn('cut').app.request('/readyz');
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain(
      `${shard.file}: 100 of ${shard.bytes} bytes`,
    );
    await env.MODELS.delete(`cut/${shard.file}`);
    expect(await (await appOn('cut').app.request('/readyz')).text()).toContain(`${shard.file}: missing`);
  });

  it('fp32 with fallback int8 answers int8, degraded, when the fp32 shards are not in R2', async () => {
    await seedModel(env, 'tiny-st', 'no-fp32');
    for (const f of manifest.towers.text.fp32!.segments.flatMap((s) => [
      s.graph,
      ...s.externalData.flatMap((e) => e.shards),
    ]))
      await env.MODELS.delete(`no-fp32/${f.file}`);
    const { app } = appOn('no-fp32');
    const body = (fallback?: string) => ({
      ...textRequest(),
      body: JSON.stringify({ input: 'a cat', precision: 'fp32', fallback }),
    });
    const strict = await app.request('/v1/embeddings', body());
    expect(strict.status).toBe(503);
    const res = await app.request('/v1/embeddings', body('int8'));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-precision')).toBe('int8');
    expect(await res.json()).toMatchObject({ degraded: true });
  });

  it('answers 503 with a clear error when the model is not in R2, and /readyz says not ready', async () => {
    const { app } = appOn('missing-model');
    const res = await app.request('/v1/embeddings', textRequest());
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /missing-model\/manifest\.json is not in the R2 bucket/,
    );
    expect((await app.request('/readyz')).status).toBe(503);
    expect((await app.request('/healthz')).status).toBe(200);
  });
});

describe('onnxruntime-web wiring in workerd (pinned onnxruntime-web 1.30.0)', () => {
  it('instantiates the imported wasm module through the marker hook and exposes its memory', async () => {
    const { app } = appOn('lazy');
    const { ortWasmMemoryBytes } = await import('../../src/adapters/workerd/ort-wasm.ts');
    // If an onnxruntime-web upgrade changes how it instantiates wasm, this request fails with a CompileError
    // ("Wasm code generation disallowed by embedder") or the memory is no longer found.
    expect((await app.request('/v1/embeddings', textRequest())).status).toBe(200);
    expect(ortWasmMemoryBytes()).toBeGreaterThan(1 << 20);
  });
});
