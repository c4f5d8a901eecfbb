/**
 * OpenCLIP's evaluation transform in pure JS: decode → convert('RGB') → resize (shortest side, PIL filter) → center
 * crop (round half to even) → /255 → normalize, into a float32 [3,S,S] tensor. Same code in workerd, Node and browsers.
 */
import { EdgeClipError } from '../../contracts/errors.ts';
import type { PreprocessConfig } from '../../contracts/manifest.ts';
import { decodeImage } from './decode-image.ts';
import { decodeEstimate } from './decode-memory.ts';
import { applyOrientation } from './exif-orientation.ts';
import { resizeRgbWindow } from './pil-resize.ts';
import { type ImageProbe, probeImage } from './probe-image.ts';
import type { ImageDecoders } from './wasm-codec.ts';

export type Orientation = 'ignore' | 'exif';

/**
 * Bump when decoding or preprocessing changes what pixels an image yields: cached image embeddings are keyed with it
 * (the Cache API keeps entries across deploys).
 */
export const PREPROCESS_VERSION = 1;

export interface PreprocessOptions {
  /** "ignore" follows the reference (pixels in stored order); "exif" applies the EXIF orientation first. */
  orientation?: Orientation;
  /** Refuse images whose header declares more pixels (decompression bombs): the MAX_IMAGE_PIXELS setting. */
  maxPixels: number;
  /**
   * Refuse images whose decoding would need more memory (estimated from the header: decode-memory.ts): the
   * MAX_DECODE_BYTES setting, which keeps a Worker inside its 128 MB. Unset where memory is not so bounded (the CLI).
   */
  maxDecodeBytes?: number;
  decoders: ImageDecoders;
}

/** Where the model's input came from: what a user needs to see what was classified. */
export interface PreprocessView {
  /** The picture the resize started from (after an EXIF rotation, when one was applied). */
  width: number;
  height: number;
  /** The EXIF orientation applied (1: none). */
  orientation: number;
  /** The size it was resized to, and the crop taken from that (size × size at left, top). */
  resized: { width: number; height: number };
  crop: { left: number; top: number; size: number };
}

export interface PreprocessResult {
  probe: ImageProbe;
  view: PreprocessView;
  decodeMs: number;
  resizeMs: number;
}

/** Python's round(): half to even. */
const roundHalfEven = (v: number): number => {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
};

/** torchvision Resize(int): the short side becomes `size`, the long side floor(size·long/short). */
export function resizedSize(w: number, h: number, cfg: PreprocessConfig): [number, number] {
  const s = cfg.size;
  if (cfg.resizeMode === 'squash') return [s, s];
  if (w <= h) return [s, Math.floor((s * h) / w)];
  return [Math.floor((s * w) / h), s];
}

export function cropBox(w: number, h: number, size: number): { left: number; top: number } {
  return { left: roundHalfEven((w - size) / 2), top: roundHalfEven((h - size) / 2) };
}

/** Per-channel lookup table u8 → normalized float32, each float32 operation rounded as torchvision's. */
export function normalizationTable(cfg: PreprocessConfig): Float32Array[] {
  const f = Math.fround;
  return [0, 1, 2].map((c) => {
    const mean = f(cfg.mean[c]);
    const std = f(cfg.std[c]);
    const t = new Float32Array(256);
    for (let v = 0; v < 256; v++) t[v] = f(f(f(v / 255) - mean) / std);
    return t;
  });
}

/** The 8-bit RGB crop (S×S×3) before ToTensor; exposed for debugging against `.u8` goldens. */
export async function preprocessToRgb(
  bytes: Uint8Array,
  cfg: PreprocessConfig,
  opts: PreprocessOptions,
): Promise<{ rgb: Uint8Array } & PreprocessResult> {
  const { maxPixels } = opts;
  const probe = probeImage(bytes);
  if (probe.width * probe.height > maxPixels) {
    throw new EdgeClipError(
      'PAYLOAD_TOO_LARGE',
      `image is ${probe.width}×${probe.height} (${((probe.width * probe.height) / 1e6).toFixed(1)} MP); the limit is ${(maxPixels / 1e6).toFixed(1)} MP`,
    );
  }
  const { orientation, cost, bytes: needs } = decodeEstimate(bytes, probe, opts.orientation ?? 'ignore');
  if (opts.maxDecodeBytes !== undefined && needs > opts.maxDecodeBytes) {
    const MiB = 1024 * 1024;
    throw new EdgeClipError(
      'PAYLOAD_TOO_LARGE',
      `image is ${probe.width}×${probe.height} (${((probe.width * probe.height) / 1e6).toFixed(1)} MP): decoding this ${cost.layout} needs about ${Math.ceil(needs / MiB)} MiB, more than the ${Math.floor(opts.maxDecodeBytes / MiB)} MiB allowed (MAX_DECODE_BYTES); the model sees ${cfg.size}×${cfg.size}, so a smaller copy gives nearly the same embedding`,
    );
  }
  const release = await opts.decoders.oneAtATime.acquire();
  try {
    const t0 = performance.now();
    let img = await decodeImage(bytes, probe, maxPixels, opts.decoders);
    if (orientation > 1) img = applyOrientation(img, orientation);
    const t1 = performance.now();
    const S = cfg.size;
    const [rw, rh] = resizedSize(img.width, img.height, cfg);
    const { left, top } = cropBox(rw, rh, S);
    const rgb = resizeRgbWindow(img, rw, rh, { x0: left, y0: top, width: S, height: S }, cfg.interpolation);
    const view = {
      width: img.width,
      height: img.height,
      orientation,
      resized: { width: rw, height: rh },
      crop: { left, top, size: S },
    };
    return { rgb, probe, view, decodeMs: t1 - t0, resizeMs: performance.now() - t1 };
  } finally {
    release();
  }
}

/**
 * Writes the normalized [3,S,S] planes into `out` at `offset` (so a batch buffer can be filled in place).
 * Decoding errors are typed (415/413/422) and leave `out` untouched.
 */
export async function preprocessImage(
  bytes: Uint8Array,
  cfg: PreprocessConfig,
  out: Float32Array,
  offset: number,
  opts: PreprocessOptions,
  table: Float32Array[] = normalizationTable(cfg),
): Promise<PreprocessResult> {
  const { rgb, ...result } = await preprocessToRgb(bytes, cfg, opts);
  const t0 = performance.now();
  normalizeRgb(rgb, cfg.size, out, offset, table);
  result.resizeMs += performance.now() - t0;
  return result;
}

/** ToTensor + Normalize: the S×S RGB crop into [3,S,S] float32 planes of `out` at `offset`. */
export function normalizeRgb(rgb: Uint8Array, size: number, out: Float32Array, offset: number, table: Float32Array[]) {
  const plane = size * size;
  const [r, g, b] = table;
  for (let i = 0, j = 0; i < plane; i++, j += 3) {
    out[offset + i] = r[rgb[j]];
    out[offset + plane + i] = g[rgb[j + 1]];
    out[offset + 2 * plane + i] = b[rgb[j + 2]];
  }
}
