import { env } from 'cloudflare:workers';
import { Buffer } from 'node:buffer';
import { encode as encodeBmp } from 'bmp-ts';
import { beforeAll, describe, expect, it } from 'vitest';
import worker from '../../src/worker/index.ts';
import { gif, hostileCases, literalCodes, png, rgbTiff } from '../helpers/crafted-images.ts';
import { fixture, seedModel } from './seed.ts';

const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
const call = (path: string, init?: RequestInit) =>
  worker.fetch(new Request(`http://edge${path}`, init) as Request<unknown, IncomingRequestCfProperties>, env, ctx);
const post = (body: Uint8Array) =>
  call('/v1/images/embeddings', { method: 'POST', headers: { 'content-type': 'image/*' }, body });
const json = (path: string, body: unknown) =>
  call(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const errorOf = async (res: Response) => ((await res.json()) as { error: { type: string; message: string } }).error;

/**
 * A valid image's embedding, decoded and computed afresh (never from the cache): what shows that the decoders and the
 * tower still work after hostile input.
 */
async function embedding(bytes: Uint8Array): Promise<number[]> {
  const res = await call('/v1/images/embeddings', {
    method: 'POST',
    headers: { 'content-type': 'image/*', 'cache-control': 'no-cache' },
    body: bytes,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('x-cache')).toBe('miss');
  expect(res.headers.get('server-timing')).toMatch(/decode;dur=/);
  return ((await res.json()) as { data: { embedding: number[] }[] }).data[0].embedding;
}

/** mulberry32: a seeded generator, so that every run mutates the same way and a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Byte flips, overwritten runs, truncation, duplicated or deleted ranges: what a broken upload or a fuzzer sends. */
function mutate(b: Uint8Array, rnd: () => number): Uint8Array {
  const at = () => Math.floor(rnd() * b.length);
  switch (Math.floor(rnd() * 5)) {
    case 0: {
      const out = b.slice();
      for (let k = 1 + Math.floor(rnd() * 16); k > 0; k--) out[at()] = Math.floor(rnd() * 256);
      return out;
    }
    case 1: {
      const out = b.slice();
      const start = at();
      out.fill(rnd() < 0.5 ? 0xff : 0, start, Math.min(b.length, start + 1 + Math.floor(rnd() * 64)));
      return out;
    }
    case 2:
      return b.slice(0, Math.max(1, at()));
    case 3: {
      const [s, e] = [at(), at()].sort((x, y) => x - y);
      const out = new Uint8Array(b.length + (e - s));
      out.set(b.subarray(0, e));
      out.set(b.subarray(s), e);
      return out;
    }
    default: {
      const [s, e] = [at(), at()].sort((x, y) => x - y);
      const out = new Uint8Array(b.length - (e - s));
      out.set(b.subarray(0, s));
      out.set(b.subarray(e), s);
      return out;
    }
  }
}

let seeds: Record<string, Uint8Array>;

beforeAll(async () => {
  await seedModel(env, 'tiny-st', 'tiny');
  const bmp = encodeBmp({
    data: Buffer.from(new Uint8Array(24 * 16 * 4).map((_, i) => (i * 13) & 0xff)),
    width: 24,
    height: 16,
  });
  seeds = {
    jpeg: await fixture(env, 'preprocess/grace_hopper.jpg'),
    png: await fixture(env, 'preprocess/chelsea_tiny_40x30.png'),
    gif: gif({
      screen: [20, 12],
      frame: [0, 0, 20, 12],
      codes: literalCodes(Array.from({ length: 240 }, (_, i) => i)),
    }),
    bmp: new Uint8Array(bmp.data),
    tiff: rgbTiff(24, 16),
    webp: await fixture(env, 'preprocess-webp/rocket_rgba_lossy.webp'),
    avif: await fixture(env, 'preprocess-avif/rocket_rgba.avif'),
  };
});

describe('hostile images at the HTTP surface', () => {
  it('every crafted case answers its status within 5 s, and the worker is unchanged afterwards', async () => {
    const before = await embedding(seeds.png);
    for (const c of await hostileCases(1 << 30)) {
      const t0 = Date.now();
      const res = await post(c.body);
      const body = (await res.json()) as { error?: { message: string } };
      expect({ name: c.name, status: res.status }).toEqual({ name: c.name, status: expect.toBeOneOf(c.status) });
      if (c.message) expect(body.error?.message, c.name).toMatch(c.message);
      expect(Date.now() - t0, c.name).toBeLessThan(5000);
    }
    expect(await embedding(seeds.png)).toEqual(before);
    expect((await call('/healthz')).status).toBe(200);
  });

  it('fuzz: 1,400 mutated PNG/JPEG/GIF/BMP/TIFF/WebP/AVIF bodies get 200/413/415/422, and valid images decode as before', async () => {
    const formats = Object.keys(seeds);
    const before = Object.fromEntries(await Promise.all(formats.map(async (f) => [f, await embedding(seeds[f])])));
    const rnd = random(20261130);
    const counts: Record<string, Record<number, number>> = {};
    for (let i = 0; i < 1400; i++) {
      const format = formats[i % formats.length];
      const body = mutate(seeds[format], rnd);
      const t0 = Date.now();
      const res = await post(body);
      const type = res.headers.get('content-type');
      await res.arrayBuffer();
      expect({ i, format, status: res.status }).toEqual({ i, format, status: expect.toBeOneOf([200, 413, 415, 422]) });
      expect(type).toMatch(/application\/json/);
      expect(Date.now() - t0, `mutation ${i} of ${format}`).toBeLessThan(5000);
      counts[format] ??= {};
      counts[format][res.status] = (counts[format][res.status] ?? 0) + 1;
    }
    console.log(`fuzz statuses per format: ${JSON.stringify(counts)}`);
    for (const f of formats) expect(await embedding(seeds[f]), f).toEqual(before[f]);
  }, 300_000);
});

describe('limits on everything that is tokenized, stored or echoed', () => {
  it.each([
    ['a 1 MB label', { labels: ['x'.repeat(1 << 20)] }, 413, /labels\[0\] has 1048576 characters; the limit is 2048/],
    ['a long template', { labels: ['cat'], templates: [`${'y'.repeat(3000)} {c}`] }, 413, /templates\[0\] has 3004/],
    ['top_k: true', { labelset: 'x', top_k: true }, 400, /top_k must be an integer from 1 to 1000/],
    ['top_k: [3]', { labelset: 'x', top_k: [3] }, 400, /top_k must be an integer/],
    ['top_k: 2.5', { labelset: 'x', top_k: 2.5 }, 400, /top_k must be an integer/],
    ['a 600-byte label-set name', { labelset: 'n'.repeat(600) }, 400, /label-set name is 1-64 letters/],
    ['a label-set name with a slash', { labelset: 'a/b' }, 400, /label-set name/],
    [
      'more uncached prompts than one request computes',
      { labels: Array.from({ length: 65 }, (_, i) => `thing ${i}`) },
      413,
      /65 of these prompts are not cached and at most 64/,
    ],
  ])('/v1/classify with %s', async (_name, body, status, message) => {
    const image = `data:image/png;base64,${btoa(String.fromCharCode(...png(4, 4)))}`;
    const res = await json('/v1/classify', { image, ...body });
    expect(res.status).toBe(status);
    const err = await errorOf(res);
    expect(err.message).toMatch(message);
    expect(err.message.length).toBeLessThan(400);
  });

  it('never echoes more than about 100 characters of an input', async () => {
    const res = await json('/v1/embeddings', { input: 'x', model: 'm'.repeat(1 << 20) });
    expect(res.status).toBe(404);
    const { message } = await errorOf(res);
    expect(message).toMatch(/model "m{100}"… \(1048576 characters\) is not served here/);
    expect(message.length).toBeLessThan(250);
    const name = await call(`/v1/labelsets/${'k'.repeat(600)}`);
    expect(name.status).toBe(400);
    expect((await errorOf(name)).message.length).toBeLessThan(250);
  });
});
