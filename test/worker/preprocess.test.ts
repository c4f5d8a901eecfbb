import { env } from 'cloudflare:workers';
import { decode as decodePng } from 'fast-png';
import { beforeAll, describe, expect, it } from 'vitest';
import { workerdDecoderModules } from '../../src/adapters/workerd/image-wasm.ts';
import { sha256Hex } from '../../src/contracts/sha256.ts';
import { rgbToPng } from '../../src/model/image/encode-png.ts';
import {
  normalizationTable,
  normalizeRgb,
  preprocessImage,
  preprocessToRgb,
} from '../../src/model/image/preprocess-image.ts';
import { imageDecoders } from '../../src/model/image/wasm-codec.ts';
import { compare, GOLDEN_CFG, type GoldenEntry, tolerance } from '../helpers/preprocess-goldens.ts';
import { fixture } from './seed.ts';

const SETS = ['preprocess', 'preprocess-webp', 'preprocess-avif'];
let entries: { set: string; entry: GoldenEntry }[];

const options = { maxPixels: 40e6, decoders: imageDecoders(workerdDecoderModules) };

beforeAll(async () => {
  entries = [];
  for (const set of SETS) {
    const index = JSON.parse(new TextDecoder().decode(await fixture(env, `${set}/index.json`))) as {
      images: GoldenEntry[];
    };
    entries.push(...index.images.map((entry) => ({ set, entry })));
  }
});

describe('preprocessImage inside workerd against the OpenCLIP goldens', () => {
  it('matches every golden within its tolerance (JPEG, PNG, WebP, AVIF: lossy, lossless, alpha, animated)', async () => {
    expect(entries.length).toBeGreaterThanOrEqual(15);
    for (const { set, entry } of entries) {
      const out = new Float32Array(3 * 320 * 320);
      await preprocessImage(await fixture(env, `${set}/${entry.file}`), GOLDEN_CFG, out, 0, options);
      const golden = await fixture(env, `${set}/${entry.tensor_file}`);
      const diff = compare(out, new Float32Array(golden.buffer, golden.byteOffset, golden.byteLength / 4));
      const tol = tolerance(entry);
      expect(diff.max, entry.file).toBeLessThanOrEqual(tol.max);
      expect(diff.mean, entry.file).toBeLessThanOrEqual(tol.mean);
    }
  });

  it("the model's-eye PNG (jimp's encoder) decodes, with fast-png, to exactly the pixels whose normalization is the golden", async () => {
    const table = normalizationTable(GOLDEN_CFG);
    for (const { set, entry } of entries) {
      const { rgb } = await preprocessToRgb(await fixture(env, `${set}/${entry.file}`), GOLDEN_CFG, options);
      const decoded = decodePng(rgbToPng(rgb, 320, 320));
      expect([decoded.width, decoded.height, decoded.channels, decoded.depth], entry.file).toEqual([320, 320, 3, 8]);
      const pixels = new Uint8Array(decoded.data.buffer, decoded.data.byteOffset, decoded.data.byteLength);
      expect(pixels, entry.file).toEqual(rgb);
      const out = new Float32Array(3 * 320 * 320);
      normalizeRgb(pixels, 320, out, 0, table);
      const golden = await fixture(env, `${set}/${entry.tensor_file}`);
      const diff = compare(out, new Float32Array(golden.buffer, golden.byteOffset, golden.byteLength / 4));
      const exact = entry.pil_format !== 'AVIF' || entry.file.includes('lossless');
      if (exact) expect(await sha256Hex(new Uint8Array(out.buffer)), entry.file).toBe(entry.tensor_sha256);
      else expect(diff.max, entry.file).toBeLessThanOrEqual(tolerance(entry).max);
    }
  });

  it('is bit-exact where the README says so: every golden but lossy AVIF, by sha256 of the tensor', async () => {
    // Lossy AVIF's goldens come from another libavif build (tolerance above); lossless AVIF decodes exactly.
    const exact = entries.filter(({ entry }) => entry.pil_format !== 'AVIF' || entry.file.includes('lossless'));
    expect(exact.length).toBeGreaterThanOrEqual(12);
    for (const { set, entry } of exact) {
      const out = new Float32Array(3 * 320 * 320);
      await preprocessImage(await fixture(env, `${set}/${entry.file}`), GOLDEN_CFG, out, 0, options);
      expect(await sha256Hex(new Uint8Array(out.buffer)), entry.file).toBe(entry.tensor_sha256);
    }
  });
});
