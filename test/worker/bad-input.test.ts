import { env } from 'cloudflare:workers';
import { GifWriter } from 'omggif';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeBase64 } from '../../src/contracts/base64.ts';
import worker from '../../src/worker/index.ts';
import { jpegWithScans } from '../helpers/crafted-images.ts';
import { fixture, seedModel } from './seed.ts';

const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
const call = (path: string, init?: RequestInit) =>
  worker.fetch(new Request(`http://edge${path}`, init) as Request<unknown, IncomingRequestCfProperties>, env, ctx);
const json = (body: unknown) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});
const image = (bytes: Uint8Array, type = 'image/png') => ({
  method: 'POST',
  headers: { 'content-type': type },
  body: bytes,
});

/** A PNG header declaring 100000×100000 pixels (and nothing else). */
function pngDeclaring(w: number, h: number): Uint8Array {
  const b = new Uint8Array(33);
  b.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  const dv = new DataView(b.buffer);
  dv.setUint32(16, w);
  dv.setUint32(20, h);
  b[24] = 8;
  b[25] = 2;
  return b;
}

/** A 16×16 GIF of the given frames (each a solid palette colour). */
function gif(colors: number[]): Uint8Array {
  const buf = new Uint8Array(4096);
  const writer = new GifWriter(buf, 16, 16, { loop: 0 });
  for (const c of colors) writer.addFrame(0, 0, 16, 16, new Array(256).fill(0), { palette: [c, 0xffffff], delay: 10 });
  return buf.slice(0, writer.end());
}

let jpeg: Uint8Array;
let png: Uint8Array;

beforeAll(async () => {
  await seedModel(env, 'tiny-st', 'tiny');
  jpeg = await fixture(env, 'preprocess/grace_hopper.jpg');
  png = await fixture(env, 'preprocess/chelsea.png');
});

const errorOf = async (res: Response) => ((await res.json()) as { error: { type: string; message: string } }).error;

