/** Post-processing of tower outputs. */

/** L2-normalizes each row of a [rows, dim] matrix in place. */
export function l2NormalizeRows(data: Float32Array, dim: number): Float32Array {
  for (let r = 0; r < data.length; r += dim) {
    let sum = 0;
    for (let i = r; i < r + dim; i++) sum += data[i] * data[i];
    const inv = sum > 0 ? 1 / Math.sqrt(sum) : 0;
    for (let i = r; i < r + dim; i++) data[i] *= inv;
  }
  return data;
}

/** Rows of a flat [rows, dim] matrix as plain arrays (for JSON). */
export function toRows(data: Float32Array, dim: number): number[][] {
  const rows: number[][] = [];
  for (let r = 0; r < data.length; r += dim) rows.push(Array.from(data.subarray(r, r + dim)));
  return rows;
}
