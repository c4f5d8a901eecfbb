/**
 * JPEG decoding with libjpeg-turbo's algorithms (mozjpeg's decoder compiled to wasm): accurate integer IDCT and "fancy"
 * chroma upsampling, as PIL uses. The wasm module is handed in by the runtime adapter (workerd cannot compile wasm from
 * bytes; it imports the .wasm file as a module).
 */
import decodeMozjpeg, { init } from '@jsquash/jpeg/decode.js';
import jpegJs from 'jpeg-js';
import { EdgeClipError } from '../../shared/errors.ts';
import type { RgbImage } from './rgb-image.ts';

let ready: Promise<void> | undefined;

export function initJpegDecoder(module: WebAssembly.Module): Promise<void> {
  ready ??= init(module);
  return ready;
}

const bad = (message: string) => new EdgeClipError('UNPROCESSABLE_IMAGE', message);

/** libjpeg pads a truncated scan with grey and only warns; refuse instead of embedding a half-grey picture. */
function checkComplete(b: Uint8Array): void {
  let sos = -1;
  for (let i = 2; i + 1 < b.length; i++) {
    if (b[i] === 0xff && b[i + 1] === 0xda) {
      sos = i;
      break;
    }
  }
  if (sos < 0) throw bad('truncated JPEG: no image data (SOS marker missing)');
  for (let i = b.length - 2; i > sos; i--) if (b[i] === 0xff && b[i + 1] === 0xd9) return;
  throw bad('truncated JPEG: end-of-image marker missing');
}

function componentCount(b: Uint8Array): number {
  let p = 2;
  while (p + 9 < b.length) {
    const marker = b[p + 1];
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return b[p + 9];
    p += 2 + ((b[p + 2] << 8) | b[p + 3]);
  }
  return 3;
}

function rgbaToRgb(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number): RgbImage {
  const n = width * height;
  const data = new Uint8Array(n * 3);
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    data[i * 3] = rgba[j];
    data[i * 3 + 1] = rgba[j + 1];
    data[i * 3 + 2] = rgba[j + 2];
  }
  return { width, height, data };
}

export async function decodeJpeg(b: Uint8Array, maxPixels: number): Promise<RgbImage> {
  checkComplete(b);
  if (componentCount(b) === 4) {
    // CMYK/YCCK: libjpeg-turbo cannot convert to RGB; jpeg-js can (its conversion, not PIL's exact CMYK formula).
    try {
      const img = jpegJs.decode(b, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: maxPixels / 1e6 });
      return rgbaToRgb(img.data, img.width, img.height);
    } catch (e) {
      throw bad(`corrupt JPEG: ${(e as Error).message}`);
    }
  }
  if (!ready) throw new Error('JPEG decoder not initialised: call initJpegDecoder() with the mozjpeg wasm module');
  await ready;
  let img: { data: Uint8ClampedArray; width: number; height: number };
  try {
    const copy = b.slice().buffer;
    img = await decodeMozjpeg(copy, { preserveOrientation: false });
  } catch (e) {
    throw bad(`corrupt JPEG: ${(e as Error).message}`);
  }
  return rgbaToRgb(img.data, img.width, img.height);
}
