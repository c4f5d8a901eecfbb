import { describe, expect, it } from 'vitest';
import {
  estimateSegment,
  fits,
  planSegments,
  refinePlan,
  type UnitCost,
} from '../../../tool/converter/plan-segments.ts';

const MiB = 2 ** 20;
const unit = (weightsMiB: number, activationsMiB = 1, gflops = 1): UnitCost => ({
  weights: weightsMiB * MiB,
  activations: activationsMiB * MiB,
  output: 0.1 * MiB,
  flops: gflops * 1e9,
});

/** Consecutive ranges from 0 to `n`, each unit once. */
function expectCover(plan: [number, number][], n: number): void {
  expect(plan[0][0]).toBe(0);
  expect(plan[plan.length - 1][1]).toBe(n);
  for (const [a, b] of plan) expect(b).toBeGreaterThan(a);
  for (let i = 1; i < plan.length; i++) expect(plan[i][0]).toBe(plan[i - 1][1]);
}

describe('segment planning', () => {
  it('counts the weights twice while loading (JS copy + wasm) and the largest activation, not their sum, while serving', () => {
    const light = [unit(1, 40), unit(1, 40), unit(1, 40)];
    expect(estimateSegment(light, [0, 3])).toEqual(estimateSegment([unit(3, 40)], [0, 1]));
    const heavy = estimateSegment([unit(30)], [0, 1]);
    expect(heavy.loading).toBeGreaterThan(2 * 30 * MiB);
    expect(heavy.serving).toBeLessThan(heavy.loading);
    // Loading may use 20 % more than the serving budget.
    expect(fits({ serving: 100 * MiB, loading: 120 * MiB }, 100 * MiB)).toBe(true);
    expect(fits({ serving: 100 * MiB, loading: 121 * MiB }, 100 * MiB)).toBe(false);
  });

  it('packs consecutive units greedily under the budget and covers every unit once', () => {
    const units = Array.from({ length: 12 }, () => unit(8));
    const plan = planSegments(units, { budget: 100 * MiB });
    expect(plan.length).toBeGreaterThan(1);
    expect(plan[0][0]).toBe(0);
    expect(plan[plan.length - 1][1]).toBe(12);
    for (let i = 1; i < plan.length; i++) expect(plan[i][0]).toBe(plan[i - 1][1]);
    for (const r of plan) expect(fits(estimateSegment(units, r), 100 * MiB)).toBe(true);
    // Merging any two neighbours would go over: the plan is not needlessly fine.
    for (let i = 1; i < plan.length; i++)
      expect(fits(estimateSegment(units, [plan[i - 1][0], plan[i][1]]), 100 * MiB)).toBe(false);
  });

  it('splits further when at least N segments are asked for', () => {
    const units = [unit(1), unit(1), unit(10), unit(1), unit(1)];
    expect(planSegments(units, { budget: Number.POSITIVE_INFINITY })).toEqual([[0, 5]]);
    const three = planSegments(units, { budget: Number.POSITIVE_INFINITY, minSegments: 3 });
    expect(three).toHaveLength(3);
    expect(three[0][0]).toBe(0);
    expect(three[2][1]).toBe(5);
    for (let i = 1; i < 3; i++) expect(three[i][0]).toBe(three[i - 1][1]);
  });

  it('cuts by compute so that no segment holds the thread longer than maxFlops allows (a family of towers)', () => {
    // ConvNeXt-like: equal compute per block, weights growing ×4 per stage; and random towers of 5–60 units.
    const convnext = [3, 3, 27, 3].flatMap((depth, s) => Array.from({ length: depth }, () => unit(4 ** s, 1, 3.8)));
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const towers = [
      convnext,
      ...Array.from({ length: 20 }, () =>
        Array.from({ length: 5 + Math.floor(random() * 56) }, () => unit(random() * 50, 1, random() * 10)),
      ),
    ];
    for (const units of towers)
      for (const maxGflops of [2, 8, 16, 50, 1000]) {
        const plan = planSegments(units, { budget: Number.POSITIVE_INFINITY, maxFlops: maxGflops * 1e9 });
        expectCover(plan, units.length);
        for (const [a, b] of plan) {
          const flops = units.slice(a, b).reduce((s, u) => s + u.flops, 0);
          if (b - a > 1) expect(flops).toBeLessThanOrEqual(maxGflops * 1e9);
        }
      }
    // 36 equal blocks of 3.8 GFLOP under 16 GFLOP: segments of at most 4 blocks, and not needlessly many.
    const steps = planSegments(convnext, { budget: Number.POSITIVE_INFINITY, maxFlops: 16e9 });
    expect(steps.every(([a, b]) => b - a <= 4)).toBe(true);
    expect(steps.length).toBeLessThanOrEqual(16);
  });

  it('cuts by count so that no segment has more than maxUnits units (a family of lengths and limits)', () => {
    for (let n = 1; n <= 40; n++)
      for (const maxUnits of [1, 2, 3, 5, 8, 100]) {
        const units = Array.from({ length: n }, (_, i) => unit(1 + (i % 3), 1, 1));
        const plan = planSegments(units, { budget: Number.POSITIVE_INFINITY, maxUnits });
        expectCover(plan, n);
        expect(plan.every(([a, b]) => b - a <= maxUnits)).toBe(true);
        // Halving never leaves more segments than twice the least possible.
        expect(plan.length).toBeLessThanOrEqual(Math.max(1, 2 * Math.ceil(n / maxUnits)));
      }
    // The text tower: embedding, 16 layers, head under 5 units a segment.
    const text = planSegments(
      Array.from({ length: 18 }, () => unit(8, 1, 1)),
      { budget: Number.POSITIVE_INFINITY, maxUnits: 5 },
    );
    expect(text.map(([a, b]) => b - a)).toEqual([5, 4, 5, 4]);
  });

  it('re-cuts only the segments measured over budget', () => {
    const units = Array.from({ length: 6 }, () => unit(5));
    const plan: [number, number][] = [
      [0, 3],
      [3, 6],
    ];
    expect(refinePlan(plan, units, [false, false])).toBeUndefined();
    expect(refinePlan(plan, units, [false, true])).toEqual([
      [0, 3],
      [3, 4],
      [4, 6],
    ]);
  });
});
