/** Token id batches for the dynamic-length text graph. */

/**
 * Packs id sequences into an int64 [n, L] batch, L = the longest sequence (or `padTo`). Padding with 0 after EOT
 * changes nothing: attention is causal and the tower pools at the EOT position.
 */
export function packIds(
  sequences: readonly (readonly number[])[],
  padTo?: number,
): { data: BigInt64Array; dims: [number, number] } {
  const len = padTo ?? Math.max(...sequences.map((s) => s.length));
  const data = new BigInt64Array(sequences.length * len);
  sequences.forEach((s, r) => {
    for (let i = 0; i < s.length; i++) data[r * len + i] = BigInt(s[i]);
  });
  return { data, dims: [sequences.length, len] };
}
