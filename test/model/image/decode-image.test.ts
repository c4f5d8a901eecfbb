import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { encode as encodeBmp } from 'bmp-ts';
import { encode as encodePng } from 'fast-png';
import UTIF from 'utif2';
import { describe, expect, it } from 'vitest';
import { nodeImageDecoders } from '../../../src/adapters/node/image-wasm-node.ts';
import { decodeImage } from '../../../src/model/image/decode-image.ts';
import { probeImage } from '../../../src/model/image/probe-image.ts';
import { packedRgb } from '../../helpers/packed-rgb.ts';
import { FIXTURES, PREPROCESS, PREPROCESS_AVIF, PREPROCESS_WEBP } from '../../helpers/paths.ts';

const W = 7;
const H = 5;
/** A small RGB pattern with every channel varying. */
const rgb = Uint8Array.from({ length: W * H * 3 }, (_, i) => (i * 37 + (i % 3) * 91) % 256);
const withAlpha = (alpha: number) => {
  const out = new Uint8Array(W * H * 4);
  for (let p = 0; p < W * H; p++) out.set([rgb[p * 3], rgb[p * 3 + 1], rgb[p * 3 + 2], alpha], p * 4);
  return out;
};
const decoders = nodeImageDecoders();
const decode = async (bytes: Uint8Array) => packedRgb(await decodeImage(bytes, probeImage(bytes), 40e6, decoders));

describe('decodeImage: PIL convert("RGB") semantics per format', () => {
  it('PNG 8-bit RGB and RGBA (alpha dropped, not composited)', async () => {
    expect(await decode(encodePng({ width: W, height: H, data: rgb, channels: 3, depth: 8 }))).toEqual(rgb);
    expect(await decode(encodePng({ width: W, height: H, data: withAlpha(0), channels: 4, depth: 8 }))).toEqual(rgb);
  });

  it('PNG 16-bit RGB keeps the high byte', async () => {
    const wide = Uint16Array.from(rgb, (v, i) => v * 256 + (i % 256));
    expect(await decode(encodePng({ width: W, height: H, data: wide, channels: 3, depth: 16 }))).toEqual(rgb);
  });

  it('PNG greyscale expands to R = G = B; 16-bit grey is clamped to 255 (mode I)', async () => {
    const grey = Uint8Array.from({ length: W * H }, (_, i) => (i * 11) % 256);
    const expected = Uint8Array.from({ length: W * H * 3 }, (_, i) => grey[Math.floor(i / 3)]);
    expect(await decode(encodePng({ width: W, height: H, data: grey, channels: 1, depth: 8 }))).toEqual(expected);
    const grey16 = Uint16Array.from(grey, (v) => v * 3);
    const clamped = Uint8Array.from({ length: W * H * 3 }, (_, i) => Math.min(255, grey16[Math.floor(i / 3)]));
    expect(await decode(encodePng({ width: W, height: H, data: grey16, channels: 1, depth: 16 }))).toEqual(clamped);
  });

  it('BMP and TIFF', async () => {
    const abgr = Buffer.alloc(W * H * 4);
    for (let p = 0; p < W * H; p++) abgr.set([255, rgb[p * 3 + 2], rgb[p * 3 + 1], rgb[p * 3]], p * 4);
    expect(await decode(new Uint8Array(encodeBmp({ width: W, height: H, data: abgr }).data))).toEqual(rgb);
    const tiff = new Uint8Array(UTIF.encodeImage(withAlpha(255), W, H));
    expect(await decode(tiff)).toEqual(rgb);
  });
});

