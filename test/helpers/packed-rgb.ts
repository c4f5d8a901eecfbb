import type { RgbImage } from '../../src/model/image/rgb-image.ts';

/** A decoded image's pixels as packed RGB (3 bytes a pixel), whatever its decoder's stride, for comparisons. */
export function packedRgb(img: RgbImage): Uint8Array {
  if (img.channels === 3) return img.data;
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) out.set(img.data.subarray(i * 4, i * 4 + 3), i * 3);
  return out;
}
