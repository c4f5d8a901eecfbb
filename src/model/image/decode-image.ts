/** Decodes any supported image to 8-bit RGB with PIL's `convert('RGB')` semantics (alpha dropped, palettes expanded). */
import { decode as decodeBmp } from 'bmp-ts';
import { decode as decodePng } from 'fast-png';
import UTIF from 'utif2';
import { EdgeClipError } from '../../contracts/errors.ts';
import { decodeAvif } from './decode-avif.ts';
import { decodeGif } from './decode-gif.ts';
import { decodeJpeg } from './decode-jpeg.ts';
import { decodeWebp } from './decode-webp.ts';
import { checkedPng } from './png-structure.ts';
import type { ImageProbe } from './probe-image.ts';
import { type RgbImage, rgbaImage } from './rgb-image.ts';
import { checkedTiff } from './tiff-structure.ts';
import type { ImageDecoders } from './wasm-codec.ts';

const bad = (message: string) => new EdgeClipError('UNPROCESSABLE_IMAGE', message);

/** PNG as PIL opens it: 16-bit colour keeps the high byte, 16-bit grey is mode I (clamped to 255), low-bit grey scales up. */
function decodePngRgb(b: Uint8Array): RgbImage {
  const png = decodePng(checkedPng(b));
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
    return { width, height, channels: 3, data: out };
  }
  // 8-bit RGB(A) is used as decoded.
  if (depth === 8 && (channels === 3 || channels === 4))
    return { width, height, channels, data: new Uint8Array(src.buffer, src.byteOffset, n * channels) };
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
    return { width, height, channels: 3, data: out };
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
  return { width, height, channels: 3, data: out };
}

/** Uncompressed BMP rows must all be in the file: bmp-ts would read past the end as black. */
function checkBmp(b: Uint8Array): void {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < 34) throw bad('truncated BMP header');
  const bpp = dv.getUint16(28, true);
  const compression = dv.getUint32(30, true);
  if (![1, 4, 8, 16, 24, 32].includes(bpp)) throw bad(`corrupt BMP: ${bpp} bits per pixel`);
  if (compression !== 0 && compression !== 3) return;
  const rowBytes = Math.floor((bpp * Math.abs(dv.getInt32(18, true)) + 31) / 32) * 4;
  const needed = dv.getUint32(10, true) + rowBytes * Math.abs(dv.getInt32(22, true));
  if (needed > b.length) throw bad(`truncated BMP: pixel data needs ${needed} bytes, the file has ${b.length}`);
}

function decodeTiffRgb(b: Uint8Array): RgbImage {
  const buf = checkedTiff(b).buffer as ArrayBuffer;
  const ifds = UTIF.decode(buf);
  if (ifds.length === 0) throw bad('TIFF has no image');
  const ifd = ifds[0];
  UTIF.decodeImage(buf, ifd);
  const w = ifd.width as number;
  const h = ifd.height as number;
  // 8-bit RGB(A) is already what toRGBA8 would copy it into: used in place.
  const samples = (ifd.t277 as number[] | undefined)?.[0];
  const data = ifd.data as Uint8Array;
  if (
    (ifd.t262 as number[] | undefined)?.[0] === 2 &&
    (ifd.t258 as number[] | undefined)?.[0] === 8 &&
    (samples === 3 || samples === 4) &&
    data.length >= w * h * samples
  )
    return { width: w, height: h, channels: samples, data: data.subarray(0, w * h * samples) };
  return rgbaImage(UTIF.toRGBA8(ifd), w, h);
}

export async function decodeImage(
  b: Uint8Array,
  probe: ImageProbe,
  maxPixels: number,
  decoders: ImageDecoders,
): Promise<RgbImage> {
  let img: RgbImage;
  try {
    switch (probe.format) {
      case 'jpeg':
        img = await decodeJpeg(b, maxPixels, decoders.jpeg);
        break;
      case 'png':
        img = decodePngRgb(b);
        break;
      case 'gif':
        img = decodeGif(b);
        break;
      case 'bmp': {
        checkBmp(b);
        const bmp = decodeBmp(Buffer.from(b.buffer, b.byteOffset, b.byteLength), { toRGBA: true });
        img = rgbaImage(bmp.data, bmp.width, bmp.height);
        break;
      }
      case 'tiff':
        img = decodeTiffRgb(b);
        break;
      case 'webp':
        img = await decodeWebp(b, decoders.webp, probe.width * probe.height);
        break;
      case 'avif':
        img = await decodeAvif(b, decoders.avif, probe.width * probe.height);
        break;
    }
  } catch (e) {
    if (e instanceof EdgeClipError) throw e;
    throw bad(`corrupt ${probe.format.toUpperCase()}: ${(e as Error).message}`);
  }
  if (
    img.width !== probe.width ||
    img.height !== probe.height ||
    img.data.length !== img.width * img.height * img.channels
  ) {
    throw bad(
      `corrupt ${probe.format.toUpperCase()}: decoded ${img.width}×${img.height}, header says ${probe.width}×${probe.height}`,
    );
  }
  return img;
}