describe('JPEG variants (mozjpeg decoder: libjpeg-turbo algorithms)', () => {
  const SW = 32;
  const SH = 24;
  /** A smooth picture (JPEG keeps it within a few levels). */
  const smooth = Uint8Array.from({ length: SW * SH * 3 }, (_, i) => {
    const p = Math.floor(i / 3);
    return [((p % SW) * 255) / SW, (Math.floor(p / SW) * 255) / SH, 128][i % 3];
  });
  const rgba = Uint8ClampedArray.from({ length: SW * SH * 4 }, (_, i) =>
    i % 4 === 3 ? 255 : smooth[Math.floor(i / 4) * 3 + (i % 4)],
  );
  const image = { data: rgba, width: SW, height: SH, colorSpace: 'srgb' } as unknown as ImageData;
  const encoderReady = (async () => {
    const { init, default: encode } = await import('@jsquash/jpeg/encode.js');
    await init(
      await WebAssembly.compile(
        readFileSync(createRequire(import.meta.url).resolve('@jsquash/jpeg/codec/enc/mozjpeg_enc.wasm')),
      ),
    );
    return encode;
  })();
  const meanAbs = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;

  it('decodes baseline and progressive JPEGs to the picture', async () => {
    const encode = await encoderReady;
    for (const progressive of [false, true]) {
      const jpeg = new Uint8Array(await encode(image, { quality: 95, progressive }));
      expect(meanAbs(await decode(jpeg), smooth)).toBeLessThan(3);
    }
  });

  it('expands a greyscale JPEG to R = G = B', async () => {
    const encode = await encoderReady;
    const out = await decode(new Uint8Array(await encode(image, { quality: 95, color_space: 1 })));
    for (let p = 0; p < SW * SH; p++) {
      expect(out[p * 3]).toBe(out[p * 3 + 1]);
      expect(out[p * 3 + 1]).toBe(out[p * 3 + 2]);
    }
  });
});

describe('WebP (libwebp in wasm): corrupt and hostile files are refused', () => {
  const webp = async () => {
    return (file: string) => new Uint8Array(readFileSync(join(PREPROCESS_WEBP, file)));
  };

  it('a cut file, a chunk past the end, garbage after the header, a frame off the canvas', async () => {
    const read = await webp();
    const lossy = read('grace_hopper_lossy.webp');
    await expect(decode(lossy.subarray(0, lossy.length >> 1))).rejects.toThrow(/WebP/);
    const garbage = lossy.slice();
    garbage.fill(0x5a, 40);
    await expect(decode(garbage)).rejects.toThrow(/corrupt WebP/);
    // The animation's first frame moved so that it no longer fits on the 480×560 canvas.
    const animated = read('animated_offset.webp');
    const anmf = Buffer.from(animated).indexOf('ANMF');
    const moved = animated.slice();
    moved.set([0xff, 0x00, 0x00], anmf + 8);
    await expect(decode(moved)).rejects.toThrow(/outside the canvas/);
    // A frame whose header says 1×1 over a 300×400 bitstream: libwebp must not decode it at the bitstream's size.
    const small = animated.slice();
    small.set([0, 0, 0, 0, 0, 0], anmf + 8 + 6);
    await expect(decode(small)).rejects.toThrow(/corrupt WebP/);
    // A bare bitstream after "WEBP" (no chunk header): its size is nowhere the probe reads, so it is refused.
    const lossless = read('chelsea_lossless.webp');
    const bare = new Uint8Array(lossless.length - 8);
    bare.set(lossless.subarray(0, 12));
    bare.set(lossless.subarray(20), 12);
    expect(() => probeImage(bare)).toThrow(/not a VP8X header or a VP8\/VP8L bitstream/);
    // Still decodes the original afterwards (a failed instance is replaced).
    expect((await decode(lossy)).length).toBe(512 * 600 * 3);
  });
});

