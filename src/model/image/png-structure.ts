/**
 * Checks a PNG's structure before the decoder sees it, and hands the decoder only what PIL's convert('RGB') uses:
 * IHDR, PLTE, IDAT and IEND. Every chunk must lie inside the file, the image data must inflate to exactly what the
 * header's size needs (no bombs, no truncation), and ancillary chunks (iCCP, zTXt, iTXt, …) are never inflated.
 */
import { EdgeClipError } from '../../contracts/errors.ts';
import { requireInflatedSize } from './bounded-inflate.ts';

const bad = (message: string) => new EdgeClipError('UNPROCESSABLE_IMAGE', message);

/** Samples per pixel for each PNG colour type, with the bit depths the format allows. */
const COLOR_TYPES: Record<number, { channels: number; depths: number[] }> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16] },
  2: { channels: 3, depths: [8, 16] },
  3: { channels: 1, depths: [1, 2, 4, 8] },
  4: { channels: 2, depths: [8, 16] },
  6: { channels: 4, depths: [8, 16] },
};

/** Adam7 passes: [x0, y0, dx, dy]. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

const IEND = new Uint8Array([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);

/** Filtered scanline bytes the image data must inflate to: one filter byte per row of every (pass) image. */
function rawSize(width: number, height: number, bitsPerPixel: number, interlaced: boolean): number {
  const rows = (w: number, h: number) => (w > 0 && h > 0 ? h * (1 + Math.ceil((w * bitsPerPixel) / 8)) : 0);
  if (!interlaced) return rows(width, height);
  let total = 0;
  for (const [x0, y0, dx, dy] of ADAM7) total += rows(Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy));
  return total;
}

/** Returns a PNG holding only the chunks the decoder needs, after checking them. */
export function checkedPng(b: Uint8Array): Uint8Array {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const keep: Uint8Array[] = [b.subarray(0, 8)];
  const idat: Uint8Array[] = [];
  let header: { width: number; height: number; bitsPerPixel: number; interlaced: boolean } | undefined;
  let p = 8;
  // A missing IEND is tolerated (PIL reads until the image is complete); missing image data is not.
  while (p < b.length) {
    if (p + 12 > b.length) throw bad('truncated PNG: chunk header past the end of the file');
    const length = dv.getUint32(p);
    const type = String.fromCharCode(b[p + 4], b[p + 5], b[p + 6], b[p + 7]);
    const end = p + 12 + length;
    if (length > 0x7fffffff || end > b.length) throw bad(`truncated PNG: ${type} chunk runs past the end of the file`);
    const data = b.subarray(p + 8, p + 8 + length);
    if (!header && type !== 'IHDR') throw bad('corrupt PNG: IHDR is not the first chunk');
    if (type === 'IHDR') {
      if (header || length !== 13) throw bad('corrupt PNG: bad IHDR');
      const color = COLOR_TYPES[data[9]];
      const depth = data[8];
      if (!color?.depths.includes(depth)) throw bad(`corrupt PNG: colour type ${data[9]} with bit depth ${depth}`);
      if (data[12] > 1) throw bad(`corrupt PNG: interlace method ${data[12]}`);
      header = {
        width: dv.getUint32(p + 8),
        height: dv.getUint32(p + 12),
        bitsPerPixel: color.channels * depth,
        interlaced: data[12] === 1,
      };
      keep.push(b.subarray(p, end));
    } else if (type === 'PLTE') {
      keep.push(b.subarray(p, end));
    } else if (type === 'IDAT') {
      idat.push(data);
      keep.push(b.subarray(p, end));
    } else if (type === 'IEND') {
      break;
    } else if (b[p + 4] & 0x20) {
      // Ancillary (lower-case first letter): PIL's convert('RGB') uses none of them, so none is read.
    } else {
      throw bad(`corrupt PNG: unknown critical chunk ${type}`);
    }
    p = end;
  }
  if (!header) throw bad('corrupt PNG: no IHDR');
  if (idat.length === 0) throw bad('truncated PNG: no image data (IDAT)');
  requireInflatedSize(
    idat,
    rawSize(header.width, header.height, header.bitsPerPixel, header.interlaced),
    'zlib',
    'PNG image data',
  );
  keep.push(IEND);
  const out = new Uint8Array(keep.reduce((n, k) => n + k.length, 0));
  let o = 0;
  for (const k of keep) {
    out.set(k, o);
    o += k.length;
  }
  return out;
}
