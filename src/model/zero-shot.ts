/** Zero-shot classification: classifier rows from prompt embeddings, and softmax scores for an image embedding. */

/** Rows [labels, dim] from label-major prompt embeddings [labels·templates, dim] (each row L2-normalized). */
export function classifierRows(
  promptEmbeddings: Float32Array,
  labels: number,
  templates: number,
  dim: number,
): Float32Array {
  const rows = new Float32Array(labels * dim);
  for (let l = 0; l < labels; l++) {
    const row = rows.subarray(l * dim, (l + 1) * dim);
    for (let t = 0; t < templates; t++) {
      const e = promptEmbeddings.subarray((l * templates + t) * dim, (l * templates + t + 1) * dim);
      for (let i = 0; i < dim; i++) row[i] += e[i];
    }
    let n = 0;
    for (let i = 0; i < dim; i++) n += row[i] * row[i];
    const inv = n > 0 ? 1 / Math.sqrt(n) : 0;
    for (let i = 0; i < dim; i++) row[i] *= inv;
  }
  return rows;
}

export interface LabelScore {
  label: string;
  /** Class index in the label set. */
  index: number;
  score: number;
}

/** softmax(exp(logitScale) · cos) over all labels; `image` must be L2-normalized. Returns the top k. */
export function zeroShotScores(
  image: Float32Array,
  rows: Float32Array,
  labels: readonly string[],
  logitScale: number,
  topK: number,
): LabelScore[] {
  const dim = image.length;
  const scale = Math.exp(logitScale);
  const logits = new Float64Array(labels.length);
  let max = Number.NEGATIVE_INFINITY;
  for (let l = 0; l < labels.length; l++) {
    let dot = 0;
    const o = l * dim;
    for (let i = 0; i < dim; i++) dot += image[i] * rows[o + i];
    logits[l] = scale * dot;
    if (logits[l] > max) max = logits[l];
  }
  let sum = 0;
  for (let l = 0; l < labels.length; l++) {
    logits[l] = Math.exp(logits[l] - max);
    sum += logits[l];
  }
  const order = Array.from(labels.keys()).sort((a, b) => logits[b] - logits[a]);
  return order.slice(0, topK).map((l) => ({ label: labels[l], index: l, score: logits[l] / sum }));
}
