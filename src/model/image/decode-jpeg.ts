/**
 * JPEG decoding with libjpeg-turbo's algorithms (mozjpeg's decoder compiled to wasm): accurate integer IDCT and "fancy"
 * chroma upsampling, as PIL uses. The wasm module is handed in by the runtime adapter (workerd cannot compile wasm from
 * bytes; it imports the .wasm file as a module).
 */
import decodeMozjpeg, { init } from '@jsquash/jpeg/decode.js';
import jpegJs from 'jpeg-js';
import { EdgeClipError } from '../../contracts/errors.ts';
import { jpegStructure } from './jpeg-structure.ts';
import { type RgbImage, rgbaToRgb } from './rgb-image.ts';

let wasmModule: WebAssembly.Module | undefined;
let ready: Promise<void> | undefined;

export function initJpegDecoder(module: WebAssembly.Module): Promise<void> {
  wasmModule = module;
  ready ??= init(module);
  return ready;
}

/**
 * Decoding work allowed per image, in pixels × scans: each scan of a progressive JPEG is a pass over the whole image.
 * A 40 MP photo may have 25 scans (encoders write about 10); a small file with thousands of empty scans is refused.
 */
export const MAX_JPEG_PIXEL_SCANS = 1e9;

const bad = (message: string) => new EdgeClipError('UNPROCESSABLE_IMAGE', message);

export async function decodeJpeg(b: Uint8Array, maxPixels: number): Promise<RgbImage> {
  const jpeg = jpegStructure(b);
  if (jpeg.width * jpeg.height * jpeg.scans > MAX_JPEG_PIXEL_SCANS)
    throw bad(
      `JPEG has ${jpeg.scans} scans over ${jpeg.width}×${jpeg.height} pixels: more decoding work than allowed (${MAX_JPEG_PIXEL_SCANS.toExponential()} pixel-scans)`,
    );
  if (jpeg.components === 4) {
    // CMYK/YCCK: libjpeg-turbo cannot convert to RGB; jpeg-js can (its conversion, not PIL's exact CMYK formula).
    try {
      const img = jpegJs.decode(b, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: maxPixels / 1e6 });
      return rgbaToRgb(img.data, img.width, img.height);
    } catch (e) {
      throw bad(`corrupt JPEG: ${(e as Error).message}`);
    }
  }
  if (!ready)
    throw new EdgeClipError(
      'INTERNAL',
      'JPEG decoder not initialised: call initJpegDecoder() with the mozjpeg wasm module',
    );
  await ready;
  let img: { data: Uint8ClampedArray; width: number; height: number };
  try {
    const copy = b.slice().buffer;
    img = await decodeMozjpeg(copy, { preserveOrientation: false });
  } catch (e) {
    // A wasm instance that trapped or called exit() has undefined state: never reuse it.
    if (wasmModule) ready = init(wasmModule);
    throw bad(`corrupt JPEG: ${(e as Error).message}`);
  }
  return rgbaToRgb(img.data, img.width, img.height);
}
