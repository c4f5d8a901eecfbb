/**
 * PIL's separable resampling (Image.resize with BICUBIC or BILINEAR), bit-exact: filter support widened by the scale
 * when downscaling (antialiasing), coefficients normalized in double precision then fixed-point with 22 fractional
 * bits, a horizontal pass rounded to 8 bits, then a vertical pass.
 *
 * Only the output window [x0,x0+w)×[y0,y0+h) is computed: each output pixel depends only on its own coefficients, so
 * resizing and then cropping equals computing just the crop.
 */
import type { RgbImage } from './rgb-image.ts';

export type Interpolation = 'bicubic' | 'bilinear';

const PRECISION_BITS = 22;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

const FILTERS: Record<Interpolation, { support: number; kernel: (x: number) => number }> = {
  bicubic: {
    support: 2,
    kernel: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
  bilinear: { support: 1, kernel: (x) => Math.max(0, 1 - Math.abs(x)) },
};

export interface Coefficients {
  /** First input index per output index. */
  start: Int32Array;
  /** Number of taps per output index. */
  count: Int32Array;
  /** Fixed-point weights, `taps` per output index. */
  weights: Float64Array;
  taps: number;
}

/** Coefficients for outputs [first, first+n) of an inSize → outSize resize. */
export function coefficients(
  inSize: number,
  outSize: number,
  first: number,
  n: number,
  interpolation: Interpolation,
): Coefficients {
  const { support: base, kernel } = FILTERS[interpolation];
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = base * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(n);
  const count = new Int32Array(n);
  const weights = new Float64Array(n * taps);
  const raw = new Float64Array(taps);
  const inv = 1 / filterScale;
  for (let o = 0; o < n; o++) {
    const center = (first + o + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(center + support + 0.5));
    let sum = 0;
    for (let j = lo; j < hi; j++) {
      const w = kernel((j - center + 0.5) * inv);
      raw[j - lo] = w;
      sum += w;
    }
    for (let j = 0; j < hi - lo; j++) {
      const k = sum !== 0 ? raw[j] / sum : raw[j];
      // Round half away from zero, as PIL's (int)(±0.5 + k·2²²).
      weights[o * taps + j] = k < 0 ? Math.trunc(-0.5 + k * ONE) : Math.trunc(0.5 + k * ONE);
    }
    start[o] = lo;
    count[o] = hi - lo;
  }
  return { start, count, weights, taps };
}

const clamp8 = (v: number) => Math.max(0, Math.min(255, v));

export interface Window {
  x0: number;
  y0: number;
  width: number;
  height: number;
}

/**
 * Resizes an RGB image to outW×outH with PIL's algorithm and returns only `win` of the result (interleaved RGB u8,
 * win.width·win.height·3). Passes are skipped when that axis keeps its size, as PIL does. Reads 3 or 4 bytes per input
 * pixel (the fourth ignored), so a decoder's RGBA needs no RGB copy.
 */
export function resizeRgbWindow(
  img: RgbImage,
  outW: number,
  outH: number,
  win: Window,
  interpolation: Interpolation,
): Uint8Array {
  const { width: inW, height: inH, data: src, channels } = img;
  const { x0, y0, width, height } = win;
  // Rows of the input that the vertical pass will read.
  const vert = outH !== inH ? coefficients(inH, outH, y0, height, interpolation) : undefined;
  const rowLo = vert ? vert.start[0] : y0;
  const rowHi = vert ? vert.start[height - 1] + vert.count[height - 1] : y0 + height;
  const rows = rowHi - rowLo;

  // Horizontal pass over the needed rows only, into 8-bit storage as PIL keeps it.
  const mid = new Uint8Array(rows * width * 3);
  if (outW !== inW) {
    const h = coefficients(inW, outW, x0, width, interpolation);
    const { start, count, weights, taps } = h;
    for (let r = 0; r < rows; r++) {
      const srcRow = (rowLo + r) * inW * channels;
      const dstRow = r * width * 3;
      for (let o = 0; o < width; o++) {
        let s0 = HALF;
        let s1 = HALF;
        let s2 = HALF;
        let p = srcRow + start[o] * channels;
        const wBase = o * taps;
        const n = count[o];
        for (let k = 0; k < n; k++) {
          const w = weights[wBase + k];
          s0 += src[p] * w;
          s1 += src[p + 1] * w;
          s2 += src[p + 2] * w;
          p += channels;
        }
        const d = dstRow + o * 3;
        mid[d] = clamp8(Math.floor(s0 / ONE));
        mid[d + 1] = clamp8(Math.floor(s1 / ONE));
        mid[d + 2] = clamp8(Math.floor(s2 / ONE));
      }
    }
  } else {
    for (let r = 0, d = 0; r < rows; r++) {
      for (let x = 0, s = ((rowLo + r) * inW + x0) * channels; x < width; x++, s += channels, d += 3) {
        mid[d] = src[s];
        mid[d + 1] = src[s + 1];
        mid[d + 2] = src[s + 2];
      }
    }
  }
  if (!vert) return mid;

  const out = new Uint8Array(width * height * 3);
  const { start, count, weights, taps } = vert;
  const stride = width * 3;
  for (let o = 0; o < height; o++) {
    const n = count[o];
    const base = (start[o] - rowLo) * stride;
    const wBase = o * taps;
    const dst = o * stride;
    for (let c = 0; c < stride; c++) {
      let s = HALF;
      let p = base + c;
      for (let k = 0; k < n; k++) {
        s += mid[p] * weights[wBase + k];
        p += stride;
      }
      out[dst + c] = clamp8(Math.floor(s / ONE));
    }
  }
  return out;
}
