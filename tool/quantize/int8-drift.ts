/**
 * The drift report of a build: int8 and fp32 towers run on the same calibration inputs (onnxruntime-node), and each
 * int8 output row is compared with its fp32 row by cosine. A tower below the threshold fails the build.
 */

import { loadRunner, loadTokenizer } from '../../src/adapters/node/local-build.ts';
import { EdgeClipError } from '../../src/contracts/errors.ts';
import type { Int8Drift, ModelManifest, TowerName } from '../../src/contracts/manifest.ts';
import { IMAGE_INPUT, TEXT_INPUT } from '../../src/contracts/tensors.ts';
import { packIds } from '../../src/model/text-batch.ts';
import type { Calibration } from './calibration.ts';

export const DEFAULT_MIN_INT8_COS = 0.995;

/** Rows per run: bounds the activation memory of the full-size image tower in fp32. */
const IMAGE_BATCH = 2;
const TEXT_BATCH = 16;

/** Cosine of each row of two flat [rows, dim] matrices. */
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
    out.push(ab / Math.sqrt(aa * bb));
  }
  return out;
}

/** Cosines of every calibration row of one tower, int8 against fp32. */
async function towerCosines(dir: string, m: ModelManifest, tower: TowerName, cal: Calibration): Promise<number[]> {
  const fp32 = await loadRunner(dir, m, tower, 'fp32', 'node');
  const int8 = await loadRunner(dir, m, tower, 'int8', 'node');
  const cosines: number[] = [];
  try {
    if (tower === 'image') {
      const plane = 3 * m.preprocess.size ** 2;
      for (let n = 0; n < cal.imageCount; n += IMAGE_BATCH) {
        const rows = Math.min(IMAGE_BATCH, cal.imageCount - n);
        const x = cal.images.subarray(n * plane, (n + rows) * plane);
        const dims = [rows, 3, m.preprocess.size, m.preprocess.size];
        const [a, b] = [await fp32.run(IMAGE_INPUT, x, dims), await int8.run(IMAGE_INPUT, x, dims)];
        cosines.push(...rowCosines(a, b, m.embedDim));
      }
    } else {
      const tokenizer = await loadTokenizer(dir, m);
      for (let n = 0; n < cal.texts.length; n += TEXT_BATCH) {
        const p = packIds(cal.texts.slice(n, n + TEXT_BATCH).map((t) => tokenizer.tokenize(t).ids));
        const [a, b] = [await fp32.run(TEXT_INPUT, p.data, p.dims), await int8.run(TEXT_INPUT, p.data, p.dims)];
        cosines.push(...rowCosines(a, b, m.embedDim));
      }
    }
  } finally {
    for (const s of [...fp32.sessions, ...int8.sessions]) await s.release();
  }
  return cosines;
}

/**
 * Measures every int8 tower that has an fp32 twin in the build and returns the drift per tower; throws (nothing is
 * written then) when a tower's worst row is below `minCos`.
 */
export async function measureInt8Drift(
  dir: string,
  m: ModelManifest,
  cal: Calibration,
  minCos: number,
  log: (line: string) => void,
): Promise<Partial<Record<TowerName, Int8Drift>>> {
  const drift: Partial<Record<TowerName, Int8Drift>> = {};
  for (const tower of ['image', 'text'] as const) {
    if (!m.towers[tower].int8) continue;
    if (!m.towers[tower].fp32) {
      log(`  ${tower} int8 drift not measured: the build has no fp32 ${tower} tower to compare with`);
      continue;
    }
    const cos = await towerCosines(dir, m, tower, cal);
    const d: Int8Drift = {
      rows: cos.length,
      minCos: Math.min(...cos),
      meanCos: cos.reduce((s, c) => s + c, 0) / cos.length,
      calibration: cal.source,
    };
    drift[tower] = d;
    log(
      `  ${tower} int8 vs fp32 on ${d.rows} calibration ${tower === 'image' ? 'images' : 'prompts'}: cosine min ${d.minCos.toFixed(5)}, mean ${d.meanCos.toFixed(5)}`,
    );
    if (d.minCos < minCos)
      throw new EdgeClipError(
        'BAD_CHECKPOINT',
        `the int8 ${tower} tower drifts from fp32: cosine ${d.minCos.toFixed(5)} on its worst calibration row is below --min-int8-cos ${minCos}; nothing was written (lower the threshold to accept it, or build fp32 only)`,
      );
  }
  return drift;
}
