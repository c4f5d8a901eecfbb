import { env } from 'cloudflare:workers';
import mozjpegWasm from '@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { initJpegDecoder } from '../../src/model/image/decode-jpeg.ts';
import { preprocessImage } from '../../src/model/image/preprocess-image.ts';
import { compare, GOLDEN_CFG, type GoldenEntry, tolerance } from '../helpers/preprocess-goldens.ts';
import { fixture } from './seed.ts';

let index: { images: GoldenEntry[] };

beforeAll(async () => {
  await initJpegDecoder(mozjpegWasm);
  index = JSON.parse(new TextDecoder().decode(await fixture(env, 'preprocess/index.json')));
});

describe('preprocessImage inside workerd against the OpenCLIP goldens', () => {
  it('matches every golden within its tolerance', async () => {
    expect(index.images.length).toBeGreaterThanOrEqual(6);
    for (const entry of index.images) {
      const out = new Float32Array(3 * 320 * 320);
      await preprocessImage(await fixture(env, `preprocess/${entry.file}`), GOLDEN_CFG, out);
      const golden = await fixture(env, `preprocess/${entry.tensor_file}`);
      const diff = compare(out, new Float32Array(golden.buffer, golden.byteOffset, golden.byteLength / 4));
      const tol = tolerance(entry);
      expect(diff.max, entry.file).toBeLessThanOrEqual(tol.max);
      expect(diff.mean, entry.file).toBeLessThanOrEqual(tol.mean);
    }
  });
});
