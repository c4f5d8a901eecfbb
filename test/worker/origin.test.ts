import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApp, type WorkerEnv } from '../../src/worker/build-app.ts';
import { fixture, seedModel } from './seed.ts';

const reference = inject('reference');
const origin = inject('origin');
const control = (state: 'up' | 'down' | 'hold') => fetch(`${origin.url}/__control/${state}`, { method: 'POST' });
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
    // Longer than any test here takes, however loaded the machine: the half-open and re-open steps are tested on an
    // injected clock (test/adapters/origin/circuit-breaker.test.ts).
    ORIGIN_BREAKER_COOLDOWN_MS: '600000',
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
    expect(body.data).toHaveLength(reference.texts.length);
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

  it('never tells callers where the origin is: /v1/models reports its state, not its URL', async () => {
    const { app } = appWithOrigin();
    const text = await (await app.request('/v1/models')).text();
    const { host } = new URL(origin.url);
    expect(text).not.toContain(host);
    expect(JSON.parse(text).data[0].origin).toEqual({ precisions: ['fp32'], circuit: 'closed' });
  });

  it('gives up on an origin that holds a request without answering after its timeout, once retried', async () => {
    const { app } = appWithOrigin({ ORIGIN_TIMEOUT_MS: '300' });
    await control('hold');
    try {
      const t0 = Date.now();
      const res = await app.request('/v1/embeddings', text({ input: 'a held cat', precision: 'fp32' }));
      const elapsed = Date.now() - t0;
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
        'the GPU origin failed: no answer within 300 ms',
      );
      // Two attempts of 300 ms each (one retry: inference is idempotent), and not much more.
      expect(elapsed).toBeGreaterThanOrEqual(2 * 300);
      expect(elapsed).toBeLessThan(2 * 300 + 1500);
    } finally {
      await control('up');
    }
  });

  it('answers 503 with Retry-After when the origin drops connections, and int8 only when asked', async () => {
    const { app } = appWithOrigin();
    await control('down');
    try {
      const res = await app.request('/v1/embeddings', text({ input: 'a cat', precision: 'fp32' }));
      expect(res.status).toBe(503);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await res.json()) as { error: { type: string } }).error.type).toBe('origin_unavailable');
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

  it('opens the circuit after repeated failures and then fails fast without calling the origin', async () => {
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
    // Still open while the cooldown runs, even with the origin back.
    expect((await app.request('/v1/embeddings', text({ input: 'x', precision: 'fp32' }))).status).toBe(503);
    expect(await breaker()).toBe('open');
  });

  it('reports a wrong origin token as a 503 naming the refusal, never as int8', async () => {
    const { app } = appWithOrigin({ ORIGIN_TOKEN: 'wrong' });
    const res = await app.request('/v1/embeddings', text({ input: 'x', precision: 'fp32' }));
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/401/);
  });
});
