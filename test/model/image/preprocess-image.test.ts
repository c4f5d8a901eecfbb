import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode as decodePng } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { nodeImageDecoders } from '../../../src/adapters/node/image-wasm-node.ts';
import { applyOrientation, readJpegOrientation } from '../../../src/model/image/exif-orientation.ts';
import {
  cropBox,
  normalizationTable,
  normalizeRgb,
  preprocessImage,
  preprocessToRgb,
  resizedSize,
} from '../../../src/model/image/preprocess-image.ts';
import { runCli } from '../../helpers/cli.ts';
import { packedRgb } from '../../helpers/packed-rgb.ts';
import { PREPROCESS, PREPROCESS_AVIF, PREPROCESS_WEBP, TEST_CACHE } from '../../helpers/paths.ts';
import { compare, GOLDEN_CFG, type GoldenEntry, tolerance } from '../../helpers/preprocess-goldens.ts';

type Entry = GoldenEntry & {
  rgb_u8_file: string;
  crop_box_ltrb: number[];
  resized_size_wh: number[];
  original_size_wh: number[];
};
/** The reference's goldens, and the WebP and AVIF sets made the same way (their make_goldens.py). */
const SETS = [PREPROCESS, PREPROCESS_WEBP, PREPROCESS_AVIF].flatMap((dir) =>
  (JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { images: Entry[] }).images.map(
    (entry) => [entry.file, dir, entry] as const,
  ),
);
const f32 = (dir: string, file: string) => {
  const b = readFileSync(join(dir, file));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
};

const options = { maxPixels: 40e6, decoders: nodeImageDecoders() };

describe('preprocessImage in Node against the OpenCLIP goldens', () => {
  it.each(SETS)('%s', async (_name, dir, entry) => {
    const out = new Float32Array(3 * 320 * 320);
    await preprocessImage(new Uint8Array(readFileSync(join(dir, entry.file))), GOLDEN_CFG, out, 0, options);
    const diff = compare(out, f32(dir, entry.tensor_file));
    const tol = tolerance(entry);
    expect(diff.max).toBeLessThanOrEqual(tol.max);
    expect(diff.mean).toBeLessThanOrEqual(tol.mean);
    const [w, h] = entry.original_size_wh;
    expect(resizedSize(w, h, GOLDEN_CFG)).toEqual(entry.resized_size_wh);
    const [rw, rh] = entry.resized_size_wh;
    expect(cropBox(rw, rh, 320)).toEqual({ left: entry.crop_box_ltrb[0], top: entry.crop_box_ltrb[1] });
  });

  it('reproduces the 8-bit crops exactly (decode + PIL bicubic are bit-exact; WebP and lossless AVIF included)', async () => {
    expect(SETS.filter(([file]) => file.endsWith('.webp')).length).toBeGreaterThanOrEqual(5);
    // Lossy AVIF's goldens come from another build of libavif, whose YUV→RGB rounding differs by a level here and
    // there; lossless AVIF has no such rounding.
    const exact = SETS.filter(([f]) => !f.endsWith('.avif') || f.includes('lossless'));
    expect(exact.some(([f]) => f.endsWith('.avif'))).toBe(true);
    for (const [file, dir, entry] of exact) {
      const { rgb } = await preprocessToRgb(new Uint8Array(readFileSync(join(dir, file))), GOLDEN_CFG, options);
      expect(Buffer.from(rgb).equals(readFileSync(join(dir, entry.rgb_u8_file))), file).toBe(true);
    }
  });
});

describe('EXIF orientation', () => {
  const rgb = { width: 2, height: 1, channels: 3, data: Uint8Array.from([1, 1, 1, 2, 2, 2]) } as const;
  const rgba = { width: 2, height: 1, channels: 4, data: Uint8Array.from([1, 1, 1, 9, 2, 2, 2, 9]) } as const;
  it.each([
    [1, 2, 1, [1, 2]],
    [2, 2, 1, [2, 1]],
    [3, 2, 1, [2, 1]],
    [6, 1, 2, [1, 2]],
    [8, 1, 2, [2, 1]],
  ])('orientation %i displays a 2×1 [A B] image as %i×%i %j', (o, w, h, order) => {
    for (const img of [rgb, rgba]) {
      const out = applyOrientation(img, o);
      expect([out.width, out.height]).toEqual([w, h]);
      const px = packedRgb(out);
      expect([px[0], px[3]]).toEqual(order);
    }
  });

  it('is ignored by default (as the reference) and applied with orientation "exif"', async () => {
    const bytes = new Uint8Array(readFileSync(join(PREPROCESS, 'motorcycle_exif6.jpg')));
    expect(readJpegOrientation(bytes)).toBe(6);
    const ignored = await preprocessToRgb(bytes, GOLDEN_CFG, options);
    expect(Buffer.from(ignored.rgb).equals(readFileSync(join(PREPROCESS, 'motorcycle_exif6.u8')))).toBe(true);
    const applied = await preprocessToRgb(bytes, GOLDEN_CFG, { ...options, orientation: 'exif' });
    expect(Buffer.from(applied.rgb).equals(Buffer.from(ignored.rgb))).toBe(false);
  });
});

describe('edge-clip preprocess', () => {
  it('writes the same tensor as the library, little-endian [3,320,320]', async () => {
    const out = join(TEST_CACHE, 'chelsea.f32');
    const res = await runCli(['preprocess', '--image', join(PREPROCESS, 'chelsea.png'), '--out', out]);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ shape: [3, 320, 320], format: 'png', original_size_wh: [451, 300] });
    expect(readFileSync(out).equals(readFileSync(join(PREPROCESS, 'chelsea.f32')))).toBe(true);
  });

  it('--png writes the crop the model sees: decoded by fast-png and normalized, it is the golden tensor', async () => {
    for (const [file, golden] of [
      ['grace_hopper.jpg', 'grace_hopper.f32'],
      ['chelsea.png', 'chelsea.f32'],
    ]) {
      const png = join(TEST_CACHE, `${file}.png`);
      const res = await runCli(['preprocess', '--image', join(PREPROCESS, file), '--png', png]);
      expect(res.code).toBe(0);
      expect(JSON.parse(res.stdout)).toMatchObject({ png, crop: { size: 320 } });
      const decoded = decodePng(readFileSync(png));
      expect([decoded.width, decoded.height, decoded.channels]).toEqual([320, 320, 3]);
      const out = new Float32Array(3 * 320 * 320);
      normalizeRgb(new Uint8Array(decoded.data.buffer), 320, out, 0, normalizationTable(GOLDEN_CFG));
      expect(Buffer.from(out.buffer).equals(readFileSync(join(PREPROCESS, golden))), file).toBe(true);
    }
    const neither = await runCli(['preprocess', '--image', join(PREPROCESS, 'chelsea.png')]);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toMatch(/give --out <file\.f32> or --png <file\.png>/);
  });

  it('refuses a corrupt image with one clear line', async () => {
    const bad = join(TEST_CACHE, 'bad.png');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(bad, readFileSync(join(PREPROCESS, 'chelsea.png')).subarray(0, 5000));
    const res = await runCli(['preprocess', '--image', bad, '--out', join(TEST_CACHE, 'bad.f32')]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/truncated PNG: iTXt chunk runs past the end of the file/);
  });
});
