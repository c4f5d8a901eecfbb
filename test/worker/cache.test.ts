/** Repeated inputs answer from the embedding cache: the isolate's LRU and the real Workers Cache API of workerd. */
import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { cacheApiStore } from '../../src/adapters/workerd/cache-api-store.ts';
import { decodeBase64 } from '../../src/contracts/base64.ts';
import { labelsetKey } from '../../src/contracts/kv-keys.ts';
import type { ModelManifest } from '../../src/contracts/manifest.ts';
import { EmbeddingCache, embeddingKey, KEY_VERSIONS, MemoryLru } from '../../src/model/embedding-cache.ts';
import { buildApp } from '../../src/worker/build-app.ts';
import { fixture, seedModel } from './seed.ts';

/** A Worker context whose waitUntil work (cache writes) the test can wait for. */
function context() {
  const pending: Promise<unknown>[] = [];
  const ctx = {
    waitUntil: (p: Promise<unknown>) => pending.push(p),
    passThroughOnException() {},
    props: {},
  } as unknown as ExecutionContext;
  return { ctx, settled: () => Promise.all(pending.splice(0)) };
}

/** A fresh app (its own LRU) over the test bindings, with `vars` overriding wrangler.toml's. */
function appWith(vars: Record<string, string> = {}) {
  const app = buildApp({ ...env, ...vars } as typeof env);
  const { ctx, settled } = context();
  return async (path: string, init?: RequestInit) => {
    const res = await app.fetch(new Request(`http://edge${path}`, init), env, ctx);
    await res.clone().arrayBuffer();
    await settled();
    return res;
  };
}

const text = (input: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify({ input }),
});
const image = (bytes: Uint8Array, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'image/jpeg', ...headers },
  body: bytes as Uint8Array<ArrayBuffer>,
});
const timing = (res: Response, name: string) =>
  Number(new RegExp(`${name};dur=([\\d.]+)`).exec(res.headers.get('server-timing') ?? '')?.[1] ?? Number.NaN);
const embeddings = async (res: Response) =>
  ((await res.json()) as { data: { embedding: number[] }[] }).data.map((d) => d.embedding);

let jpeg: Uint8Array;
let manifest: ModelManifest;
beforeAll(async () => {
  manifest = await seedModel(env, 'tiny-st', 'tiny');
  jpeg = await fixture(env, 'preprocess/grace_hopper.jpg');
  const { zeroShot } = inject('reference');
  await env.PROMPTS.put(labelsetKey('tiny', manifest.buildHash, 'int8', 'animals'), decodeBase64(zeroShot.blobBase64));
});

