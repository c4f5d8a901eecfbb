/** Large benchmark inputs made from the conformance photos: a 12-megapixel JPEG and a 1-megapixel PNG. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import encodeJpeg, { init as initEncoder } from '@jsquash/jpeg/encode.js';
import { encode as encodePng } from 'fast-png';
import { nodeImageDecoders } from '../src/adapters/node/image-wasm-node.ts';
import { DEFAULTS } from '../src/contracts/config.ts';
import type { PreprocessConfig } from '../src/contracts/manifest.ts';
import { preprocessImage, preprocessToRgb } from '../src/model/image/preprocess-image.ts';

const DIR = '.cache/bench';
/** The preprocessing fixtures' real photos, the source of every benchmark image. */
export const PREPROCESS_FIXTURES = 'test/fixtures/preprocess';

/** The benchmarks' photo (grace_hopper.jpg) as the model input of `cfg`, [1,3,S,S]. */
export async function photoTensor(cfg: PreprocessConfig): Promise<Float32Array> {
  const pixels = new Float32Array(3 * cfg.size * cfg.size);
  const photo = new Uint8Array(readFileSync(join(PREPROCESS_FIXTURES, 'grace_hopper.jpg')));
  await preprocessImage(photo, cfg, pixels, 0, await benchPreprocessOptions());
  return pixels;
}

/** Preprocessing as the Worker does it by default: its pixel limit, the wasm decoders. */
export const benchPreprocessOptions = async () => ({
  maxPixels: DEFAULTS.MAX_IMAGE_PIXELS,
  decoders: nodeImageDecoders(),
});

async function upscaled(source: string, w: number, h: number): Promise<Uint8Array> {
  const cfg = {
    size: Math.max(w, h),
    mean: [0, 0, 0],
    std: [1, 1, 1],
    interpolation: 'bicubic',
    resizeMode: 'squash',
  } as const;
  const { rgb } = await preprocessToRgb(
    new Uint8Array(readFileSync(source)),
    { ...cfg, mean: [0, 0, 0], std: [1, 1, 1] },
    await benchPreprocessOptions(),
  );
  // Crop the square to w×h.
  const side = cfg.size;
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) out.set(rgb.subarray(y * side * 3, y * side * 3 + w * 3), y * w * 3);
  return out;
}

function rgba(rgb: Uint8Array): Uint8ClampedArray {
  const out = new Uint8ClampedArray((rgb.length / 3) * 4);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    out[j] = rgb[i];
    out[j + 1] = rgb[i + 1];
    out[j + 2] = rgb[i + 2];
    out[j + 3] = 255;
  }
  return out;
}

export async function benchImages(): Promise<{ jpeg12mp: string; png1mp: string }> {
  mkdirSync(DIR, { recursive: true });
  const jpeg12mp = join(DIR, 'photo-4000x3000.jpg');
  const png1mp = join(DIR, 'photo-1155x866.png');
  if (!existsSync(jpeg12mp)) {
    const encWasm = createRequire(import.meta.url).resolve('@jsquash/jpeg/codec/enc/mozjpeg_enc.wasm');
    await initEncoder(await WebAssembly.compile(readFileSync(encWasm)));
    const rgb = await upscaled(join(PREPROCESS_FIXTURES, 'rocket.jpg'), 4000, 3000);
    const data = { data: rgba(rgb), width: 4000, height: 3000, colorSpace: 'srgb' } as unknown as ImageData;
    writeFileSync(
      jpeg12mp,
      new Uint8Array(await encodeJpeg(data, { quality: 90, progressive: false, chroma_subsample: 2 })),
    );
  }
  if (!existsSync(png1mp)) {
    const rgb = await upscaled(join(PREPROCESS_FIXTURES, 'chelsea.png'), 1155, 866);
    writeFileSync(png1mp, encodePng({ width: 1155, height: 866, data: rgb, channels: 3, depth: 8 }));
  }
  return { jpeg12mp, png1mp };
}
