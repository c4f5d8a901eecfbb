/** Images given as URLs, fetched by the Worker in workerd from a real loopback server (image-server.ts). */
import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { encodeBase64 } from '../../src/contracts/base64.ts';
import { buildApp, type WorkerEnv } from '../../src/worker/build-app.ts';
import { fixture, seedModel } from './seed.ts';

const server = inject('imageServer');
const app = (vars: Record<string, string> = {}) =>
  buildApp({
    ...env,
    MODEL_ID: 'urls',
    MEMORY_CACHE_ENTRIES: '64',
    MAX_BODY_BYTES: String(2 * 2 ** 20),
    IMAGE_URL_TIMEOUT_MS: '1500',
    ...vars,
  } as unknown as WorkerEnv);
/** Local use: http and loopback hosts allowed, as the test server needs. */
const local = app({ IMAGE_URLS: 'any' });
const embed = (a: ReturnType<typeof app>, input: string | string[]) =>
  a.request('/v1/embeddings', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input, modality: 'image' }),
  });
const errorOf = async (res: Response) => ((await res.json()) as { error: { type: string; message: string } }).error;
type Rows = { data: { embedding: number[] }[] };

let png: Uint8Array;
beforeAll(async () => {
  await seedModel(env, 'tiny-st', 'urls');
  png = await fixture(env, 'preprocess/chelsea.png');
});

describe('image URLs', () => {
  it('embeds the image at a URL exactly as its uploaded bytes, through the same cache entry', async () => {
    const a = app({ IMAGE_URLS: 'any' });
    const byUrl = await embed(a, `${server}/cat.png`);
    expect(byUrl.status).toBe(200);
    expect(byUrl.headers.get('x-cache')).toBe('miss');
    const inline = await embed(a, `data:image/png;base64,${encodeBase64(png)}`);
    expect(inline.headers.get('x-cache')).toBe('hit');
    expect(((await inline.json()) as Rows).data).toEqual(((await byUrl.json()) as Rows).data);
  });

  it('follows up to 3 redirects, and trusts bytes over a content type', async () => {
    expect((await embed(local, `${server}/hop1`)).status).toBe(200);
    expect((await embed(local, `${server}/cat-as-octets`)).status).toBe(200);
  });

  it('classify takes image URLs too', async () => {
    const res = await local.request('/v1/classify', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ images: [`${server}/cat.png`], labels: ['cat', 'dog'] }),
    });
    expect(res.status).toBe(200);
  });

  it.each([
    ['a redirect loop', '/loop', 400, /more than 3 redirects/],
    ['a redirect to file:', '/to-file', 400, /file: URLs are not fetched/],
    ['a redirect to a data: URL', '/to-data', 400, /data: URLs are not fetched/],
    ['an HTML page', '/page.html', 415, /answered text\/html, not a JPEG, PNG/],
    ['a 404', '/missing.png', 502, /answered HTTP 404/],
    ['a declared size over the body limit', '/huge-declared', 413, /larger than 2097152 bytes/],
    ['an endless body', '/endless', 413, /larger than 2097152 bytes/],
    ['a server that trickles a byte a second', '/trickle', 504, /within 1\.5 s \(IMAGE_URL_TIMEOUT_MS\)/],
    ['a dropped answer', '/drop', 502, /could not fetch from 127\.0\.0\.1/],
  ])('%s: a JSON error naming the problem, within its time limit', async (_, path, status, message) => {
    const t0 = Date.now();
    const res = await embed(local, `${server}${path}`);
    expect(res.status).toBe(status);
    expect((await errorOf(res)).message).toMatch(message);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('by default fetches only https from public hosts: http, private, loopback, link-local and credentials refused', async () => {
    const strict = app();
    for (const [url, message] of [
      [`${server}/cat.png`, /http: URLs are not fetched: https only \(IMAGE_URLS=https\)/],
      ['https://10.0.0.1/x.png', /10\.0\.0\.1 is a private or local address/],
      ['https://192.168.1.20/x.png', /private or local address/],
      ['https://169.254.169.254/latest/meta-data', /private or local address/],
      ['https://localhost/x.png', /private or local address/],
      ['https://[::1]/x.png', /private or local address/],
      ['https://[fd00::1]/x.png', /private or local address/],
      ['https://intranet/x.png', /private or local address/],
      ['https://user:secret@example.com/x.png', /credentials/],
      ['ftp://example.com/x.png', /must be a data:image\/\.\.\.;base64, URI or an https:\/\/ URL/],
      ['https://exa mple.com/x.png', /is not a URL/],
    ] as const) {
      const res = await embed(strict, url);
      expect({ url, status: res.status }).toEqual({ url, status: 400 });
      expect((await errorOf(res)).message).toMatch(message);
    }
  });

  it('IMAGE_URLS=off refuses URLs, saying how to send images', async () => {
    const res = await embed(app({ IMAGE_URLS: 'off' }), 'https://example.com/cat.png');
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toMatch(/IMAGE_URLS=off\); send the bytes/);
  });

  it('the Worker answers as before after every hostile URL', async () => {
    expect((await local.request('/healthz')).status).toBe(200);
    expect((await embed(local, `${server}/cat.png`)).status).toBe(200);
  });
});
