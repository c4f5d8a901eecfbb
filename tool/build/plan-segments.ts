/**
 * Cuts a tower into consecutive segments whose *estimated* memory stays under a budget: the unit's weight bytes at the
 * build's precision, ×1.1 for the runtime's copies, plus its largest activations at batch 1. (Measuring each segment
 * in onnxruntime-web and re-cutting until it fits is the next step.)
 */
import type { Precision } from '../../src/shared/manifest.ts';

/** Linear weights that the int8 build stores as int8 (one scale per output column). */
const INT8_WEIGHT =
  /(mlp\.fc[12]\.weight|in_proj_weight|out_proj\.weight|c_fc\.weight|c_proj\.weight|downsample\.1\.weight|^text_projection)$/;

export function unitWeightBytes(spec: [string, number[]][], prefixes: string[], precision: Precision): number {
  let bytes = 0;
  for (const [name, shape] of spec) {
    if (!prefixes.some((p) => name.startsWith(p))) continue;
    const n = shape.reduce((a, b) => a * b, 1);
    if (precision === 'int8' && INT8_WEIGHT.test(name)) bytes += n + shape[0] * 4;
    else if (precision === 'int8' && name === 'token_embedding.weight') bytes += n + shape[0] * 4;
    else bytes += n * 4;
  }
  return bytes;
}

/** Greedy: as many consecutive units per segment as fit; a unit larger than the budget gets a segment of its own. */
export function planSegments(costs: number[], budget: number): [number, number][] {
  const segments: [number, number][] = [];
  let start = 0;
  let used = 0;
  costs.forEach((c, i) => {
    if (i > start && used + c > budget) {
      segments.push([start, i]);
      start = i;
      used = 0;
    }
    used += c;
  });
  segments.push([start, costs.length]);
  return segments;
}
