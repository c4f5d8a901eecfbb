/**
 * Full-size images of every decodable format and layout, the costliest of each family included (progressive 4:4:4
 * JPEG, 16-bit RGBA PNG and TIFF, 32-bit BMP, lossless WebP, 10-bit AVIF): what decode memory is measured on. Noisy
 * gradients, so that no encoder makes a trivially small file.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import encodeAvif, { init as initAvif } from '@jsquash/avif/encode.js';
import encodeJpeg, { init as initJpeg } from '@jsquash/jpeg/encode.js';
import encodeWebp, { init as initWebp } from '@jsquash/webp/encode.js';
import { encode as encodePng } from 'fast-png';
import { GifWriter } from 'omggif';
import { tiff } from './crafted-images.ts';

export const LARGE_IMAGE_KINDS = [
  'jpeg-420',
  'jpeg-444-progressive',
  'jpeg-420-exif-rotated',
  'png-rgb8',
  'png-rgba16',
  'gif',
  'bmp-32',
  'tiff-rgb8',
  'tiff-rgba16',
  'webp-lossy',
  'webp-lossless-alpha',
  'avif-420',
  'avif-444-10bit',
] as const;
export type LargeImageKind = (typeof LARGE_IMAGE_KINDS)[number];

type Init = (module: WebAssembly.Module) => Promise<unknown>;
const require = createRequire(import.meta.url);
let encoders: Promise<unknown> | undefined;
const ready = () =>
  (encoders ??= Promise.all(
    (
      [
        [initJpeg, '@jsquash/jpeg/codec/enc/mozjpeg_enc.wasm'],
        [initWebp, '@jsquash/webp/codec/enc/webp_enc.wasm'],
        [initAvif, '@jsquash/avif/codec/enc/avif_enc.wasm'],
      ] as [unknown, string][]
    ).map(([init, wasm]) => (init as Init)(new WebAssembly.Module(readFileSync(require.resolve(wasm))))),
  ));

/** 8-bit RGBA of w×h: gradients with a little noise, opaque unless `alpha`. */
function rgba(w: number, h: number, alpha = false): Uint8ClampedArray {
  const out = new Uint8ClampedArray(w * h * 4);
  let seed = 12345;
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i += 4) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const n = (seed >>> 24) & 15;
      out[i] = ((x * 255) / w + n) | 0;
      out[i + 1] = ((y * 255) / h + n) | 0;
      out[i + 2] = (((x + y) * 127) / (w + h) + n) | 0;
      out[i + 3] = alpha ? 255 - (x * 127) / w : 255;
    }
  }
  return out;
}

const imageData = (data: Uint8ClampedArray, width: number, height: number) =>
  ({ data, width, height, colorSpace: 'srgb' }) as ImageData;

function bmp32(w: number, h: number): Uint8Array {
  const px = rgba(w, h);
  const out = new Uint8Array(54 + w * h * 4);
  const dv = new DataView(out.buffer);
  out.set([0x42, 0x4d]);
  dv.setUint32(2, out.length, true);
  dv.setUint32(10, 54, true);
  dv.setUint32(14, 40, true);
  dv.setInt32(18, w, true);
  dv.setInt32(22, h, true);
  dv.setUint16(26, 1, true);
  dv.setUint16(28, 32, true);
  for (let i = 0; i < w * h; i++) out.set([px[i * 4 + 2], px[i * 4 + 1], px[i * 4], 255], 54 + i * 4);
  return out;
}

function tiffImage(w: number, h: number, channels: 3 | 4, depth: 8 | 16): Uint8Array {
  const px = rgba(w, h, channels === 4);
  const bytes = new Uint8Array(w * h * channels * (depth / 8));
  for (let i = 0, o = 0; i < w * h; i++) {
    for (let c = 0; c < channels; c++) {
      const v = px[i * 4 + c];
      if (depth === 8) bytes[o++] = v;
      else {
        bytes[o++] = v;
        bytes[o++] = v;
      }
    }
  }
  return tiff([bytes], ([off]) => [
    [256, 4, [w]],
    [257, 4, [h]],
    [258, 3, Array(channels).fill(depth)],
    [259, 3, [1]],
    [262, 3, [2]],
    [273, 4, [off]],
    [277, 3, [channels]],
    [278, 4, [h]],
    [279, 4, [bytes.length]],
    ...(channels === 4 ? ([[338, 3, [2]]] as [number, 3, number[]][]) : []),
  ]);
}