describe('embedding cache', () => {
  it('answers a repeated text from the cache, without inference, with the same embedding', async () => {
    const call = appWith();
    const first = await call('/v1/embeddings', text('a photo of a lighthouse'));
    expect(first.headers.get('x-cache')).toBe('miss');
    expect(first.headers.get('server-timing')).toMatch(/infer;dur=/);
    const second = await call('/v1/embeddings', text('a photo of a lighthouse'));
    expect(second.headers.get('x-cache')).toBe('hit');
    expect(second.headers.get('server-timing')).not.toMatch(/infer;dur=/);
    expect(timing(second, 'total')).toBeLessThan(timing(first, 'total'));
    expect(await embeddings(second)).toEqual(await embeddings(first));
    // Another text, or the same one at another precision, is computed.
    expect((await call('/v1/embeddings', text('a photo of a lamp'))).headers.get('x-cache')).toBe('miss');
    const fp32 = await call('/v1/embeddings', {
      ...text(''),
      body: JSON.stringify({ input: 'a photo of a lighthouse', precision: 'fp32' }),
    });
    expect(fp32.headers.get('x-cache')).toBe('miss');
  });

  it('computes again on Cache-Control: no-cache, and a batch is a hit only when every input is cached', async () => {
    const call = appWith();
    await call('/v1/embeddings', text('a red bicycle'));
    const fresh = await call('/v1/embeddings', text('a red bicycle', { 'cache-control': 'no-cache' }));
    expect(fresh.headers.get('x-cache')).toBe('miss');
    expect(fresh.headers.get('server-timing')).toMatch(/infer;dur=/);
    const mixed = await call('/v1/embeddings', text(['a red bicycle', 'a blue bicycle']));
    expect(mixed.headers.get('x-cache')).toBe('miss');
    const [cachedRow] = await embeddings(mixed);
    const alone = await embeddings(await call('/v1/embeddings', text('a red bicycle')));
    expect(cachedRow).toEqual(alone[0]);
    expect((await call('/v1/embeddings', text(['a blue bicycle', 'a red bicycle']))).headers.get('x-cache')).toBe(
      'hit',
    );
  });

  it('answers a repeated image from the Workers Cache API alone (no isolate LRU), and classify reuses it', async () => {
    const call = appWith({ MEMORY_CACHE_ENTRIES: '0' });
    const first = await call('/v1/images/embeddings', image(jpeg));
    expect(first.headers.get('x-cache')).toBe('miss');
    expect(first.headers.get('server-timing')).toMatch(/decode;dur=.*infer;dur=/);
    // A new app has an empty LRU: only the Cache API can answer.
    const other = appWith({ MEMORY_CACHE_ENTRIES: '0' });
    const second = await other('/v1/images/embeddings', image(jpeg));
    expect(second.headers.get('x-cache')).toBe('hit');
    expect(second.headers.get('server-timing')).not.toMatch(/decode;dur=|infer;dur=/);
    expect(await embeddings(second)).toEqual(await embeddings(first));
    const classify = await other('/v1/classify?labelset=animals&top_k=2', image(jpeg));
    expect(classify.status).toBe(200);
    expect(classify.headers.get('x-cache')).toBe('hit');
    expect(classify.headers.get('server-timing')).not.toMatch(/infer;dur=/);
    // The EXIF orientation option changes the pixels, so it is part of the key.
    expect((await other('/v1/images/embeddings?orientation=exif', image(jpeg))).headers.get('x-cache')).toBe('miss');
  });

  it('Cache-Control: no-store neither reads nor stores', async () => {
    const call = appWith();
    const first = await call('/v1/embeddings', text('a paper boat', { 'cache-control': 'no-store' }));
    expect(first.headers.get('x-cache')).toBe('miss');
    expect((await call('/v1/embeddings', text('a paper boat'))).headers.get('x-cache')).toBe('miss');
    expect((await call('/v1/embeddings', text('a paper boat'))).headers.get('x-cache')).toBe('hit');
    expect(
      (await call('/v1/embeddings', text('a paper boat', { 'cache-control': 'no-store' }))).headers.get(
        'server-timing',
      ),
    ).toMatch(/infer;dur=/);
  });

  it('stores nothing when every tier is off', async () => {
    const call = appWith({ MEMORY_CACHE_ENTRIES: '0', CACHE_TTL_SECONDS: '0', PROMPT_CACHE_TTL_SECONDS: '0' });
    await call('/v1/embeddings', text('a quiet harbour'));
    const again = await call('/v1/embeddings', text('a quiet harbour'));
    expect(again.headers.get('x-cache')).toBeNull();
    expect(again.headers.get('server-timing')).toMatch(/infer;dur=/);
  });

  it('refills the LRU from the Cache API and treats a row of the wrong length as a miss', async () => {
    const lru = new MemoryLru(2);
    const shared = cacheApiStore(await caches.open('edge-clip-test'), 60);
    const cache = new EmbeddingCache([{ store: lru }, { store: shared }]);
    await shared.put('k1', Float32Array.of(1, 2, 3));
    expect(await cache.get('k1', 'image', 3)).toEqual(Float32Array.of(1, 2, 3));
    expect(lru.size).toBe(1);
    expect(await cache.get('k1', 'image', 4)).toBeUndefined();
    await cache.put('k2', 'image', Float32Array.of(4, 5, 6));
    await cache.put('k3', 'image', Float32Array.of(7, 8, 9));
    // Capacity 2: k1 (least recently used) left the LRU but is still in the Cache API.
    expect(lru.size).toBe(2);
    expect(await lru.get('k1')).toBeUndefined();
    expect(await cache.get('k1', 'image', 3)).toEqual(Float32Array.of(1, 2, 3));
  });

  it('treats a tier that fails to answer as a miss, never as a failed request', async () => {
    const lru = new MemoryLru(4);
    const down = { get: () => Promise.reject(new Error('cache unavailable')), put: async () => undefined };
    await lru.put('k', Float32Array.of(1, 2));
    expect(await new EmbeddingCache([{ store: down }, { store: lru }]).get('k', 'text', 2)).toEqual(
      Float32Array.of(1, 2),
    );
    expect(await new EmbeddingCache([{ store: down }]).get('k', 'text', 2)).toBeUndefined();
  });
});

