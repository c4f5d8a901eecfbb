/** Cosines of feature rows: how int8 features are compared with fp32 ones everywhere (build, tests, benches). */

/**
 * Cosine of each row of two flat [rows, dim] matrices. A row with a NaN or infinity (an overflowed activation, a zero
 * vector) counts as −1, the worst cosine there is: NaN would pass every `< gate` check and never be the minimum.
 */
export function rowCosines(a: ArrayLike<number>, b: ArrayLike<number>, dim: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < a.length / dim; r++) {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let i = r * dim; i < (r + 1) * dim; i++) {
      ab += a[i] * b[i];
      aa += a[i] * a[i];
      bb += b[i] * b[i];
    }
    const cos = ab / Math.sqrt(aa * bb);
    out.push(Number.isFinite(cos) ? cos : -1);
  }
  return out;
}
