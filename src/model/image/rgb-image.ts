/**
 * The decoded picture every decoder produces: 8-bit RGB, interleaved, row-major (PIL's mode "RGB"), with 3 or 4
 * bytes per pixel. A fourth byte (a decoder's alpha) is never read: PIL's convert('RGB') ignores alpha rather than
 * compositing it, and keeping the decoder's own RGBA buffer saves a width·height·3 copy of a full-size image.
 */
export interface RgbImage {
  width: number;
  height: number;
  /** Bytes per pixel: 3 (RGB) or 4 (RGB and an ignored byte). */
  channels: 3 | 4;
  /** width·height·channels bytes. */
  data: Uint8Array;
}

export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'bmp' | 'tiff' | 'webp' | 'avif';

/** A decoder's 8-bit RGBA as an RgbImage, without copying it. */
export function rgbaImage(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number): RgbImage {
  return { width, height, channels: 4, data: new Uint8Array(rgba.buffer, rgba.byteOffset, width * height * 4) };
}
