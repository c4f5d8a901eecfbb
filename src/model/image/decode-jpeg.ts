/**
 * JPEG decoding with libjpeg-turbo's algorithms (mozjpeg's decoder compiled to wasm): accurate integer IDCT and "fancy"
 * chroma upsampling, as PIL uses.
 */
import decodeMozjpeg from '@jsquash/jpeg/decode.js';
import jpegJs from 'jpeg-js';
import { EdgeClipError } from '../../contracts/errors.ts';
import { jpegStructure } from './jpeg-structure.ts';
import { type RgbImage, rgbaImage } from './rgb-image.ts';
import type { WasmCodec } from './wasm-codec.ts';

/**
 * Decoding work allowed per image, in pixels × scans: each scan of a progressive JPEG is a pass over the whole image.
 * A 40 MP photo may have 25 scans (encoders write about 10); a small file with thousands of empty scans is refused.
 */
export const MAX_JPEG_PIXEL_SCANS = 1e9;

const bad = (message: string) => new EdgeClipError('UNPROCESSABLE_IMAGE', message);

export async function decodeJpeg(b: Uint8Array, maxPixels: number, codec: WasmCodec): Promise<RgbImage> {
  const jpeg = jpegStructure(b);
  if (jpeg.width * jpeg.height * jpeg.scans > MAX_JPEG_PIXEL_SCANS)
    throw bad(
      `JPEG has ${jpeg.scans} scans over ${jpeg.width}×${jpeg.height} pixels: more decoding work than allowed (${MAX_JPEG_PIXEL_SCANS.toExponential()} pixel-scans)`,
    );
  if (jpeg.components === 4) {
    // CMYK/YCCK: libjpeg-turbo cannot convert to RGB; jpeg-js can (its conversion, not PIL's exact CMYK formula).
    try {
      const img = jpegJs.decode(b, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: maxPixels / 1e6 });
      return rgbaImage(img.data, img.width, img.height);
    } catch (e) {
      throw bad(`corrupt JPEG: ${(e as Error).message}`);
    }
  }
  const img = await codec.run(
    () => decodeMozjpeg(b.slice().buffer, { preserveOrientation: false }),
    jpeg.width * jpeg.height,
  );
  return rgbaImage(img.data, img.width, img.height);
}
