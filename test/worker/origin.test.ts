import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApp, type WorkerEnv } from '../../src/worker/build-app.ts';
import { fixture, seedModel } from './seed.ts';

const reference = inject('reference');
const origin = inject('origin');
const control = (state: 'up' | 'down') => fetch(`${origin.url}/__control/${state}`, { method: 'POST' });
const cos = (a: number[], b: number[]) =>
  a.reduce((s, v, i) => s + v * b[i], 0) /
  Math.sqrt(a.reduce((s, v) => s + v * v, 0) * b.reduce((s, v) => s + v * v, 0));

const NO_CACHE = { MEMORY_CACHE_ENTRIES: '0', CACHE_TTL_SECONDS: '0' };

/** The worker's app as its entry builds it from bindings + vars (a fresh one, so circuit state starts closed). */
function appWithOrigin(overrides: Record<string, string> = {}) {
  const app = buildApp({
    ...env,
    MODEL_ID: 'tiny',
    ORIGIN_URL: origin.url,
    ORIGIN_TOKEN: origin.token,
    ORIGIN_TIMEOUT_MS: '3000',
    ORIGIN_BREAKER_FAILURES: '2',
    ORIGIN_BREAKER_COOLDOWN_MS: '400',
    // Every request must reach the origin (or fail to): no cached embeddings.
    ...NO_CACHE,
    ...overrides,
  } as WorkerEnv);
  const breaker = async () =>
    ((await (await app.request('/v1/models')).json()) as { data: { origin: { circuit: string } }[] }).data[0].origin
      .circuit;
  return { app, breaker };
}
const text = (body: Record<string, unknown>) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

let jpeg: Uint8Array;
beforeAll(async () => {
  await seedModel(env, 'tiny-st', 'tiny');
  jpeg = await fixture(env, `preprocess/${reference.images[0]}`);
  await control('up');
});

describe('fp32 through the GPU origin', () => {
  it('text and image embeddings equal edge-clip embed --precision fp32 (cos ≥ 0.99999)', async () => {
    const { app } = appWithOrigin();
    const res = await app.request('/v1/embeddings', text({ input: reference.texts, precision: 'fp32' }));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-precision')).toBe('fp32');
    const body = (await res.json()) as { data: { embedding: number[] }[]; precision: string; degraded?: boolean };
    expect(body.precision).toBe('fp32');
    expect(body.degraded).toBeUndefined();
    body.data.forEach((d, i) => {
      expect(cos(d.embedding, reference.fp32.text[i])).toBeGreaterThanOrEqual(0.99999);
    });
    expect(await (await app.request('/readyz')).json()).toMatchObject({ status: 'ready', origin: 'ready' });
    const img = await app.request('/v1/images/embeddings?precision=fp32', {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: jpeg,
    });
    expect(img.status).toBe(200);
    const imgBody = (await img.json()) as { data: { embedding: number[] }[] };
    expect(cos(imgBody.data[0].embedding, reference.fp32.image[0])).toBeGreaterThanOrEqual(0.99999);
  });

  it('answers 503 with Retry-After within the timeout when the origin is down, and int8 only when asked', async () => {
    const { app } = appWithOrigin();
    await control('down');
    try {
      const t0 = Date.now();
      const res = await app.request('/v1/embeddings', text({ input: 'a cat', precision: 'fp32' }));
      expect(res.status).toBe(503);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await res.json()) as { error: { type: string } }).error.type).toBe('origin_unavailable');
      expect(Date.now() - t0).toBeLessThan(2 * 3000 + 1000);
      const degraded = await app.request(
        '/v1/embeddings',
        text({ input: reference.texts[0], precision: 'fp32', fallback: 'int8' }),
      );
      expect(degraded.status).toBe(200);
      expect(degraded.headers.get('x-precision')).toBe('int8');
      const body = (await degraded.json()) as { precision: string; degraded: boolean; data: { embedding: number[] }[] };
      expect(body).toMatchObject({ precision: 'int8', degraded: true });
      expect(cos(body.data[0].embedding, reference.int8.text[0])).toBeGreaterThanOrEqual(0.9999);
    } finally {
      await control('up');
    }
  });

  it('opens the circuit after repeated failures (failing fast) and closes it when the origin is back', async () => {
    const { app, breaker } = appWithOrigin();
    await control('down');
    try {
      for (let i = 0; i < 2; i++)
        expect((await app.request('/v1/embeddings', text({ input: 'x', precision: 'fp32' }))).status).toBe(503);
      expect(await breaker()).toBe('open');
      const seen = async () => ((await (await fetch(`${origin.url}/__control`)).json()) as { seen: number }).seen;
      const before = await seen();
      const fast = await app.request('/v1/embeddings', text({ input: 'x', precision: 'fp32' }));
      expect(fast.status).toBe(503);
      expect(await seen()).toBe(before);
      expect(((await fast.json()) as { error: { message: string } }).error.message).toMatch(/circuit open/);
    } finally {
      await control('up');
    }
    await new Promise((r) => setTimeout(r, 450));
    expect(await breaker()).toBe('half-open');
    expect((await app.request('/v1/embeddings', text({ input: 'x', precision: 'fp32' }))).status).toBe(200);
    expect(await breaker()).toBe('closed');
  });

  it('reports a wrong origin token as a 503 naming the refusal, never as int8', async () => {
    const { app } = appWithOrigin({ ORIGIN_TOKEN: 'wrong' });
    const res = await app.request('/v1/embeddings', text({ input: 'x', precision: 'fp32' }));
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/401/);
  });
});
