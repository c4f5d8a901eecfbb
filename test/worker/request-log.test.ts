import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { workerdOrt } from '../../src/adapters/workerd/ort-wasm.ts';
import { r2Files } from '../../src/adapters/workerd/r2-files.ts';
import { createApp } from '../../src/app/create-app.ts';
import { parseConfig } from '../../src/contracts/config.ts';
import type { ModelManifest } from '../../src/contracts/manifest.ts';
import { ClipModel } from '../../src/model/clip-model.ts';
import { EmbeddingCache, MemoryLru } from '../../src/model/embedding-cache.ts';
import { seedModel } from './seed.ts';

let manifest: ModelManifest;
const lines: Record<string, unknown>[] = [];
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  manifest = await seedModel(env, 'tiny-st', 'logged');
  const files = r2Files(env.MODELS, 'logged');
  app = createApp({
    config: parseConfig({ MODEL_ID: 'logged' }),
    model: ClipModel.open({ ort: workerdOrt(), readManifest: files.manifest, read: files.read }),
    embeddingCache: new EmbeddingCache([{ store: new MemoryLru(16) }]),
    log: (line) => lines.push(JSON.parse(line)),
  });
});

const embed = (input: unknown, headers: Record<string, string> = {}) =>
  app.request('/v1/embeddings', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ input }),
  });

describe('structured request logs', () => {
  it('writes one JSON line per request, with the id it echoes as X-Request-Id', async () => {
    lines.length = 0;
    const res = await embed('a photo of a cat', { 'x-request-id': 'client-42' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('client-42');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'info',
      request_id: 'client-42',
      method: 'POST',
      route: '/v1/embeddings',
      status: 200,
      precision: 'int8',
      cache: 'miss',
      model: `${manifest.modelId}@${manifest.buildHash}`,
      weights: manifest.weights,
    });
    const { timings, ms } = lines[0] as { timings: Record<string, number>; ms: number };
    expect(Object.keys(timings)).toEqual(expect.arrayContaining(['tokenize', 'infer']));
    expect(ms).toBeGreaterThanOrEqual(timings.infer);
    await embed('a photo of a cat');
    expect(lines[1]).toMatchObject({ cache: 'hit', status: 200 });
  });

  it('logs a request its client abandoned as 499, not as a server error', async () => {
    lines.length = 0;
    const errors = vi.spyOn(console, 'error');
    const abandoned = new AbortController();
    abandoned.abort();
    const res = await app.request('/v1/embeddings', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: ['a text nobody will read'] }),
      signal: abandoned.signal,
    });
    expect(res.status).toBe(499);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ status: 499, error: 'client_closed_request' });
    expect(lines[0].level).not.toBe('error');
    expect(errors).not.toHaveBeenCalled();
    errors.mockRestore();
  });

  it('gives a request without a usable id a fresh one, and logs refusals with their error type', async () => {
    lines.length = 0;
    const res = await embed(42, { 'x-request-id': 'not ok; has spaces' });
    expect(res.status).toBe(400);
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(lines).toEqual([
      expect.objectContaining({ level: 'warn', request_id: id, status: 400, error: 'invalid_input' }),
    ]);
    lines.length = 0;
    await app.request('/nowhere');
    expect(lines).toEqual([expect.objectContaining({ status: 404, error: 'not_found' })]);
  });
});
