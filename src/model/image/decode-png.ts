/**
 * PNG as PIL opens it and converts to RGB: 16-bit colour keeps the high byte, 16-bit grey is mode I (clamped to 255),
 * low-bit grey scales up, palettes expand, alpha is dropped. The image data is inflated once, under a ceiling of the
 * bytes the header's size needs, into one buffer that is unfiltered in place: a non-interlaced 8-bit RGB(A) image is
 * then used where it lies, so decoding holds the file and one copy of its pixels, with little garbage for the collector.
 */
import { EdgeClipError } from '../../contracts/errors.ts';
import { inflateExactly } from './bounded-inflate.ts';
import { type PngPass, type PngStructure, passSize, pngStructure, rawSize, rowBytes } from './png-structure.ts';
import type { RgbImage } from './rgb-image.ts';

const bad = (message: string) => new EdgeClipError('UNPROCESSABLE_IMAGE', message);

/** Reverses the five PNG row filters of `rows` rows starting at `start`, in place; `unit` is bytes per pixel (≥ 1). */
function unfilter(raw: Uint8Array, start: number, bytes: number, rows: number, unit: number): void {
  for (let y = 0; y < rows; y++) {
    const p = start + y * (bytes + 1) + 1;
    // The row above, unfiltered already; the first row of a pass has none (zeros).
    const q = y > 0 ? p - (bytes + 1) : -1;
    const filter = raw[p - 1];
    switch (filter) {
      case 0:
        break;
      case 1:
        for (let i = unit; i < bytes; i++) raw[p + i] += raw[p + i - unit];
        break;
      case 2:
        if (q >= 0) for (let i = 0; i < bytes; i++) raw[p + i] += raw[q + i];
        break;
      case 3:
        for (let i = 0; i < bytes; i++) {
          const left = i >= unit ? raw[p + i - unit] : 0;
          const up = q >= 0 ? raw[q + i] : 0;
          raw[p + i] += (left + up) >> 1;
        }
        break;
      case 4:
        for (let i = 0; i < bytes; i++) {
          const a = i >= unit ? raw[p + i - unit] : 0;
          const b = q >= 0 ? raw[q + i] : 0;
          const c = q >= 0 && i >= unit ? raw[q + i - unit] : 0;
          const pa = Math.abs(b - c);
          const pb = Math.abs(a - c);
          const pc = Math.abs(a + b - 2 * c);
          raw[p + i] += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        }
        break;
      default:
        throw bad(`corrupt PNG: row filter type ${filter}`);
    }
  }
}

/** Sample value → 8-bit level, as PIL's modes for the PNG's depth and colour type make it. */
function levelOf(png: PngStructure): (v: number) => number {
  const { depth, colorType } = png;
  if (colorType === 3 || depth === 8) return (v) => v;
  if (depth === 16) return colorType === 0 ? (v) => Math.min(v, 255) : (v) => v >> 8;
  const scale = 255 / ((1 << depth) - 1);
  return (v) => v * scale;
}

/** Writes the RGB of every pixel of one pass (unfiltered rows from `start`) into `out`, at the pass's positions. */
function passToRgb(png: PngStructure, raw: Uint8Array, start: number, pass: PngPass, out: Uint8Array): void {
  const [x0, y0, dx, dy] = pass;
  const [w, h] = passSize(png, pass);
  const bytes = rowBytes(png, w);
  const { depth, channels, palette, width } = png;
  const mask = (1 << depth) - 1;
  const level = levelOf(png);
  let row = 0;
  const sample =
    depth === 8
      ? (j: number) => raw[row + j]
      : depth === 16
        ? (j: number) => (raw[row + 2 * j] << 8) | raw[row + 2 * j + 1]
        : (j: number) => (raw[row + ((j * depth) >> 3)] >> (8 - depth - ((j * depth) & 7))) & mask;
  for (let y = 0; y < h; y++) {
    row = start + y * (bytes + 1) + 1;
    let o = ((y0 + y * dy) * width + x0) * 3;
    for (let x = 0; x < w; x++, o += 3 * dx) {
      const j = x * channels;
      if (palette) {
        // An index past the palette's end is black, as PIL's palette (zero-filled to 256 entries) makes it.
        const k = sample(j) * 3;
        out[o] = k < palette.length ? palette[k] : 0;
        out[o + 1] = k < palette.length ? palette[k + 1] : 0;
        out[o + 2] = k < palette.length ? palette[k + 2] : 0;
      } else if (channels <= 2) {
        out.fill(level(sample(j)), o, o + 3);
      } else {
        out[o] = level(sample(j));
        out[o + 1] = level(sample(j + 1));
        out[o + 2] = level(sample(j + 2));
      }
    }
  }
}

export async function decodePng(b: Uint8Array): Promise<RgbImage> {
  const png = pngStructure(b);
  const { width, height, depth, channels, colorType, passes } = png;
  const raw = await inflateExactly(png.idat, rawSize(png), 'PNG image data');
  const unit = Math.max(1, (depth * channels) >> 3);
  const starts: number[] = [];
  let start = 0;
  for (const pass of passes) {
    starts.push(start);
    const [w, h] = passSize(png, pass);
    if (w === 0 || h === 0) continue;
    const bytes = rowBytes(png, w);
    unfilter(raw, start, bytes, h, unit);
    start += h * (bytes + 1);
  }
  if (passes.length === 1 && depth === 8 && (colorType === 2 || colorType === 6)) {
    // 8-bit RGB(A) is used as decoded: the rows are moved over their filter bytes, in place.
    const bytes = width * channels;
    for (let y = 0; y < height; y++) raw.copyWithin(y * bytes, y * (bytes + 1) + 1, (y + 1) * (bytes + 1));
    return { width, height, channels: channels as 3 | 4, data: raw.subarray(0, width * height * channels) };
  }
  const out = new Uint8Array(width * height * 3);
  passes.forEach((pass, i) => {
    const [w, h] = passSize(png, pass);
    if (w > 0 && h > 0) passToRgb(png, raw, starts[i], pass, out);
  });
  return { width, height, channels: 3, data: out };
}