function gif(w: number, h: number): Uint8Array {
  const palette = Array.from({ length: 256 }, (_, i) => (i << 16) | ((255 - i) << 8) | ((i * 3) & 255));
  const indices = new Uint8Array(w * h).map((_, i) => (i % w) + Math.floor(i / w));
  const buf = new Uint8Array(w * h * 2 + 4096);
  const writer = new GifWriter(buf, w, h, { palette });
  writer.addFrame(0, 0, w, h, indices as unknown as number[]);
  return buf.slice(0, writer.end());
}

/** The JPEG with an APP1 EXIF segment holding only Orientation (0x0112) = `orientation`. */
function withExifOrientation(jpeg: Uint8Array, orientation: number): Uint8Array {
  const tiffIfd = [0x4d, 0x4d, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0, 0, 0, 0, 0];
  const payload = [0x45, 0x78, 0x69, 0x66, 0, 0, ...tiffIfd];
  const app1 = [0xff, 0xe1, (payload.length + 2) >> 8, (payload.length + 2) & 0xff, ...payload];
  const out = new Uint8Array(jpeg.length + app1.length);
  out.set(jpeg.subarray(0, 2));
  out.set(app1, 2);
  out.set(jpeg.subarray(2), 2 + app1.length);
  return out;
}

export async function largeImage(kind: LargeImageKind, w: number, h: number): Promise<Uint8Array> {
  await ready();
  const u8 = (b: ArrayBuffer) => new Uint8Array(b);
  switch (kind) {
    case 'jpeg-420':
      return u8(
        await encodeJpeg(imageData(rgba(w, h), w, h), {
          quality: 90,
          progressive: false,
          chroma_subsample: 2,
          auto_subsample: false,
        }),
      );
    case 'jpeg-420-exif-rotated':
      return withExifOrientation(await largeImage('jpeg-420', w, h), 6);
    case 'jpeg-444-progressive':
      return u8(
        await encodeJpeg(imageData(rgba(w, h), w, h), {
          quality: 95,
          progressive: true,
          chroma_subsample: 1,
          auto_subsample: false,
        }),
      );
    case 'png-rgb8': {
      const px = rgba(w, h);
      const data = new Uint8Array(w * h * 3);
      for (let i = 0; i < w * h; i++) data.set(px.subarray(i * 4, i * 4 + 3), i * 3);
      return encodePng({ width: w, height: h, data, channels: 3, depth: 8 });
    }
    case 'png-rgba16': {
      const px = rgba(w, h, true);
      const data = new Uint16Array(px.length).map((_, i) => px[i] * 257);
      return encodePng({ width: w, height: h, data, channels: 4, depth: 16 });
    }
    case 'gif':
      return gif(w, h);
    case 'bmp-32':
      return bmp32(w, h);
    case 'tiff-rgb8':
      return tiffImage(w, h, 3, 8);
    case 'tiff-rgba16':
      return tiffImage(w, h, 4, 16);
    case 'webp-lossy':
      return u8(await encodeWebp(imageData(rgba(w, h), w, h), { quality: 90 }));
    case 'webp-lossless-alpha':
      return u8(await encodeWebp(imageData(rgba(w, h, true), w, h), { lossless: 1, method: 0 }));
    case 'avif-420':
      return u8(await encodeAvif(imageData(rgba(w, h), w, h), { speed: 10, quality: 60, subsample: 1 }));
    case 'avif-444-10bit':
      return u8(
        await encodeAvif(
          { data: Uint16Array.from(rgba(w, h), (v) => v * 4), width: w, height: h },
          { speed: 10, quality: 60, subsample: 3, bitDepth: 10 },
        ),
      );
  }
}
