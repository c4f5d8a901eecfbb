/** Decodes any supported image to 8-bit RGB with PIL's `convert('RGB')` semantics (alpha dropped, palettes expanded). */
import { decode as decodeBmp } from 'bmp-ts';
import { decode as decodePng } from 'fast-png';
import { GifReader } from 'omggif';
import UTIF from 'utif2';
import { EdgeClipError } from '../../shared/errors.ts';
import { decodeJpeg } from './decode-jpeg.ts';
import type { ImageProbe } from './probe-image.ts';
import type { RgbImage } from './rgb-image.ts';

const bad = (message: string) => new EdgeClipError('UNPROCESSABLE_IMAGE', message);

function fromRgba(
  rgba: ArrayLike<number>,
  width: number,
  height: number,
  order: [number, number, number] = [0, 1, 2],
): RgbImage {
  const n = width * height;
  const data = new Uint8Array(n * 3);
  const [r, g, b] = order;
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    data[i * 3] = rgba[j + r];
    data[i * 3 + 1] = rgba[j + g];
    data[i * 3 + 2] = rgba[j + b];
  }
  return { width, height, data };
}

/** PNG as PIL opens it: 16-bit colour keeps the high byte, 16-bit grey is mode I (clamped to 255), low-bit grey scales up. */
function decodePngRgb(b: Uint8Array): RgbImage {
  const png = decodePng(b);
  const { width, height, depth, channels } = png;
  const n = width * height;
  const out = new Uint8Array(n * 3);
  const src = png.data;
  if (png.palette) {
    const rowBytes = Math.ceil((width * depth) / 8);
    const mask = (1 << depth) - 1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const bit = x * depth;
        const idx =
          depth === 8 ? src[y * width + x] : (src[y * rowBytes + (bit >> 3)] >> (8 - depth - (bit & 7))) & mask;
        const c = png.palette[idx] ?? [0, 0, 0];
        const o = (y * width + x) * 3;
        out[o] = c[0];
        out[o + 1] = c[1];
        out[o + 2] = c[2];
      }
    }
    return { width, height, data: out };
  }
  const grey = channels <= 2;
  const level = (v: number): number => {
    if (depth === 16) return grey && channels === 1 ? Math.min(v, 255) : v >> 8;
    if (depth < 8) return depth === 1 ? (v ? 255 : 0) : (v * 255) / ((1 << depth) - 1);
    return v;
  };
  if (depth < 8) {
    const rowBytes = Math.ceil((width * depth) / 8);
    const mask = (1 << depth) - 1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const bit = x * depth;
        const v = level((src[y * rowBytes + (bit >> 3)] >> (8 - depth - (bit & 7))) & mask);
        out.fill(v, (y * width + x) * 3, (y * width + x) * 3 + 3);
      }
    }
    return { width, height, data: out };
  }
  for (let i = 0; i < n; i++) {
    const s = i * channels;
    if (grey) {
      const v = level(src[s]);
      out[i * 3] = v;
      out[i * 3 + 1] = v;
      out[i * 3 + 2] = v;
    } else {
      out[i * 3] = level(src[s]);
      out[i * 3 + 1] = level(src[s + 1]);
      out[i * 3 + 2] = level(src[s + 2]);
    }
  }
  return { width, height, data: out };
}

/** First frame, every pixel from the palette: PIL's convert('RGB') ignores GIF transparency. */
function decodeGifRgb(b: Uint8Array): RgbImage {
  const reader = new GifReader(b);
  const frame = reader.frameInfo(0);
  frame.transparent_index = null;
  const rgba = new Uint8Array(reader.width * reader.height * 4);
  reader.decodeAndBlitFrameRGBA(0, rgba);
  return fromRgba(rgba, reader.width, reader.height);
}

function decodeTiffRgb(b: Uint8Array): RgbImage {
  const buf = b.slice().buffer;
  const ifds = UTIF.decode(buf);
  if (ifds.length === 0) throw bad('TIFF has no image');
  UTIF.decodeImage(buf, ifds[0]);
  const w = ifds[0].width as number;
  const h = ifds[0].height as number;
  return fromRgba(UTIF.toRGBA8(ifds[0]), w, h);
}

export async function decodeImage(b: Uint8Array, probe: ImageProbe, maxPixels: number): Promise<RgbImage> {
  let img: RgbImage;
  try {
    switch (probe.format) {
      case 'jpeg':
        img = await decodeJpeg(b, maxPixels);
        break;
      case 'png':
        img = decodePngRgb(b);
        break;
      case 'gif':
        img = decodeGifRgb(b);
        break;
      case 'bmp': {
        const bmp = decodeBmp(Buffer.from(b.buffer, b.byteOffset, b.byteLength), { toRGBA: true });
        img = fromRgba(bmp.data, bmp.width, bmp.height);
        break;
      }
      case 'tiff':
        img = decodeTiffRgb(b);
        break;
      default:
        throw new EdgeClipError(
          'UNSUPPORTED_MEDIA_TYPE',
          `${probe.format} images are not supported (use JPEG, PNG, GIF, BMP or TIFF)`,
        );
    }
  } catch (e) {
    if (e instanceof EdgeClipError || (e instanceof Error && e.message.includes('not initialised'))) throw e;
    throw bad(`corrupt ${probe.format.toUpperCase()}: ${(e as Error).message}`);
  }
  if (img.width !== probe.width || img.height !== probe.height || img.data.length !== img.width * img.height * 3) {
    throw bad(
      `corrupt ${probe.format.toUpperCase()}: decoded ${img.width}×${img.height}, header says ${probe.width}×${probe.height}`,
    );
  }
  return img;
}