describe('bad input gets a clear 4xx JSON error', () => {
  it.each([
    ['invalid JSON', json('{"input": '), 400, /not valid JSON/],
    ['an empty body', json(''), 400, /empty/],
    ['no input', json({}), 400, /input must be/],
    ['an empty input list', json({ input: [] }), 400, /non-empty/],
    ['a non-string input', json({ input: [1, 2] }), 400, /every input must be a string/],
    ['too many inputs', json({ input: new Array(33).fill('x') }), 413, /at most 32 inputs/],
    ['a text over the character limit', json({ input: 'x'.repeat(3000) }), 413, /2048/],
    ['an unknown precision', json({ input: 'x', precision: 'int3' }), 400, /precision must be one of/],
    ['an unknown model', json({ input: 'x', model: 'other' }), 404, /model "other" is not served here/],
    ['an unknown encoding format', json({ input: 'x', encoding_format: 'hex' }), 400, /encoding_format/],
    ['OpenAI dimensions other than the width', json({ input: 'x', dimensions: 8 }), 400, /dimensions must be 24/],
    [
      'OpenAI dimensions that are not a number',
      json({ input: 'x', dimensions: '24' }),
      400,
      /dimensions must be a number/,
    ],
    ['a JSON array body', json(['a photo of a cat']), 400, /request body must be a JSON object/],
    ['a JSON string body', json('"a photo of a cat"'), 400, /request body must be a JSON object/],
    [
      'an image input that is neither a data URI nor a URL',
      json({ input: 'cat.jpg', modality: 'image' }),
      400,
      /must be a data:image\/\.\.\.;base64, URI or an https:\/\/ URL/,
    ],
    [
      'an http image URL (https only by default)',
      json({ input: 'http://x/cat.jpg', modality: 'image' }),
      400,
      /http: URLs are not fetched: https only \(IMAGE_URLS=https\)/,
    ],
  ])('/v1/embeddings with %s', async (_name, init, status, message) => {
    const res = await call('/v1/embeddings', init);
    expect(res.status).toBe(status);
    expect((await errorOf(res)).message).toMatch(message);
  });

  it('options in the query of a JSON route are refused, not ignored; a label set is read at the precision asked', async () => {
    const res = await call('/v1/embeddings?precision=fp32', json({ input: 'a cat' }));
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toMatch(
      /reads its options from the JSON body, not the query \(got "precision"\)/,
    );
    const unknown = await call('/v1/labelsets/animals?precison=int8');
    expect(unknown.status).toBe(400);
    expect((await errorOf(unknown)).message).toMatch(/precison/);
    const noFp32 = await call('/v1/labelsets/animals?precision=int3');
    expect(noFp32.status).toBe(400);
    expect((await errorOf(noFp32)).message).toMatch(/precision must be one of/);
  });

  it.each([
    ['a truncated JPEG', () => image(jpeg.subarray(0, jpeg.length >> 1), 'image/jpeg'), 422, /truncated JPEG/],
    ['a truncated PNG', () => image(png.subarray(0, png.length >> 1)), 422, /truncated PNG/],
    [
      'random bytes labelled as an image',
      () =>
        image(
          new Uint8Array(5000).map((_, i) => (i * 31 + 7) % 256),
          'image/jpeg',
        ),
      415,
      /not a JPEG, PNG/,
    ],
    ['a PNG declaring 100000×100000', () => image(pngDeclaring(100000, 100000)), 413, /the limit is 12\.0 MP/],
    [
      'a 9 MP PNG, within the pixel limit, whose decoding would outgrow the isolate',
      () => image(pngDeclaring(3000, 3000)),
      413,
      /decoding this PNG needs about \d+ MiB, more than the 64 MiB allowed \(MAX_DECODE_BYTES\)/,
    ],
    [
      'a 6 MP progressive JPEG (every coefficient held until its last scan)',
      () => image(jpegWithScans(3000, 2000, 2), 'image/jpeg'),
      413,
      /decoding this progressive JPEG needs about 1\d\d MiB/,
    ],
    ['an empty body', () => image(new Uint8Array(0)), 422, /empty image/],
    ['a 0×0 image', () => image(pngDeclaring(0, 0)), 422, /empty image \(0×0\)/],
    ['a body over the size limit', () => image(new Uint8Array(21 * 1024 * 1024)), 413, /exceeds/],
    [
      'a non-image content type',
      () => ({ method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' }),
      415,
      /image\/\*/,
    ],
    [
      'multipart without an image field',
      () => ({
        method: 'POST',
        body: (() => {
          const f = new FormData();
          f.append('file', 'x');
          return f;
        })(),
      }),
      400,
      /field named "image"/,
    ],
    ['an invalid orientation option', () => ({ ...image(png), url: '' }), 400, /orientation/],
  ])('/v1/images/embeddings with %s', async (name, init, status, message) => {
    const path = name.includes('orientation') ? '/v1/images/embeddings?orientation=sideways' : '/v1/images/embeddings';
    const res = await call(path, init() as RequestInit);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect((await errorOf(res)).message).toMatch(message);
  });

  it('label lists and built prompts are bounded before the work: a long labels field, a template of many {c}', async () => {
    // 256 labels of 2,048 characters is the most a list can hold; one character more is refused before any split.
    const long = 'x'.repeat(256 * 2051 + 3);
    const query = await call(`/v1/classify?labels=${long}`, image(png));
    expect(query.status).toBe(413);
    expect((await errorOf(query)).message).toMatch(
      /labels is \d+ characters; at most \d+ \(MAX_LABELS × MAX_TEXT_CHARS\)/,
    );
    // Each template and label is within MAX_TEXT_CHARS, but the prompt they build is not.
    const built = await call(
      '/v1/classify',
      json({
        images: [`data:image/png;base64,${encodeBase64(png)}`],
        labels: ['y'.repeat(1000)],
        templates: ['{c} {c} {c}'],
      }),
    );
    expect(built.status).toBe(413);
    expect((await errorOf(built)).message).toMatch(/would be 3002 characters; at most 2048 \(MAX_TEXT_CHARS\)/);
  });

  it('an animated GIF embeds its first frame, as PIL reads it', async () => {
    const embed = async (bytes: Uint8Array) => {
      const res = await call('/v1/images/embeddings', image(bytes, 'image/gif'));
      expect(res.status).toBe(200);
      return ((await res.json()) as { data: { embedding: number[] }[] }).data[0].embedding;
    };
    const animated = await embed(gif([0xff0000, 0x0000ff]));
    expect(animated).toEqual(await embed(gif([0xff0000])));
    expect(animated).not.toEqual(await embed(gif([0x0000ff])));
  });

  it('unknown routes are JSON 404s', async () => {
    const res = await call('/v2/nothing');
    expect(res.status).toBe(404);
    expect((await errorOf(res)).type).toBe('not_found');
  });
});