describe('one versioned key for every tier', () => {
  const encode = (s: string) => new TextEncoder().encode(s);
  /** A row no tower computes: read back, it shows the answer came from the store. */
  const planted = () => new Uint8Array(new Float32Array(manifest.embedDim).fill(0.5).buffer);

  it('a KV prompt row under the current key answers; under an older tokenizer/key version it misses', async () => {
    const labels = ['lighthouse', 'harbour'];
    const prompts = labels.map((l) => `a photo of a ${l}.`);
    let binary = '';
    for (const b of jpeg) binary += String.fromCharCode(b);
    const body = JSON.stringify({ image: `data:image/jpeg;base64,${btoa(binary)}`, labels });
    const classify = (call: ReturnType<typeof appWith>) =>
      call('/v1/classify', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    // Rows written by an older build of the code: another version in the key.
    for (const p of prompts)
      await env.PROMPTS.put(await embeddingKey(manifest, 'int8', 'text', encode(p), undefined, 'old'), planted());
    const stale = await classify(appWith({ MEMORY_CACHE_ENTRIES: '0', CACHE_TTL_SECONDS: '0' }));
    expect(stale.status).toBe(200);
    expect(stale.headers.get('x-prompts-encoded')).toBe('2');
    // The same rows under the current key are read (the control: the test sees a read when there is one).
    for (const p of prompts) await env.PROMPTS.put(await embeddingKey(manifest, 'int8', 'text', encode(p)), planted());
    const fresh = await classify(appWith({ MEMORY_CACHE_ENTRIES: '0', CACHE_TTL_SECONDS: '0' }));
    expect(fresh.headers.get('x-prompts-encoded')).toBe('0');
    expect(KEY_VERSIONS.text).not.toBe('old');
  });

  it('a Cache API entry under an older version misses, under the current one answers', async () => {
    const input = 'a photo of an old key';
    const store = cacheApiStore(caches.default, 60);
    const row = new Float32Array(manifest.embedDim).fill(0.5);
    await store.put(await embeddingKey(manifest, 'int8', 'text', encode(input), undefined, 'old'), row);
    const stale = await appWith({ MEMORY_CACHE_ENTRIES: '0' })('/v1/embeddings', text(input));
    expect(stale.headers.get('x-cache')).toBe('miss');
    await store.put(await embeddingKey(manifest, 'int8', 'text', encode(input)), row);
    const fresh = await appWith({ MEMORY_CACHE_ENTRIES: '0' })('/v1/embeddings', text(input));
    expect(fresh.headers.get('x-cache')).toBe('hit');
    const [embedding] = await embeddings(fresh);
    expect(embedding.every((v) => Math.abs(v - 1 / Math.sqrt(manifest.embedDim)) < 1e-6)).toBe(true);
  });
});
