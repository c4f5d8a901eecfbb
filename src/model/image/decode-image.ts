/** Decodes any supported image to 8-bit RGB with PIL's `convert('RGB')` semantics (alpha dropped, palettes expanded). */
import { decode as decodeBmp } from 'bmp-ts';
import UTIF from 'utif2';
import { EdgeClipError } from '../../contracts/errors.ts';
import { decodeAvif } from './decode-avif.ts';
import { decodeGif } from './decode-gif.ts';
import { decodeJpeg } from './decode-jpeg.ts';
import { decodePng } from './decode-png.ts';
import { decodeWebp } from './decode-webp.ts';
import type { ImageProbe } from './probe-image.ts';
import { type RgbImage, rgbaImage } from './rgb-image.ts';
import { checkedTiff } from './tiff-structure.ts';
import type { ImageDecoders } from './wasm-codec.ts';

const bad = (message: string) => new EdgeClipError('UNPROCESSABLE_IMAGE', message);

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
        img = await decodePng(b);
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
