/**
 * Cuts a tower into consecutive segments of units (stem, blocks, layers, head). The first plan comes from an estimate
 * of each segment's peak memory; the build then measures every segment and splits those that measured over the
 * budget (`refinePlan`), because the estimate cannot know the runtime's allocator.
 */
import type { Precision } from '../../src/contracts/manifest.ts';

/** Linear weights that the int8 build stores as int8 (one scale per output column). */
const INT8_WEIGHT =
  /(mlp\.fc[12]\.weight|in_proj_weight|out_proj\.weight|c_fc\.weight|c_proj\.weight|downsample\.1\.weight|^text_projection)$/;

/** onnxruntime-web's wasm memory before any model (measured: 16 MiB), and what a session adds besides its weights. */
const RUNTIME_BASE = 16 * 2 ** 20;
const SESSION_OVERHEAD = 12 * 2 ** 20;

/** Emscripten grows wasm memory to at least 1.2× its size: sizes climb a ladder of 16 MiB × 1.2ⁿ. */
function wasmSize(need: number): number {
  let size = RUNTIME_BASE;
  while (size < need) size *= 1.2;
  return size;
}

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

/**
 * Multiply-adds of one position through a unit: the elements of its matrices and kernels (tensors of two or more
 * dimensions; embeddings are looked up, not multiplied). Times the positions it runs at, ×2, it is the unit's flops.
 */
export function unitMacsPerPosition(spec: [string, number[]][], prefixes: string[]): number {
  let macs = 0;
  for (const [name, shape] of spec)
    if (shape.length >= 2 && prefixes.some((p) => name.startsWith(p)) && !/_embedding(\.weight)?$/.test(name))
      macs += shape.reduce((a, b) => a * b, 1);
  return macs;
}

/** Most flops in one segment of the image tower by default (~0.25 s of one wasm thread in workerd here, int8). */
export const DEFAULT_MAX_STEP_GFLOPS = 16;

/**
 * Most units (layers) in one segment of the text tower. onnxruntime's session creation grows faster than the graph:
 * the full-size int8 text tower (880 nodes) took 325–500 ms to create as one session and 130 ms as 4 segments of at most
 * 5 units, 118 ms as 8 (onnxruntime-web in Node, warm; docs/PERFORMANCE.md "Session creation"). A prompt crosses a
 * segment boundary with a copy of a few hundred KiB.
 */
export const TEXT_MAX_SEGMENT_UNITS = 5;

export interface UnitCost {
  /** Weight bytes at the build's precision. */
  weights: number;
  /** Peak bytes of activations live inside the unit at the largest batch a segment is sent. */
  activations: number;
  /** Bytes of the activation the unit outputs (what crosses a segment boundary after it). */
  output: number;
  /** Floating-point operations of one input through the unit: a segment's run holds the isolate's thread this long. */
  flops: number;
}

export type Range = [number, number];

/**
 * While a session is created the Worker holds the files in JS and their copy in wasm; the JS side is released right
 * after. Loading may take this much more than the serving budget (100 MiB → 120 MiB: the rest of a 128 MB isolate
 * is the Worker's own JS heap).
 */
export const LOADING_HEADROOM = 1.2;

export interface SegmentEstimate {
  loading: number;
  serving: number;
}

/**
 * Estimated memory of units [a, b) as one segment: while loading, the weights in JS plus wasm holding them; while
 * serving, wasm with the weights and the largest unit's activations (not their sum: buffers are reused from unit to
 * unit), plus the request and response in JS.
 */
export function estimateSegment(units: UnitCost[], [a, b]: Range): SegmentEstimate {
  const part = units.slice(a, b);
  const weights = part.reduce((s, u) => s + u.weights, 0);
  const activations = Math.max(...part.map((u) => u.activations));
  const io = 2 * ((a > 0 ? units[a - 1].output : 0) + units[b - 1].output);
  const created = wasmSize(SESSION_OVERHEAD + weights);
  return { loading: weights + created, serving: wasmSize(created + activations) + io };
}

export const fits = (m: SegmentEstimate, budget: number): boolean =>
  m.serving <= budget && m.loading <= budget * LOADING_HEADROOM;

/** How a tower is cut: a memory budget per segment, a least count, and a most compute per segment. */
export interface CutLimits {
  budget: number;
  minSegments?: number;
  /** No segment does more than this many flops (one input), so that no single wasm call holds the thread long. */
  maxFlops?: number;
  /** No segment has more units than this (session creation time grows faster than a graph's size). */
  maxUnits?: number;
}

const sum = (units: UnitCost[], [a, b]: Range, key: 'weights' | 'flops') =>
  units.slice(a, b).reduce((s, u) => s + u[key], 0);

/**
 * Greedy: as many consecutive units per segment as the estimate allows (a unit over budget gets its own segment);
 * then the widest segment is halved until there are `minSegments`, any segment over `maxFlops` is halved by compute
 * until none is (a unit over it stays alone), and any segment of more than `maxUnits` units is halved by count.
 */
export function planSegments(units: UnitCost[], { budget, minSegments = 1, maxFlops, maxUnits }: CutLimits): Range[] {
  const ranges: Range[] = [];
  let start = 0;
  for (let i = 1; i <= units.length; i++) {
    if (i === units.length || !fits(estimateSegment(units, [start, i + 1]), budget)) {
      ranges.push([start, i]);
      start = i;
    }
  }
  let plan = ranges;
  while (plan.length < minSegments) {
    const widest = plan.reduce((best, r, i) => (r[1] - r[0] > plan[best][1] - plan[best][0] ? i : best), 0);
    if (plan[widest][1] - plan[widest][0] < 2) break;
    plan = split(plan, units, widest);
  }
  if (maxFlops !== undefined)
    for (let i = 0; i < plan.length; )
      if (plan[i][1] - plan[i][0] > 1 && sum(units, plan[i], 'flops') > maxFlops) plan = split(plan, units, i, 'flops');
      else i++;
  if (maxUnits !== undefined)
    for (let i = 0; i < plan.length; )
      if (plan[i][1] - plan[i][0] > Math.max(1, maxUnits)) plan = split(plan, units, i, 'count');
      else i++;
  return plan;
}

/** Halves range `i` where the weights (or the compute, or the unit count) balance best. */
function split(plan: Range[], units: UnitCost[], i: number, by: 'weights' | 'flops' | 'count' = 'weights'): Range[] {
  const [a, b] = plan[i];
  let cut: number;
  if (by === 'count') cut = a + Math.ceil((b - a) / 2);
  else {
    const total = sum(units, plan[i], by);
    cut = a + 1;
    let acc = units[a][by];
    while (cut < b - 1 && acc + units[cut][by] <= total / 2) acc += units[cut++][by];
  }
  return [...plan.slice(0, i), [a, cut], [cut, b], ...plan.slice(i + 1)];
}

/** Splits every segment marked as over its budget (by measurement); undefined when none is. */
export function refinePlan(plan: Range[], units: UnitCost[], over: boolean[]): Range[] | undefined {
  let next = plan;
  for (let i = plan.length - 1; i >= 0; i--) if (over[i] && plan[i][1] - plan[i][0] > 1) next = split(next, units, i);
  return next === plan ? undefined : next;
}
