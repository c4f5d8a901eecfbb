/** Tolerances of the preprocessing goldens by kind of input (issue acceptance), shared by the Node and workerd tests. */

export interface GoldenEntry {
  file: string;
  tensor_file: string;
  tensor_sha256: string;
  pil_format: string;
  jpeg_sampling?: number[][];
  jpeg_progressive?: boolean;
}

export function tolerance(e: GoldenEntry): { max: number; mean: number } {
  // AVIF's goldens come from another libavif build, whose YUV→RGB conversion rounds chroma differently (≤ 1 level
  // per decoded sample, up to 3 after resizing): the subsampled-JPEG bound, for the same reason.
  if (e.pil_format === 'AVIF') return { max: 0.1, mean: 0.01 };
  if (e.pil_format !== 'JPEG') return { max: 0.02, mean: 0.02 };
  const subsampled = e.jpeg_sampling?.some(([h, v]) => h !== e.jpeg_sampling![0][0] || v !== e.jpeg_sampling![0][1]);
  if (subsampled || e.jpeg_progressive) return { max: 0.1, mean: 0.01 };
  return { max: 0.06, mean: 0.06 };
}

export function compare(actual: Float32Array, golden: Float32Array): { max: number; mean: number } {
  let max = 0;
  let sum = 0;
  for (let i = 0; i < golden.length; i++) {
    const d = Math.abs(actual[i] - golden[i]);
    if (d > max) max = d;
    sum += d;
  }
  return { max, mean: sum / golden.length };
}

/** torchvision's config for convnext_large_d_320 (what the goldens were made with). */
export const GOLDEN_CFG = {
  size: 320,
  mean: [0.48145466, 0.4578275, 0.40821073] as [number, number, number],
  std: [0.26862954, 0.26130258, 0.27577711] as [number, number, number],
  interpolation: 'bicubic' as const,
  resizeMode: 'shortest' as const,
};
