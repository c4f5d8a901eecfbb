import { describe, expect, it } from 'vitest';
import {
  estimateSegment,
  fits,
  planSegments,
  refinePlan,
  type UnitCost,
} from '../../../tool/converter/plan-segments.ts';

const MiB = 2 ** 20;
const unit = (weightsMiB: number, activationsMiB = 1): UnitCost => ({
  weights: weightsMiB * MiB,
  activations: activationsMiB * MiB,
  output: 0.1 * MiB,
});

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
    const plan = planSegments(units, 100 * MiB);
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
    expect(planSegments(units, Number.POSITIVE_INFINITY)).toEqual([[0, 5]]);
    const three = planSegments(units, Number.POSITIVE_INFINITY, 3);
    expect(three).toHaveLength(3);
    expect(three[0][0]).toBe(0);
    expect(three[2][1]).toBe(5);
    for (let i = 1; i < 3; i++) expect(three[i][0]).toBe(three[i - 1][1]);
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
