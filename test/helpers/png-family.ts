/**
 * A family of PNGs across every colour type and bit depth, interlaced or not, with every row filter, odd sizes (Adam7
 * passes that are empty), image data cut across IDAT chunks and ancillary chunks in between: each with the pixels PIL's
 * convert('RGB') gives, computed from the samples the file was written from.
 */
import { deflateSync } from 'node:zlib';
import { ADAM7, COLOR_TYPES } from '../../src/model/image/png-structure.ts';
import { Rng } from '../../tool/synth/synth-checkpoint.ts';
import { pngChunk } from './crafted-images.ts';

export interface PngCase {
  name: string;
  width: number;
  height: number;
  colorType: number;
  depth: number;
  interlaced: boolean;
  /** Samples, row-major, `channels` a pixel. */
  samples: Uint16Array;
  bytes: Uint8Array;
  /** RGB as PIL's convert('RGB') makes it. */
  rgb: Uint8Array;
}

const CHANNELS = (colorType: number) => COLOR_TYPES[colorType].channels;

/** PNG's encoder-side filter of one row (`prev` is the unfiltered row above, or zeros). */
function filterRow(row: Uint8Array, prev: Uint8Array, unit: number, type: number): Uint8Array {
  const out = new Uint8Array(row.length);
  for (let i = 0; i < row.length; i++) {
    const a = i >= unit ? row[i - unit] : 0;
    const b = prev[i];
    const c = i >= unit ? prev[i - unit] : 0;
    const p = a + b - c;
    const paeth =
      Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c)
        ? a
        : Math.abs(p - b) <= Math.abs(p - c)
          ? b
          : c;
    const predictor = [0, a, b, (a + b) >> 1, paeth][type] ?? 0;
    out[i] = (row[i] - predictor) & 0xff;
  }
  return out;
}

/** One pass's rows, packed at `depth` bits a sample, big-endian. */
function packRows(c: Omit<PngCase, 'bytes' | 'rgb' | 'name'>, [x0, y0, dx, dy]: readonly number[]): Uint8Array[] {
  const channels = CHANNELS(c.colorType);
  const w = Math.max(0, Math.ceil((c.width - x0) / dx));
  const h = Math.max(0, Math.ceil((c.height - y0) / dy));
  if (w === 0 || h === 0) return [];
  const rows: Uint8Array[] = [];
  for (let y = 0; y < h; y++) {
    const row = new Uint8Array(Math.ceil((w * channels * c.depth) / 8));
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < channels; k++) {
        const v = c.samples[((y0 + y * dy) * c.width + x0 + x * dx) * channels + k];
        const j = x * channels + k;
        if (c.depth === 16) {
          row[2 * j] = v >> 8;
          row[2 * j + 1] = v & 0xff;
        } else if (c.depth === 8) row[j] = v;
        else row[(j * c.depth) >> 3] |= v << (8 - c.depth - ((j * c.depth) & 7));
      }
    }
    rows.push(row);
  }
  return rows;
}

function pilRgb(c: Omit<PngCase, 'bytes' | 'rgb' | 'name'>, palette: Uint8Array): Uint8Array {
  const channels = CHANNELS(c.colorType);
  const out = new Uint8Array(c.width * c.height * 3);
  const level = (v: number) =>
    c.depth === 16 ? (c.colorType === 0 ? Math.min(v, 255) : v >> 8) : c.depth < 8 ? (v * 255) / (2 ** c.depth - 1) : v;
  for (let p = 0; p < c.width * c.height; p++) {
    const s = c.samples.subarray(p * channels, (p + 1) * channels);
    const rgb =
      c.colorType === 3
        ? [0, 1, 2].map((k) => (s[0] * 3 + k < palette.length ? palette[s[0] * 3 + k] : 0))
        : channels <= 2
          ? [s[0], s[0], s[0]].map(level)
          : [s[0], s[1], s[2]].map(level);
    out.set(rgb, p * 3);
  }
  return out;
}

