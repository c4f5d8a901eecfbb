/**
 * The memory an image costs to decode and preprocess, estimated from its header before any decoding, so that an
 * isolate with 128 MB refuses what it cannot hold (413) instead of dying mid-decode. Each figure is an upper bound of
 * peak resident memory measured per format and layout (test/model/image/decode-memory.test.ts re-measures them;
 * `npm run bench:decode-memory` prints the table in docs/RELIABILITY.md): a decoder's output and working buffers in
 * its wasm memory, the copy it hands to JS, and the resize. The request's own bytes are added as they are.
 */
import { readJpegOrientation } from './exif-orientation.ts';
import type { ImageProbe } from './probe-image.ts';

const MiB = 1024 * 1024;

export interface DecodeCost {
  /** What the estimate was made for, e.g. "progressive JPEG". */
  layout: string;
  bytesPerPixel: number;
  /** Decoder state whatever the size (libaom's and zlib's buffers, a fresh wasm instance's growth). */
  fixedBytes: number;
}

/** Rotating by EXIF orientation makes one more RGB copy of the image. */
const ROTATION_BYTES_PER_PIXEL = 3;

/** [bytes a pixel, fixed MiB] per layout: measured peaks, rounded up (docs/RELIABILITY.md has the table). */
const COSTS = {
  // A progressive JPEG keeps every DCT coefficient (2 bytes per sample) until its last scan.
  'baseline JPEG': [10, 8],
  'progressive JPEG': [21, 8],
  // Inflated once into the filtered rows (used in place for non-interlaced 8-bit RGB(A)); other layouts add an RGB
  // copy. The figure is the costliest 8-bit layout, interlaced RGBA (≤ 5 B/px of rows, one filter byte a pixel for a
  // 1-pixel-wide image, + 3 RGB), plus the resize; the measured png-rgb8 uses ~6.
  PNG: [11, 16],
  '16-bit PNG': [16, 20],
  GIF: [5, 4],
  BMP: [5, 4],
  TIFF: [9, 4],
  '16-bit TIFF': [23, 8],
  WebP: [14, 8],
  // libaom decodes into 16-bit planes and a pool of reference frames, whatever the file's bit depth.
  AVIF: [52, 24],
} as const satisfies Record<string, readonly [number, number]>;

function layoutOf(probe: ImageProbe): keyof typeof COSTS {
  const deep = probe.sampleBits === 16 ? '16-bit ' : '';
  switch (probe.format) {
    case 'jpeg':
      return probe.progressive ? 'progressive JPEG' : 'baseline JPEG';
    case 'png':
      return `${deep}PNG`;
    case 'tiff':
      return `${deep}TIFF`;
    case 'gif':
      return 'GIF';
    case 'bmp':
      return 'BMP';
    case 'webp':
      return 'WebP';
    case 'avif':
      return 'AVIF';
  }
}

export function decodeCost(probe: ImageProbe, rotated: boolean): DecodeCost {
  const layout = layoutOf(probe);
  const [bytesPerPixel, fixedMiB] = COSTS[layout];
  return {
    layout,
    bytesPerPixel: bytesPerPixel + (rotated ? ROTATION_BYTES_PER_PIXEL : 0),
    fixedBytes: fixedMiB * MiB,
  };
}

export interface DecodeEstimate {
  /** The EXIF orientation preprocessing will apply (1: none). */
  orientation: number;
  cost: DecodeCost;
  /** Peak bytes held while the file is decoded and preprocessed, its own bytes included. */
  bytes: number;
}

/** What decoding and preprocessing `file` will hold, read from its header (and EXIF, when it is to be applied). */
export function decodeEstimate(file: Uint8Array, probe: ImageProbe, orientation: 'ignore' | 'exif'): DecodeEstimate {
  const applied = orientation === 'exif' && probe.format === 'jpeg' ? readJpegOrientation(file) : 1;
  const cost = decodeCost(probe, applied > 1);
  return {
    orientation: applied,
    cost,
    bytes: file.length + cost.fixedBytes + cost.bytesPerPixel * probe.width * probe.height,
  };
}
