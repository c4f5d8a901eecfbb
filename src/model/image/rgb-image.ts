/** The decoded picture every decoder produces (8-bit RGB, interleaved, row-major: PIL's mode "RGB"), and conversions into it. */
export interface RgbImage {
  width: number;
  height: number;
  /** width·height·3 bytes. */
  data: Uint8Array;
}

export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'bmp' | 'tiff' | 'webp' | 'avif';

/** Drops alpha from 8-bit RGBA (PIL's convert('RGB') on RGBA: alpha is ignored, not composited). */
export function rgbaToRgb(rgba: ArrayLike<number>, width: number, height: number): RgbImage {
  const n = width * height;
  const data = new Uint8Array(n * 3);
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    data[i * 3] = rgba[j];
    data[i * 3 + 1] = rgba[j + 1];
    data[i * 3 + 2] = rgba[j + 2];
  }
  return { width, height, data };
}