export interface PngLayout {
  colorType: number;
  depth: number;
  interlaced: boolean;
}

/**
 * One seeded PNG; `options` write every row with `filter` (past 4 is invalid), leave PLTE out, or cut the image data
 * into `parts` IDAT chunks (else one to four).
 */
export function pngCase(
  rng: Rng,
  { colorType, depth, interlaced }: PngLayout,
  options: { filter?: number; noPalette?: boolean; parts?: number } = {},
): PngCase {
  const int = (n: number) => Math.floor(rng.uniform() * n);
  const width = [1, 3, 9, 17, 1 + int(40)][int(5)];
  const height = [1, 2, 7, 12, 1 + int(30)][int(5)];
  const channels = CHANNELS(colorType);
  // Some palettes are shorter than the indices reach: those pixels are black, as in PIL.
  const entries = colorType === 3 ? 1 + int(2 ** depth) : 0;
  const palette = Uint8Array.from({ length: entries * 3 }, () => int(256));
  const samples = Uint16Array.from({ length: width * height * channels }, () => int(2 ** depth));
  const c = { width, height, colorType, depth, interlaced, samples };
  const unit = Math.max(1, (channels * depth) >> 3);
  const filtered: Uint8Array[] = [];
  for (const pass of interlaced ? ADAM7 : [[0, 0, 1, 1]]) {
    let prev: Uint8Array | undefined;
    for (const row of packRows(c, pass)) {
      const type = options.filter ?? int(5);
      filtered.push(Uint8Array.of(type), filterRow(row, prev ?? new Uint8Array(row.length), unit, type));
      prev = row;
    }
  }
  const zlib = deflateSync(Buffer.concat(filtered), { level: int(10) });
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width);
  new DataView(ihdr.buffer).setUint32(4, height);
  ihdr.set([depth, colorType, 0, 0, interlaced ? 1 : 0], 8);
  const parts = [Uint8Array.of(137, 80, 78, 71, 13, 10, 26, 10), pngChunk('IHDR', ihdr)];
  if (colorType === 3 && !options.noPalette) parts.push(pngChunk('PLTE', palette));
  // Truecolour and grey files may carry a suggested palette for displays: decoders must not apply it.
  if (colorType !== 3 && int(3) === 0)
    parts.push(
      pngChunk(
        'PLTE',
        Uint8Array.from({ length: 3 * (1 + int(256)) }, () => int(256)),
      ),
    );
  // The image data cut at random points into IDAT chunks, a tEXt chunk sometimes in front.
  if (int(2)) parts.push(pngChunk('tEXt', new TextEncoder().encode('Comment\0edge-clip')));
  const count = options.parts ? options.parts - 1 : int(4);
  const cuts = [0, ...Array.from({ length: count }, () => int(zlib.length)).sort((a, b) => a - b), zlib.length];
  for (let i = 0; i + 1 < cuts.length; i++) parts.push(pngChunk('IDAT', zlib.subarray(cuts[i], cuts[i + 1])));
  parts.push(pngChunk('IEND', new Uint8Array(0)));
  return {
    name: `type ${colorType} ${depth}-bit${interlaced ? ' Adam7' : ''} ${width}×${height}`,
    ...c,
    bytes: new Uint8Array(Buffer.concat(parts)),
    rgb: pilRgb(c, palette),
  };
}

/** Every layout, interlaced and not, `perLayout` seeded sizes each. */
export function pngFamily(seed: number, perLayout: number): PngCase[] {
  const rng = new Rng(seed);
  const cases: PngCase[] = [];
  for (const [colorType, { depths }] of Object.entries(COLOR_TYPES).map(([t, v]) => [Number(t), v] as const))
    for (const depth of depths)
      for (const interlaced of [false, true])
        for (let i = 0; i < perLayout; i++) cases.push(pngCase(rng, { colorType, depth, interlaced }));
  return cases;
}
