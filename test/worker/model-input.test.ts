/** POST /v1/preprocess in workerd: the model's input as a PNG, its headers, and hostile inputs as on the embedding route. */
import { env } from 'cloudflare:workers';
import { decode as decodePng } from 'fast-png';
import { beforeAll, describe, expect, it } from 'vitest';
import { workerdDecoderModules } from '../../src/adapters/workerd/image-wasm.ts';
import type { ModelManifest } from '../../src/contracts/manifest.ts';
import { preprocessToRgb } from '../../src/model/image/preprocess-image.ts';
import { imageDecoders } from '../../src/model/image/wasm-codec.ts';
import worker from '../../src/worker/index.ts';
import { hostileCases } from '../helpers/crafted-images.ts';
import { fixture, seedModel } from './seed.ts';

const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
const post = (path: string, body: Uint8Array, type = 'image/jpeg') =>
  worker.fetch(
    new Request(`http://edge${path}`, { method: 'POST', headers: { 'content-type': type }, body }) as Request<
      unknown,
      IncomingRequestCfProperties
    >,
    env,
    ctx,
  );

let manifest: ModelManifest;
beforeAll(async () => {
  manifest = await seedModel(env, 'tiny-st', 'tiny');
});

describe('POST /v1/preprocess', () => {
  it('answers the crop the tower gets, as a PNG, with the original size, resize and crop box', async () => {
    const bytes = await fixture(env, 'preprocess/grace_hopper.jpg');
    const res = await post('/v1/preprocess', bytes);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    const S = manifest.preprocess.size;
    const expected = await preprocessToRgb(bytes, manifest.preprocess, {
      maxPixels: 40e6,
      decoders: imageDecoders(workerdDecoderModules),
    });
    const { view } = expected;
    expect(res.headers.get('x-original-size')).toBe(`${view.width}x${view.height}`);
    expect(res.headers.get('x-resize')).toBe(`${view.resized.width}x${view.resized.height}`);
    expect(res.headers.get('x-crop-box')).toBe(`${view.crop.left},${view.crop.top},${S},${S}`);
    expect(res.headers.get('x-orientation')).toBe('1');
    expect(Math.min(view.resized.width, view.resized.height)).toBe(S);
    const png = decodePng(new Uint8Array(await res.arrayBuffer()));
    expect([png.width, png.height, png.channels]).toEqual([S, S, 3]);
    expect(new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength)).toEqual(expected.rgb);
  });

  it('applies the EXIF orientation when asked, and says so', async () => {
    const bytes = await fixture(env, 'preprocess/motorcycle_exif6.jpg');
    const plain = await post('/v1/preprocess', bytes);
    const turned = await post('/v1/preprocess?orientation=exif', bytes);
    expect(turned.status).toBe(200);
    expect(turned.headers.get('x-orientation')).toBe('6');
    const [w, h] = (plain.headers.get('x-original-size') ?? '').split('x');
    expect(turned.headers.get('x-original-size')).toBe(`${h}x${w}`);
  });

  it('answers hostile images as the embedding route does, within the same bounds', async () => {
    for (const c of await hostileCases(1 << 30)) {
      const t0 = Date.now();
      const [view, embed] = await Promise.all([
        post('/v1/preprocess', c.body, 'application/octet-stream'),
        post('/v1/images/embeddings', c.body, 'application/octet-stream'),
      ]);
      expect({ name: c.name, status: view.status }).toEqual({ name: c.name, status: embed.status });
      if (view.status !== 200) expect(view.headers.get('content-type')).toMatch(/application\/json/);
      await Promise.all([view.arrayBuffer(), embed.arrayBuffer()]);
      expect(Date.now() - t0, c.name).toBeLessThan(10_000);
    }
  });
});