describe('AVIF (libavif + libaom in wasm)', () => {
  it('decodes the lossless file to exactly the pixels it was made from', async () => {
    const lossless = await decode(new Uint8Array(readFileSync(join(PREPROCESS_AVIF, 'chelsea_lossless.avif'))));
    const source = await decode(new Uint8Array(readFileSync(join(PREPROCESS, 'chelsea.png'))));
    expect(lossless).toHaveLength(451 * 300 * 3);
    expect(Buffer.from(lossless).equals(Buffer.from(source))).toBe(true);
  });

  it('decodes a lossy file at its size, and refuses a cut or damaged one', async () => {
    const avif = new Uint8Array(readFileSync(join(PREPROCESS_AVIF, 'grace_hopper_lossy.avif')));
    expect(probeImage(avif)).toEqual({ format: 'avif', width: 512, height: 600 });
    await expect(decode(avif.subarray(0, avif.length - 4000))).rejects.toThrow(/AVIF/);
    const damaged = avif.slice();
    damaged.fill(0x33, avif.length - 20000, avif.length - 10000);
    await expect(decode(damaged)).rejects.toThrow(/corrupt AVIF/);
    expect((await decode(avif)).length).toBe(512 * 600 * 3);
  });

  it('checks the size the AV1 stream allows, not only what the container says, before decoding', async () => {
    const avif = new Uint8Array(readFileSync(join(PREPROCESS_AVIF, 'grace_hopper_lossy.avif')));
    const ispe = Buffer.from(avif).indexOf('ispe');
    const lying = avif.slice();
    const view = new DataView(lying.buffer);
    view.setUint32(ispe + 8, 16);
    view.setUint32(ispe + 12, 16);
    expect(() => probeImage(lying)).toThrow(/AV1 stream allows 512×600 frames, the image says 16×16/);
    // A grid is allocated at its output size, whatever its properties say: that is the size the limit sees.
    const grid = new Uint8Array(readFileSync(join(PREPROCESS_AVIF, 'grace_hopper_grid.avif')));
    expect(probeImage(grid)).toEqual({ format: 'avif', width: 512, height: 600 });
    const at = Buffer.from(grid).indexOf(Buffer.from([0, 0, 1, 1, 0x02, 0x00, 0x02, 0x58]));
    expect(at).toBeGreaterThan(0);
    const huge = grid.slice();
    huge.set([0xff, 0xff, 0xff, 0xff], at + 4);
    expect(probeImage(huge)).toEqual({ format: 'avif', width: 65535, height: 65535 });
  });
});

describe('CMYK JPEG (jpeg-js), against what Pillow decodes (test/fixtures/cmyk/make-cmyk.py)', () => {
  const dir = join(FIXTURES, 'cmyk');
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as {
    images: { file: string; rgb_u8_file: string; size_wh: [number, number]; subsampling: '444' | '420' }[];
  };
  /**
   * Mean and max |ours − Pillow| in levels. Without subsampling only the IDCTs differ; a subsampled plane goes through
   * jpeg-js's nearest-neighbour upsampling where libjpeg's is fancy (README). An inverted Adobe CMYK, a swapped plane or
   * an ignored K is off by tens of levels on average.
   */
  const bounds = { '444': { mean: 0.5, max: 2 }, '420': { mean: 6, max: 128 } };

  it.each(index.images.map((e) => [e.file, e] as const))('%s', async (_, e) => {
    const bytes = new Uint8Array(readFileSync(join(dir, e.file)));
    const decoded = await decodeImage(bytes, probeImage(bytes), 40e6, decoders);
    const img = packedRgb(decoded);
    const pillow = readFileSync(join(dir, e.rgb_u8_file));
    expect([decoded.width, decoded.height]).toEqual(e.size_wh);
    expect(img.length).toBe(pillow.length);
    let sum = 0;
    let max = 0;
    for (let i = 0; i < pillow.length; i++) {
      const d = Math.abs(img[i] - pillow[i]);
      sum += d;
      max = Math.max(max, d);
    }
    expect(sum / pillow.length).toBeLessThanOrEqual(bounds[e.subsampling].mean);
    expect(max).toBeLessThanOrEqual(bounds[e.subsampling].max);
  });
});
