import { describe, expect, it } from 'vitest';
import { packIds } from '../../../src/model/text-batch.ts';
import { IMAGE_INPUT, TEXT_INPUT } from '../../../src/shared/tensors.ts';
import { loadRunner, readManifest } from '../../../tool/runtime/local-build.ts';
import { expected, maxAbsDiff, rowCosines, tinyImages } from '../../helpers/fixtures.ts';
import { TINY_PT, TINY_ST } from '../../helpers/paths.ts';

const trimmed = expected.text_tokens.map((ids) => ids.slice(0, ids.indexOf(49407) + 1));

async function features(dir: string, runtime: 'node' | 'web', precision: 'fp32' | 'int8') {
  const manifest = readManifest(dir);
  const image = await loadRunner(dir, manifest, 'image', precision, runtime);
  const text = await loadRunner(dir, manifest, 'text', precision, runtime);
  const img = await image.run(IMAGE_INPUT, tinyImages(), [3, 3, 64, 64]);
  const short = packIds(trimmed);
  const padded = packIds(trimmed, 77);
  const txt = await text.run(TEXT_INPUT, short.data, short.dims);
  const txtPadded = await text.run(TEXT_INPUT, padded.data, padded.dims);
  return { img, txt, txtPadded };
}

describe.each([
  ['safetensors', TINY_ST],
  ['pytorch .bin', TINY_PT],
])('tiny fixture built from %s', (_format, dir) => {
  describe.each(['node', 'web'] as const)('in onnxruntime-%s', (runtime) => {
    it('fp32 features are within 1e-4 of the reference and int8 keeps cosine ≥ 0.995 per row', async () => {
      const fp32 = await features(dir, runtime, 'fp32');
      expect(maxAbsDiff(fp32.img, expected.image_features.flat())).toBeLessThan(1e-4);
      expect(maxAbsDiff(fp32.txt, expected.text_features.flat())).toBeLessThan(1e-4);
      const int8 = await features(dir, runtime, 'int8');
      for (const c of rowCosines(int8.img, fp32.img, 24)) expect(c).toBeGreaterThanOrEqual(0.995);
      for (const c of rowCosines(int8.txt, fp32.txt, 24)) expect(c).toBeGreaterThanOrEqual(0.995);
    });

    it('int8 features of an input do not depend on the rest of its batch (per-row activation scales)', async () => {
      const manifest = readManifest(dir);
      const text = await loadRunner(dir, manifest, 'text', 'int8', runtime);
      const image = await loadRunner(dir, manifest, 'image', 'int8', runtime);
      const batch = packIds(trimmed);
      const all = await text.run(TEXT_INPUT, batch.data, batch.dims);
      const one = packIds([trimmed[0]]);
      const alone = await text.run(TEXT_INPUT, one.data, one.dims);
      expect(maxAbsDiff(alone, all.subarray(0, 24))).toBeLessThan(1e-5);
      const imgs = tinyImages();
      const allImg = await image.run(IMAGE_INPUT, imgs, [3, 3, 64, 64]);
      const oneImg = await image.run(IMAGE_INPUT, imgs.slice(2 * 3 * 64 * 64), [1, 3, 64, 64]);
      expect(maxAbsDiff(oneImg, allImg.subarray(48))).toBeLessThan(1e-5);
    });

    it('text features are the same on 77 padded tokens as on the tokens up to EOT', async () => {
      for (const precision of ['fp32', 'int8'] as const) {
        const { txt, txtPadded } = await features(dir, runtime, precision);
        expect(maxAbsDiff(txt, txtPadded)).toBeLessThan(1e-5);
      }
    });
  });
});
