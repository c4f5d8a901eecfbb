/** Reads an image's format and declared size from its header, so that oversized images are refused before decoding. */
import { EdgeClipError } from '../../contracts/errors.ts';
import { avifSize } from './decode-avif.ts';
import { jpegFrame } from './jpeg-structure.ts';
import type { ImageFormat } from './rgb-image.ts';

export interface ImageProbe {
  format: ImageFormat;
  width: number;
  height: number;
  /** Bits per sample where a format may store more than 8 (PNG, TIFF): what decoding costs depends on it. */
  sampleBits?: number;
  /** A progressive JPEG (its decoder keeps every coefficient). */
  progressive?: boolean;
}

const bad = (message: string) => new EdgeClipError('UNPROCESSABLE_IMAGE', message);

/** The format its first bytes say an image is in, or undefined when they are no supported image's. */
export function sniffFormat(b: Uint8Array): ImageFormat | undefined {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'png';
  if (b.length >= 6 && b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) return 'gif';
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return 'bmp';
  if (
    b.length >= 4 &&
    ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 42 && b[3] === 0) ||
      (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 42))
  )
    return 'tiff';
  if (
    b.length >= 12 &&
    b[0] === 0x52 &&
    b[1] === 0x49 &&
    b[2] === 0x46 &&
    b[3] === 0x46 &&
    b[8] === 0x57 &&
    b[9] === 0x45 &&
    b[10] === 0x42 &&
    b[11] === 0x50
  )
    return 'webp';
  if (isAvif(b)) return 'avif';
  return undefined;
}

/** An ISO-BMFF 'ftyp' box whose major or a compatible brand is AVIF (still image or sequence). */
function isAvif(b: Uint8Array): boolean {
  if (b.length < 16 || String.fromCharCode(b[4], b[5], b[6], b[7]) !== 'ftyp') return false;
  const size = Math.min(b.length, new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0));
  for (let p = 8; p + 4 <= size; p += 4) {
    const brand = String.fromCharCode(b[p], b[p + 1], b[p + 2], b[p + 3]);
    if (brand === 'avif' || brand === 'avis') return true;
  }
  return false;
}

function tiffSize(b: Uint8Array): [number, number, number] {
  const le = b[0] === 0x49;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u16 = (o: number) => dv.getUint16(o, le);
  const u32 = (o: number) => dv.getUint32(o, le);
  if (b.length < 8) throw bad('truncated TIFF');
  const ifd = u32(4);
  if (ifd + 2 > b.length) throw bad('truncated TIFF: first IFD missing');
  let w = 0;
  let h = 0;
  let bits = 1;
  const n = u16(ifd);
  for (let i = 0; i < n && ifd + 2 + i * 12 + 12 <= b.length; i++) {
    const e = ifd + 2 + i * 12;
    const tag = u16(e);
    const value = u16(e + 2) === 3 ? u16(e + 8) : u32(e + 8);
    if (tag === 256) w = value;
    if (tag === 257) h = value;
    // BitsPerSample: one short per sample, inline when they fit in 4 bytes, else at an offset.
    if (tag === 258) {
      const at = u32(e + 4) > 2 ? u32(e + 8) : e + 8;
      if (at + 2 <= b.length) bits = u16(at);
    }
  }
  return [w, h, bits];
}

/**
 * The size libwebp will decode at: the VP8X canvas (libwebp holds a still image's bitstream to it), or the size in a
 * lossless (VP8L, signature 0x2f) or lossy (VP8, start code 9d 01 2a) bitstream. Anything else is refused, so that
 * no other layout libwebp might accept can carry a size this probe did not read.
 */
function webpSize(b: Uint8Array): [number, number] {
  if (b.length < 30) throw bad('truncated WebP');
  const chunk = String.fromCharCode(b[12], b[13], b[14], b[15]);
  if (chunk === 'VP8X') return [1 + (b[24] | (b[25] << 8) | (b[26] << 16)), 1 + (b[27] | (b[28] << 8) | (b[29] << 16))];
  if (chunk === 'VP8L' && b[20] === 0x2f) {
    const bits = b[21] | (b[22] << 8) | (b[23] << 16) | (b[24] << 24);
    return [(bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1];
  }
  if (chunk === 'VP8 ' && b[23] === 0x9d && b[24] === 0x01 && b[25] === 0x2a)
    return [(b[26] | (b[27] << 8)) & 0x3fff, (b[28] | (b[29] << 8)) & 0x3fff];
  throw bad('corrupt WebP: the first chunk is not a VP8X header or a VP8/VP8L bitstream');
}

export function probeImage(b: Uint8Array): ImageProbe {
  if (b.length === 0) throw bad('empty image');
  const format = sniffFormat(b);
  if (!format) throw new EdgeClipError('UNSUPPORTED_MEDIA_TYPE', 'not a JPEG, PNG, GIF, BMP, TIFF, WebP or AVIF image');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let size: [number, number];
  let detail: Pick<ImageProbe, 'sampleBits' | 'progressive'> = {};
  switch (format) {
    case 'jpeg': {
      const frame = jpegFrame(b);
      size = [frame.width, frame.height];
      detail = { progressive: frame.progressive };
      break;
    }
    case 'png':
      if (b.length < 25) throw bad('truncated PNG header');
      size = [dv.getUint32(16), dv.getUint32(20)];
      detail = { sampleBits: b[24] };
      break;
    case 'gif':
      if (b.length < 10) throw bad('truncated GIF header');
      size = [dv.getUint16(6, true), dv.getUint16(8, true)];
      break;
    case 'bmp':
      if (b.length < 26) throw bad('truncated BMP header');
      size = [Math.abs(dv.getInt32(18, true)), Math.abs(dv.getInt32(22, true))];
      break;
    case 'tiff': {
      const [w, h, sampleBits] = tiffSize(b);
      size = [w, h];
      detail = { sampleBits };
      break;
    }
    case 'webp':
      size = webpSize(b);
      break;
    case 'avif':
      size = avifSize(b);
      break;
  }
  const [width, height] = size;
  if (width <= 0 || height <= 0) throw bad(`${format} declares an empty image (${width}×${height})`);
  return { format, width, height, ...detail };
}
