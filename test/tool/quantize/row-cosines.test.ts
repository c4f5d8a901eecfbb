import { describe, expect, it } from 'vitest';
import { rowCosines } from '../../../tool/quantize/row-cosines.ts';

describe('rowCosines', () => {
  it('gives each row its cosine', () => {
    const c = rowCosines([1, 0, 0, 1], [1, 0, 1, 1], 2);
    expect(c).toHaveLength(2);
    expect(c[0]).toBeCloseTo(1, 12);
    expect(c[1]).toBeCloseTo(Math.SQRT1_2, 12);
  });

  it('counts a row with NaN, an infinity or a zero vector as −1, so that no gate lets it pass', () => {
    const c = rowCosines([Number.NaN, 1, Number.POSITIVE_INFINITY, 1, 0, 0, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1], 2);
    expect(c.slice(0, 3)).toEqual([-1, -1, -1]);
    expect(c[3]).toBeCloseTo(1, 12);
    expect(Math.min(...c) < 0.99).toBe(true);
  });
});
