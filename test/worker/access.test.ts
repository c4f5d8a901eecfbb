/** CORS, API keys and rate limits, on the real Worker app in workerd with miniflare's Rate Limiting binding. */
import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type WorkerEnv } from '../../src/worker/build-app.ts';
import { seedModel } from './seed.ts';

const KEYS = ['key-one-0123456789abcdef0123456789', 'key-two-0123456789abcdef0123456789'];
const PAGE = 'https://app.example';
const embed = (app: ReturnType<typeof buildApp>, headers: Record<string, string> = {}) =>
  app.request('/v1/embeddings', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ input: 'a photo of a cat' }),
  });
const errorOf = async (res: Response) => ((await res.json()) as { error: { type: string; message: string } }).error;
const app = (vars: Record<string, unknown>) =>
  buildApp({ ...env, MODEL_ID: 'access', MEMORY_CACHE_ENTRIES: '16', ...vars } as unknown as WorkerEnv);

beforeAll(async () => {
  await seedModel(env, 'tiny-st', 'access');
});

describe('CORS', () => {
  it('answers a preflight from an allowed origin, and labels answers for it; other origins get no CORS headers', async () => {
    const open = app({ CORS_ORIGINS: `${PAGE}, https://other.example` });
    const preflight = await open.request('/v1/embeddings', {
      method: 'OPTIONS',
      headers: {
        origin: PAGE,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, authorization',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(PAGE);
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    expect(preflight.headers.get('access-control-allow-methods')).toMatch(/POST/);
    const res = await embed(open, { origin: PAGE });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(PAGE);
    expect(res.headers.get('access-control-expose-headers')).toMatch(/x-request-id/);
    const stranger = await embed(open, { origin: 'https://evil.example' });
    expect(stranger.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('is off by default, and "*" allows any origin only when set', async () => {
    expect((await embed(app({}), { origin: PAGE })).headers.get('access-control-allow-origin')).toBeNull();
    expect((await embed(app({ CORS_ORIGINS: '*' }), { origin: PAGE })).headers.get('access-control-allow-origin')).toBe(
      '*',
    );
  });
});

describe('API keys', () => {
  const keyed = () => app({ API_KEYS: KEYS.join(',') });

  it('inference routes need one of the keys (401 JSON without or with a wrong one); the rest stays open', async () => {
    const a = keyed();
    const none = await embed(a);
    expect(none.status).toBe(401);
    expect(await errorOf(none)).toEqual({ type: 'unauthorized', message: expect.stringMatching(/Bearer <API key>/) });
    const wrong = await embed(a, { authorization: 'Bearer not-a-key' });
    expect(wrong.status).toBe(401);
    expect((await errorOf(wrong)).message).toBe('unknown API key');
    for (const key of KEYS) expect((await embed(a, { authorization: `Bearer ${key}` })).status).toBe(200);
    const classify = await a.request('/v1/classify?labels=cat,dog', {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array(8),
    });
    expect(classify.status).toBe(401);
    for (const path of ['/healthz', '/v1/models', '/openapi.json']) expect((await a.request(path)).status).toBe(200);
  });

  it('refuses keys shorter than an admin token at startup', () => {
    expect(() => app({ API_KEYS: 'short' })).toThrow(/API_KEYS: key 1 is 5 characters; each must be at least 32/);
  });
});

describe('rate limits (Workers Rate Limiting binding: 3 a minute here)', () => {
  it('limits each API key on its own, answering 429 JSON with Retry-After', async () => {
    const a = app({ API_KEYS: KEYS.join(','), RATE_LIMITER: env.TEST_RATE_LIMITER });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await embed(a, { authorization: `Bearer ${KEYS[0]}` })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await embed(a, { authorization: `Bearer ${KEYS[0]}` });
    expect(limited.headers.get('retry-after')).toBe('60');
    expect(await errorOf(limited)).toEqual({
      type: 'rate_limited',
      message: 'rate limit reached for this API key; retry in 60 s',
    });
    // Another key has its own budget.
    expect((await embed(a, { authorization: `Bearer ${KEYS[1]}` })).status).toBe(200);
  });

  it('without keys, limits by client address', async () => {
    const a = app({ RATE_LIMITER: env.TEST_RATE_LIMITER, RATE_LIMIT_PERIOD_SECONDS: '10' });
    const from = (ip: string) => embed(a, { 'cf-connecting-ip': ip });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await from('203.0.113.7')).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await from('203.0.113.7');
    expect(limited.headers.get('retry-after')).toBe('10');
    expect((await errorOf(limited)).message).toMatch(/for this client address/);
    expect((await from('203.0.113.8')).status).toBe(200);
  });
});
