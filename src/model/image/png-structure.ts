/**
 * Checks a PNG's structure before anything is inflated and returns what PIL's convert('RGB') uses: the header, PLTE and
 * the IDAT parts. Every chunk must lie inside the file; ancillary chunks (iCCP, zTXt, iTXt, …) are never inflated.
 */
import { EdgeClipError } from '../../contracts/errors.ts';

const bad = (message: string) => new EdgeClipError('UNPROCESSABLE_IMAGE', message);

/** More IDAT chunks than this are joined into one part before inflating. */
const MAX_IDAT_PARTS = 1024;

/** Samples per pixel for each PNG colour type, with the bit depths the format allows. */
export const COLOR_TYPES: Record<number, { channels: number; depths: number[] }> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16] },
  2: { channels: 3, depths: [8, 16] },
  3: { channels: 1, depths: [1, 2, 4, 8] },
  4: { channels: 2, depths: [8, 16] },
  6: { channels: 4, depths: [8, 16] },
};

/** A pass of the image data: [x0, y0, dx, dy]. Non-interlaced images have one, Adam7 seven. */
export type PngPass = readonly [number, number, number, number];

const WHOLE: readonly PngPass[] = [[0, 0, 1, 1]];
export const ADAM7: readonly PngPass[] = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

export interface PngStructure {
  width: number;
  height: number;
  /** Bits per sample. */
  depth: number;
  colorType: number;
  /** Samples per pixel. */
  channels: number;
  passes: readonly PngPass[];
  /** PLTE's RGB triples (palette images only). */
  palette?: Uint8Array;
  /** The image data, one zlib stream cut into IDAT chunks. */
  idat: Uint8Array[];
}

/** A pass's size in pixels. */
export function passSize(png: PngStructure, [x0, y0, dx, dy]: PngPass): [number, number] {
  return [Math.max(0, Math.ceil((png.width - x0) / dx)), Math.max(0, Math.ceil((png.height - y0) / dy))];
}

/** Bytes of one row of a pass `width` pixels wide, without its filter byte. */
export function rowBytes(png: PngStructure, width: number): number {
  return Math.ceil((width * png.depth * png.channels) / 8);
}

/** Filtered scanline bytes the image data must inflate to: one filter byte per row of every (pass) image. */
export function rawSize(png: PngStructure): number {
  let total = 0;
  for (const pass of png.passes) {
    const [w, h] = passSize(png, pass);
    if (w > 0 && h > 0) total += h * (1 + rowBytes(png, w));
  }
  return total;
}

/** Reads and checks a PNG's chunks; nothing is inflated here. */
export function pngStructure(b: Uint8Array): PngStructure {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  // Where each IDAT's data lies ([start, end) pairs): no view per chunk until their number is known.
  let ranges = new Uint32Array(64);
  let chunks = 0;
  let png: PngStructure | undefined;
  let palette: Uint8Array | undefined;
  let p = 8;
  // A missing IEND is tolerated (PIL reads until the image is complete); missing image data is not.
  while (p < b.length) {
    if (p + 12 > b.length) throw bad('truncated PNG: chunk header past the end of the file');
    const length = dv.getUint32(p);
    const type = String.fromCharCode(b[p + 4], b[p + 5], b[p + 6], b[p + 7]);
    const end = p + 12 + length;
    if (length > 0x7fffffff || end > b.length) throw bad(`truncated PNG: ${type} chunk runs past the end of the file`);
    // The chunk's data starts at p + 8 (no view made per chunk: a hostile file may hold millions).
    const at = p + 8;
    if (!png && type !== 'IHDR') throw bad('corrupt PNG: IHDR is not the first chunk');
    if (type === 'IHDR') {
      if (png || length !== 13) throw bad('corrupt PNG: bad IHDR');
      const color = COLOR_TYPES[b[at + 9]];
      const depth = b[at + 8];
      if (!color?.depths.includes(depth)) throw bad(`corrupt PNG: colour type ${b[at + 9]} with bit depth ${depth}`);
      if (b[at + 12] > 1) throw bad(`corrupt PNG: interlace method ${b[at + 12]}`);
      png = {
        width: dv.getUint32(p + 8),
        height: dv.getUint32(p + 12),
        depth,
        colorType: b[at + 9],
        channels: color.channels,
        passes: b[at + 12] === 1 ? ADAM7 : WHOLE,
        idat: [],
      };
    } else if (type === 'PLTE') {
      // A truecolour or grey image's PLTE is only a suggestion for displays: PIL keeps a palette for mode P alone.
      if (png?.colorType !== 3) {
        p = end;
        continue;
      }
      if (length % 3 !== 0 || length > 768) throw bad(`corrupt PNG: PLTE of ${length} bytes`);
      palette = b.subarray(at, at + length);
    } else if (type === 'IDAT') {
      if (2 * chunks + 2 > ranges.length) {
        const grown = new Uint32Array(ranges.length * 2);
        grown.set(ranges);
        ranges = grown;
      }
      ranges[2 * chunks] = at;
      ranges[2 * chunks + 1] = at + length;
      chunks++;
    } else if (type === 'IEND') {
      break;
    } else if (b[p + 4] & 0x20) {
      // Ancillary (lower-case first letter): PIL's convert('RGB') uses none of them, so none is read.
    } else {
      throw bad(`corrupt PNG: unknown critical chunk ${type}`);
    }
    p = end;
  }
  if (!png) throw bad('corrupt PNG: no IHDR');
  if (chunks === 0) throw bad('truncated PNG: no image data (IDAT)');
  const part = (k: number) => b.subarray(ranges[2 * k], ranges[2 * k + 1]);
  if (chunks <= MAX_IDAT_PARTS) for (let k = 0; k < chunks; k++) png.idat.push(part(k));
  else {
    // Image data cut into very many small chunks (a few bytes each, as a hostile file may be) is joined into one
    // buffer, so that neither views nor the inflate's writes grow with the chunk count.
    let total = 0;
    for (let k = 0; k < chunks; k++) total += ranges[2 * k + 1] - ranges[2 * k];
    const joined = new Uint8Array(total);
    for (let k = 0, o = 0; k < chunks; k++) {
      joined.set(part(k), o);
      o += ranges[2 * k + 1] - ranges[2 * k];
    }
    png.idat.push(joined);
  }
  if (png.colorType === 3 && !palette) throw bad('corrupt PNG: a palette image without PLTE');
  return palette ? { ...png, palette } : png;
}
